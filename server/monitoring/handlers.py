"""``<base_url>metrics`` (Prometheus text, hub admins or the metrics token) and ``<base_url>health``
(no login, for JupyterHub's and Kubernetes' probes), beside the API rather than in it."""

from __future__ import annotations

import asyncio
import hmac
import json

from prometheus_client.exposition import choose_encoder
from tornado.web import RequestHandler

from ..apihandlers.base import SECURITY_HEADERS, APIHandler
from ..auth.identity import token_from_header
from ..errors import NotAuthenticated, PermissionDenied


class MetricsHandler(APIHandler):
    """The service's metrics; errors answer in the API's JSON shape."""

    async def authorize(self) -> None:
        """The configured metrics token (for a Prometheus server), or a hub admin's token."""
        token = token_from_header(self.request.headers.get("Authorization"))
        if token is None:
            raise NotAuthenticated(
                "Send the metrics token or a hub admin's token in an 'Authorization: Bearer <token>' header."
            )
        expected = self.podium.metrics_token
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return
        identity = await self.podium.authenticator.identify(token)
        if not identity.admin:
            raise PermissionDenied("Only hub admins and the metrics token may read the metrics.")

    async def get(self) -> None:
        await self.authorize()
        registry = self.podium.metrics.registry
        # the format the scraper asks for (Prometheus text 0.0.4 unless it asks for OpenMetrics)
        encode, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        # the database's metrics are queries: off the event loop
        body = await asyncio.get_running_loop().run_in_executor(None, encode, registry)
        self.set_header("Content-Type", content_type)
        self.finish(body)


class HealthHandler(RequestHandler):
    """200 when the database, the broker and the storage all answer, else 503; each part's state."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    async def get(self) -> None:
        states = await self.settings["podium"].health.run()
        healthy = all(state.ok for state in states.values())
        self.set_status(200 if healthy else 503)
        self.finish(json.dumps({
            "status": "ok" if healthy else "unavailable",
            "checks": {name: state.to_json() for name, state in states.items()},
        }))

    async def head(self) -> None:
        states = await self.settings["podium"].health.run()
        self.set_status(200 if all(state.ok for state in states.values()) else 503)
        self.finish()


default_handlers = [
    ("/metrics", MetricsHandler),
    ("/health", HealthHandler),
]
