"""Who is calling: JupyterHub tokens resolved through the hub, reduced to an ``Identity``.

JupyterHub is the only identity provider. A notebook calls the API with its own
``JUPYTERHUB_API_TOKEN`` (which carries ``access:services!service=podium`` when the hub is
configured by ``podium.hub``); the service asks the hub who owns the token, checks that the token
grants access to this service, and keeps the answer for ``cache_max_age`` seconds so that a group
change on the hub takes effect quickly without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from jupyterhub.services.auth import HubAuth

from .errors import NotAuthenticated, PermissionDenied


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
    """Resolves tokens with the hub's REST API (``jupyterhub.services.auth.HubAuth``)."""

    def __init__(self, hub_auth: HubAuth) -> None:
        self.hub_auth = hub_auth

    async def identify(self, token: str) -> Identity:
        # HubAuth's cache treats max age 0 as "forever"; Podium's 0 means "ask every time"
        use_cache = self.hub_auth.cache_max_age > 0
        model = await self.hub_auth.user_for_token(token, use_cache=use_cache, sync=False)
        if not model:
            raise NotAuthenticated("This token is not valid on the hub (expired or revoked).")
        if model.get("kind", "user") != "user":
            raise PermissionDenied("Only hub users may call this API with their own token.")
        if not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            raise PermissionDenied(
                "This token does not grant access to the Podium service: it needs the scope "
                f"{' or '.join(sorted(self.hub_auth.access_scopes))}."
            )
        return Identity(
            name=model["name"],
            admin=bool(model.get("admin")),
            groups=frozenset(model.get("groups") or ()),
        )
