"""Browser logins through the hub's OAuth, as ``jupyterhub.services.auth.HubOAuth`` does them,
without importing it (bench B7; see ``podium.server.hubclient``).

A page without a login sends the browser to the hub's ``oauth2/authorize`` with a fresh
``state`` and a PKCE challenge. The state, the page to come back to and the PKCE verifier go in
a signed state cookie (``<client id>-oauth-state``, ten minutes) rather than in this process's
memory, so any replica of the service can finish a login another one started. The callback
accepts the code only with the state of one of the browser's state cookies, trades it for the
user's token at the hub's ``oauth2/token``, and keeps the token in the login cookie: a tornado
signed cookie named after the OAuth client (``service-<name>``), HttpOnly, on the service's path.

Settings come from the variables the hub gives its services, as HubOAuth read them:
``JUPYTERHUB_CLIENT_ID``, ``JUPYTERHUB_OAUTH_CALLBACK_URL``, ``JUPYTERHUB_BASE_URL``,
``JUPYTERHUB_HOST``, ``JUPYTERHUB_PUBLIC_URL``, ``JUPYTERHUB_COOKIE_OPTIONS`` and
``JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tornado.httputil import url_concat
from tornado.web import HTTPError, RequestHandler

if TYPE_CHECKING:
    from ..app import PodiumService
    from ..auth.hubclient import HubClient

log = logging.getLogger("podium.hub")

STATE_MAX_AGE = 600  # seconds a login may take between the redirect to the hub and the callback


def _is_https(handler: RequestHandler) -> bool:
    # the server runs with xheaders=True, so the proxy's X-Forwarded-Proto is the protocol here
    return handler.request.protocol == "https"


class HubLogin:
    """The OAuth client the hub registered for this service, and its cookies."""

    def __init__(
        self,
        hub: HubClient,
        *,
        client_id: str,
        redirect_uri: str,
        base_url: str,
        hub_prefix: str = "/hub/",
        hub_host: str = "",
        cookie_options: dict[str, Any] | None = None,
        host_prefix: bool = False,
    ) -> None:
        self.hub = hub
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.base_url = base_url
        self.hub_prefix = hub_prefix
        self.authorize_url = url_concat(
            hub_host + hub_prefix + "api/oauth2/authorize",
            {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code"},
        )
        self.cookie_options = cookie_options or {}
        # JupyterHub's cookie_host_prefix_enabled: "__Host-" cookies, which must be on "/"
        self.host_prefix = host_prefix
        self.cookie_name = ("__Host-" if host_prefix else "") + client_id
        self.state_cookie_name = self.cookie_name + "-oauth-state"
        self.cookie_path = "/" if host_prefix else base_url

    @classmethod
    def from_app(cls, app: PodiumService, hub: HubClient) -> HubLogin:
        """Built from the service's settings and the hub's variables, so that a service started
        by hand or in a test thread logs users in exactly like one the hub started."""
        env = os.environ.get
        hub_base = (env("JUPYTERHUB_BASE_URL") or "/").rstrip("/")
        return cls(
            hub,
            client_id=env("JUPYTERHUB_CLIENT_ID") or f"service-{app.service_name}",
            redirect_uri=env("JUPYTERHUB_OAUTH_CALLBACK_URL") or app.base_url.rstrip("/") + "/oauth_callback",
            base_url=app.base_url,
            hub_prefix=hub_base + "/hub/",
            hub_host=env("JUPYTERHUB_HOST", ""),
            cookie_options=json.loads(env("JUPYTERHUB_COOKIE_OPTIONS") or "{}"),
            host_prefix=env("JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED", "").lower() not in ("", "0", "false"),
        )

    # --- the login cookie --------------------------------------------------------------------

    def token(self, handler: RequestHandler) -> str | None:
        """The hub token of the browser's login cookie, if it is one this service signed."""
        value = handler.get_signed_cookie(self.cookie_name)
        return value.decode("ascii", "replace") if value else None

    def clear(self, handler: RequestHandler) -> None:
        """Forget the login (expired or revoked on the hub, or logging out)."""
        self._clear_cookie(handler, self.cookie_name)

    def _set_login(self, handler: RequestHandler, token: str) -> None:
        options: dict[str, Any] = {"path": self.cookie_path, "httponly": True}
        if _is_https(handler) or self.host_prefix:
            options["secure"] = True
        options.update(self.cookie_options)
        handler.set_signed_cookie(self.cookie_name, token, **options)

    def _clear_cookie(self, handler: RequestHandler, name: str) -> None:
        if name.startswith("__Host-"):  # browsers ignore a __Host- Set-Cookie without these
            handler.clear_cookie(name, path="/", secure=True)
        else:
            handler.clear_cookie(name, path=self.cookie_path)

    # --- starting a login --------------------------------------------------------------------

    def login_url(self, handler: RequestHandler) -> str:
        """Where to send a browser to log in; it comes back to the page it asked for."""
        verifier = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        state = secrets.token_urlsafe(16)
        name = self.state_cookie_name
        if handler.get_cookie(name):  # another login is under way in this browser: keep both
            log.warning("Detected unused OAuth state cookies")
            name += "-" + secrets.token_hex(4)
        pending = json.dumps({"state": state, "next": handler.request.uri, "verifier": verifier})
        options: dict[str, Any] = {  # the site's cookie options, except those a state cookie fixes
            key: option for key, option in self.cookie_options.items()
            if key.lower() not in ("path", "httponly", "max_age", "secure", "expires", "expires_days")
        }
        public_url = os.environ.get("JUPYTERHUB_PUBLIC_URL")
        if (urlsplit(public_url).scheme == "https") if public_url else _is_https(handler):
            options["secure"] = True
        handler.set_signed_cookie(
            name, pending, path=self.cookie_path, httponly=True, max_age=STATE_MAX_AGE, **options
        )
        return url_concat(
            self.authorize_url,
            {"code_challenge": challenge.decode(), "code_challenge_method": "S256", "state": state},
        )

    # --- finishing it ------------------------------------------------------------------------

    async def finish(self, handler: RequestHandler) -> str:
        """The OAuth callback: check the state, trade the code, set the login cookie; returns the
        page the login started from. Errors are HubOAuthCallbackHandler's."""
        error = handler.get_argument("error", None)
        if error:
            raise HTTPError(400, "Error in oauth: %s", handler.get_argument("error_description", error))
        code = handler.get_argument("code", None)
        if not code:
            raise HTTPError(400, "OAuth callback made without a token")
        state = handler.get_argument("state", None)
        if state is None:
            raise HTTPError(400, "OAuth state is missing. Try logging in again.")
        pending = self._pending(handler, state)
        if pending is None:
            token = self.token(handler)
            if token and await self.hub.user_for_token(token):
                log.warning("Attempting oauth completion after already logging in.")
                self._clear_state_cookies(handler)
                return self.base_url
            log.warning("OAuth state %r matches none of the browser's state cookies", state)
            raise HTTPError(403, "oauth state does not match. Try logging in again.")
        self._clear_state_cookies(handler)  # one login finishes them all, as with HubOAuth
        token = await self.hub.token_for_code(
            code, client_id=self.client_id, redirect_uri=self.redirect_uri, code_verifier=pending.get("verifier")
        )
        user = await self.hub.user_for_token(token)
        if user is None:
            raise HTTPError(500, "oauth callback failed to identify a user")
        log.info("Logged-in user %s", user["name"])
        self._set_login(handler, token)
        return pending.get("next") or self.base_url

    def _pending(self, handler: RequestHandler, state: str) -> dict | None:
        """The state cookie this callback's ``state`` belongs to, if the browser still has it."""
        for name in self._state_cookies(handler):
            raw = handler.get_signed_cookie(name, max_age_days=STATE_MAX_AGE / 86400)
            try:
                pending = json.loads(raw) if raw else None
            except ValueError:
                continue
            if isinstance(pending, dict) and hmac.compare_digest(
                str(pending.get("state")).encode(), state.encode("utf8", "replace")
            ):
                return pending
        return None

    def _state_cookies(self, handler: RequestHandler) -> list[str]:
        return [name for name in handler.request.cookies if name.startswith(self.state_cookie_name)]

    def _clear_state_cookies(self, handler: RequestHandler) -> None:
        for name in self._state_cookies(handler):
            self._clear_cookie(handler, name)
