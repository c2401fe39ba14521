"""Every API verb declares what it requires, and the declaration can be checked on its path.

The permission matrix (``tests/service/test_permissions.py``) is built from these declarations,
so a verb without one would be a verb nobody checks.
"""

from __future__ import annotations

import re

import pytest
from podium.server import web
from podium.server.apihandlers.base import APIHandler, api, lookup_name
from podium.server.auth.permissions import ON_THE_PATH, REQUIREMENTS
from podium.server.openapi import requirement_sentence
from podium.server.routes import api_routes
from tornado.web import RequestHandler

VERBS = ("get", "post", "put", "patch", "delete")


def implemented_verbs(handler: type) -> list[str]:
    return [v for v in VERBS if getattr(handler, v) is not getattr(RequestHandler, v)]


def declared_routes() -> list[tuple[str, type]]:
    """The API's routes and the web pages that run an API verb."""
    pages = [(t, h) for t, h, *_ in web.default_handlers if issubclass(h, APIHandler)]
    return api_routes() + pages


@pytest.mark.parametrize(("template", "handler"), declared_routes(), ids=[f"{t} {h.__name__}" for t, h in declared_routes()])
def test_every_authenticated_verb_declares_a_requirement(template: str, handler: type) -> None:
    params = set(re.findall(r"\{(\w+)", template))
    verbs = implemented_verbs(handler)
    assert verbs, template
    for verb in verbs:
        op = getattr(getattr(handler, verb), "operation", None)
        assert op is not None, f"{verb.upper()} {template} is not declared with @api"
        # nothing in the route table is public: the API's root and its document are mounted apart
        assert op.requires in REQUIREMENTS, f"{verb.upper()} {template} declares {op.requires!r}"
        if op.requires in ON_THE_PATH:
            assert op.resource in params, f"{verb.upper()} {template} checks {op.resource!r}, not in its path"
            lookup = lookup_name(op.requires, op.resource)
            assert callable(getattr(handler, lookup, None)), f"{handler.__name__} has no {lookup}"
        else:
            assert op.resource is None


def test_a_verb_cannot_leave_out_or_misspell_its_requirement() -> None:
    with pytest.raises(TypeError):
        api("Forgot to say.")
    with pytest.raises(ValueError, match="Unknown requirement 'organizer'"):
        api("Misspelled.", requires="organizer")


def test_a_requirement_on_the_path_needs_an_object_in_the_path() -> None:
    async def post(self, username: str) -> None: ...

    with pytest.raises(ValueError, match="requires 'manage' but its path names none of"):
        api("No competition here.", requires="manage")(post)

    async def put(self, bundle: str) -> None: ...

    with pytest.raises(ValueError, match="requires 'view'"):
        api("A bundle is owned, not viewed.", requires="view")(put)
    assert api("Owned.", requires="own")(put).operation.resource == "bundle"


def test_the_document_says_what_a_verb_requires() -> None:
    assert requirement_sentence("manage", "phase") == (
        "Requires `manage` on the phase: an organizer of the competition or a hub admin."
    )
    assert requirement_sentence("admin", None) == "Requires `admin`: a hub admin."
    assert requirement_sentence(None, None) == "Public: no token needed."
