"""The API's own description: its root, the OpenAPI document, and JSON 404s."""

from __future__ import annotations

import functools

from ..errors import NotFound
from ..openapi import Route, openapi_document
from .base import APIHandler, api


@functools.cache
def package_version() -> str:
    """The installed version, read once: importlib.metadata parses the distribution's metadata
    file on every call (a quarter of this handler's time before, by py-spy)."""
    from importlib.metadata import version

    return version("jupyter-podium")


class ApiRootHandler(APIHandler):
    @api("Where the API is and which version it speaks.", requires=None, database=False)
    async def get(self) -> None:
        self.write_json(
            {
                "name": "podium",
                "version": package_version(),
                "openapi": self.podium.base_url.rstrip("/") + "/api/v1/openapi.json",
            }
        )


class OpenAPIHandler(APIHandler):
    def initialize(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes

    @api("This document.", requires=None, database=False)
    async def get(self) -> None:
        self.write_json(openapi_document(self.podium.base_url, self.routes))


class NotFoundHandler(APIHandler):
    """Any path under the API that no route serves. Refused in the verb, after the request has
    been read, not in ``prepare``: the connection then stays open for the client's next request."""

    async def refuse(self, *_path: str) -> None:
        raise NotFound(f"No API endpoint at {self.request.path}")

    get = post = put = patch = delete = head = options = refuse
