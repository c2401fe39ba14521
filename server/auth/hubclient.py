"""The service's client of JupyterHub's REST API: who owns a token, and the OAuth code exchange.

Why not ``jupyterhub.services.auth.HubAuth``: importing it loads the hub's ORM, Alembic and
aiohttp, about 26 MB in the service process (bench B7), for two HTTP calls. This module makes
those calls with tornado's ``AsyncHTTPClient`` and behaves as HubAuth did for Podium: the same
requests, the same answers kept ``cache_max_age`` seconds (revoked tokens included), the same
errors when the hub cannot answer, and the same scope rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse
from tornado.ioloop import IOLoop
from tornado.web import HTTPError

log = logging.getLogger("podium.hub")


def grants(required: str, scopes: Iterable[str]) -> bool:
    """Whether a hub model's (expanded) ``scopes`` grant ``required``.

    What ``jupyterhub.scopes.check_scopes`` decides for a service's access scope: the unfiltered
    scope (``access:services``) grants every filter of it, a filtered one
    (``access:services!service=podium``) grants only itself. Service filters have no hierarchy
    (unlike users, groups and servers), so this is the whole rule for them.
    """
    scopes = set(scopes)
    base, _, filter_ = required.partition("!")
    return base in scopes or (bool(filter_) and required in scopes)


def _cache_key(token: str) -> str:
    """Tokens are kept in memory only as their hashes."""
    return hashlib.sha256(token.encode("utf8", "replace")).hexdigest()


class HubClient:
    """Calls to the hub's REST API at ``api_url`` as this service (``api_token``).

    ``user_for_token`` keeps each answer ``cache_max_age`` seconds (0: ask every time), so a
    group change on the hub takes effect within that time; ``clock`` is the seam tests move.
    """

    def __init__(
        self,
        api_url: str,
        api_token: str,
        *,
        cache_max_age: float = 300,
        clock: Callable[[], float] = time.monotonic,
        max_connections: int = 64,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_token = api_token
        self.cache_max_age = cache_max_age
        self.clock = clock
        self.max_connections = max_connections
        self._cache: dict[str, tuple[float, dict | None]] = {}
        self._last_purge = clock()
        self._http: AsyncHTTPClient | None = None
        self._http_loop: IOLoop | None = None
        # the hub's internal SSL, when it hands the service a key and certificate
        self._ssl = {
            option: os.environ[env]
            for option, env in (
                ("client_key", "JUPYTERHUB_SSL_KEYFILE"),
                ("client_cert", "JUPYTERHUB_SSL_CERTFILE"),
                ("ca_certs", "JUPYTERHUB_SSL_CLIENT_CA"),
            )
            if os.environ.get(env)
        }

    # --- who owns a token --------------------------------------------------------------------

    def cached_user(self, token: str) -> tuple[bool, dict | None]:
        """``(True, model)`` when the hub's answer for ``token`` is still fresh in the cache
        (the model may be None: a refused token is remembered too), else ``(False, None)``."""
        if self.cache_max_age > 0:
            cached = self._cache.get(_cache_key(token))
            if cached is not None and cached[0] + self.cache_max_age >= self.clock():
                return True, cached[1]
        return False, None

    async def user_for_token(self, token: str) -> dict | None:
        """The hub's model of the token's owner (with its ``scopes``), None when the hub refuses
        the token (expired, revoked, unknown)."""
        fresh, model = self.cached_user(token)
        if fresh:
            return model
        key = _cache_key(token)
        model = await self._request("GET", "/user", token=token, allow_403=True)
        if model is None:
            log.warning("No hub user identified for a token")
        if self.cache_max_age > 0:
            self._purge()
            self._cache[key] = (self.clock(), model)
        return model

    def _purge(self) -> None:
        """Drop expired answers at most once per ``cache_max_age``, so the cache holds only the
        tokens seen lately."""
        now = self.clock()
        if now - self._last_purge < self.cache_max_age:
            return
        self._last_purge = now
        for key in [k for k, (stored, _) in self._cache.items() if stored + self.cache_max_age < now]:
            del self._cache[key]

    # --- groups ------------------------------------------------------------------------------

    async def group_members(self, name: str) -> list[str]:
        """The user names in hub group ``name`` (a class roster); [] when the group does not
        exist. Needs the service's ``read:groups`` scope."""
        model = await self._request("GET", f"/groups/{quote(name, safe='')}", allow_404=True)
        return sorted((model or {}).get("users", []))

    # --- OAuth -------------------------------------------------------------------------------

    async def token_for_code(
        self, code: str, *, client_id: str, redirect_uri: str, code_verifier: str | None = None
    ) -> str:
        """The last step of a browser's OAuth login: the code the hub sent the browser back with,
        traded for that user's token (the service's own token is the client secret)."""
        params = {
            "client_id": client_id,
            "client_secret": self.api_token,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if code_verifier:
            params["code_verifier"] = code_verifier
        reply = await self._request(
            "POST",
            "/oauth2/token",
            body=urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return reply["access_token"]

    # --- the HTTP call -----------------------------------------------------------------------

    def _client(self) -> AsyncHTTPClient:
        """One client per IOLoop (tests run services on loops of their own), with more
        connections than tornado's default 10, as aiohttp allowed HubAuth."""
        loop = IOLoop.current()
        if self._http is None or self._http_loop is not loop:
            self._http = AsyncHTTPClient(force_instance=True, max_clients=self.max_connections)
            self._http_loop = loop
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def _request(
        self, method: str, path: str, *, token: str | None = None, allow_403: bool = False,
        allow_404: bool = False, **kwargs: Any
    ) -> Any:
        """One API call; the errors are HubAuth's, so callers and users see the same messages."""
        headers = {"Authorization": f"token {token or self.api_token}", **kwargs.pop("headers", {})}
        request = HTTPRequest(self.api_url + path, method=method, headers=headers, **self._ssl, **kwargs)
        try:
            response: HTTPResponse = await self._client().fetch(request, raise_error=False)
        except Exception as e:  # refused, unreachable, timed out: no HTTP answer at all
            log.error("Error connecting to %s: %s", self.api_url, e)
            message = (
                f"Failed to connect to Hub API at {self.api_url!r}.  Is the Hub accessible at "
                f"this URL (from host: {socket.gethostname()})?"
            )
            if "127.0.0.1" in self.api_url:
                message += (
                    "  Make sure to set c.JupyterHub.hub_ip to an IP accessible to single-user "
                    "servers if the servers are not on the same host as the Hub."
                )
            raise HTTPError(500, message) from None
        text = response.body.decode("utf8", "replace") if response.body else ""
        if (response.code == 403 and allow_403) or (response.code == 404 and allow_404):
            return None
        if response.code == 403:
            log.error("No permission to check authorization with the hub (token expired?): %s", text)
            raise HTTPError(500, "Permission failure checking authorization, I may need a new token")
        if response.code >= 500:
            log.error("Upstream failure verifying auth token: [%i] %s", response.code, text)
            raise HTTPError(502, "Failed to check authorization (upstream problem)")
        if response.code >= 400:
            log.warning("Failed to check authorization: [%i] %s", response.code, text)
            message = "Failed to check authorization"
            try:
                answer = json.loads(text)
                message += ": " + answer.get("error_description", answer.get("error", "Unknown error"))
            except Exception:
                pass
            raise HTTPError(500, message)
        return json.loads(text)
