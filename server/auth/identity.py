"""Who is calling: JupyterHub tokens resolved through the hub, reduced to an ``Identity``.

JupyterHub is the only identity provider. A notebook calls the API with its own
``JUPYTERHUB_API_TOKEN`` (which carries ``access:services!service=podium`` when the hub is
configured by ``podium.hub``); the service asks the hub who owns the token, checks that the token
grants access to this service, and keeps the answer for ``cache_max_age`` seconds so that a group
change on the hub takes effect quickly without a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..errors import NotAuthenticated, PermissionDenied
from .hubclient import grants

if TYPE_CHECKING:
    from .hubclient import HubClient


@dataclass(frozen=True)
class Identity:
    """A hub user as Podium sees them."""

    name: str
    admin: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)


class TokenAuthenticator(Protocol):
    async def identify(self, token: str) -> Identity:
        """The identity owning ``token``; raises NotAuthenticated or PermissionDenied."""


def token_from_header(header: str | None) -> str | None:
    """The token of an ``Authorization: token X`` or ``Bearer X`` header."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return None


class HubTokenAuthenticator:
    """Resolves tokens with the hub's REST API (``hubclient.HubClient``, which caches answers).

    The token's model must hold one of ``access_scopes`` (``access:services!service=<name>`` or
    the unfiltered ``access:services``).

    Concurrent requests carrying the same token share one lookup: when a cached answer
    expires under load, the hub is asked once, not once per request in flight (a notebook
    polling the leaderboard with 50 connections made 50 hub calls every ``cache_max_age``
    seconds, the p99 tail of bench B2).
    """

    def __init__(self, hub: HubClient, access_scopes: set[str]) -> None:
        self.hub = hub
        self.access_scopes = frozenset(access_scopes)
        self._in_flight: dict[str, asyncio.Future] = {}

    async def identify(self, token: str) -> Identity:
        fresh, model = self.hub.cached_user(token)
        if fresh:  # the common case: no task, no future
            return self._identity(model)
        lookup = self._in_flight.get(token)
        if lookup is None:
            lookup = asyncio.ensure_future(self.hub.user_for_token(token))
            self._in_flight[token] = lookup
            lookup.add_done_callback(lambda _done: self._in_flight.pop(token, None))
        model = await asyncio.shield(lookup)  # one caller going away does not cancel the others'
        return self._identity(model)

    def _identity(self, model: dict | None) -> Identity:
        if not model:
            raise NotAuthenticated("This token is not valid on the hub (expired or revoked).")
        if model.get("kind", "user") != "user":
            raise PermissionDenied("Only hub users may call this API with their own token.")
        if not any(grants(scope, model.get("scopes") or ()) for scope in self.access_scopes):
            raise PermissionDenied(
                "This token does not grant access to the Podium service: it needs the scope "
                f"{' or '.join(sorted(self.access_scopes))}."
            )
        return Identity(
            name=model["name"],
            admin=bool(model.get("admin")),
            groups=frozenset(model.get("groups") or ()),
        )
