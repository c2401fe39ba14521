"""The URL table: every API module's ``default_handlers`` under ``<base_url>api/v1``.

Routes are written as templates (``/phases/{phase}``, ``/x/{name:a|b}``); the same template
becomes the Tornado pattern and the OpenAPI path, so the two cannot drift apart.
"""

from __future__ import annotations

import re

from . import web
from .apihandlers import (
    bundles,
    classroom,
    code_reveal,
    competition_pages,
    competitions,
    datasets,
    leaderboards,
    me,
    part_uploads,
    participants,
    phases,
    submission_logs,
    submissions,
    tasks,
    teams,
    workers,
)
from .apihandlers.meta import ApiRootHandler, NotFoundHandler, OpenAPIHandler
from .lti import api as lti_api
from .lti import handlers as lti_handlers
from .monitoring import handlers as monitoring_handlers
from .storage import local_handlers as storage_handlers

API_PREFIX = "api/v1"
API_MODULES = (
    competitions, competition_pages, tasks, phases, leaderboards, datasets, participants, submissions, submission_logs, code_reveal, me,
    teams, workers, bundles, part_uploads, classroom, lti_api,
)
_PARAM = re.compile(r"\{(\w+)(?::([^}]+))?\}")


def template_to_pattern(template: str) -> str:
    """``/phases/{phase}`` → ``/phases/(?P<phase>[^/]+)``."""
    return _PARAM.sub(lambda m: f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})", template)


def api_routes() -> list[tuple[str, type]]:
    """(template, handler) for every API route, in declaration order."""
    return [route for module in API_MODULES for route in module.default_handlers]


def build_handlers(base_url: str) -> list[tuple]:
    api_base = base_url.rstrip("/") + "/" + API_PREFIX
    handlers: list[tuple] = [
        (api_base + "/?", ApiRootHandler),
        (api_base + "/openapi.json", OpenAPIHandler, {"routes": tuple(api_routes())}),
    ]
    handlers += [(api_base + template_to_pattern(t), h) for t, h in api_routes()]
    handlers += [(base_url.rstrip("/") + p, h) for p, h in storage_handlers.default_handlers]
    handlers += [(base_url.rstrip("/") + p, h) for p, h in lti_handlers.default_handlers]
    handlers.append((api_base + "/.*", NotFoundHandler))
    handlers += [(base_url.rstrip("/") + p, h) for p, h in monitoring_handlers.default_handlers]
    # the HTML pages (the hub's OAuth login), after the API so that no page pattern shadows it
    handlers += [(base_url.rstrip("/") + template_to_pattern(t), *rest) for t, *rest in web.default_handlers]
    return handlers
