"""The API's own description: its root, the OpenAPI document, and JSON 404s."""

from __future__ import annotations

from ..errors import NotFound
from ..openapi import openapi_document
from .base import APIHandler, api


class ApiRootHandler(APIHandler):
    @api("Where the API is and which version it speaks.", auth=False)
    async def get(self) -> None:
        from importlib.metadata import version

        self.write_json(
            {
                "name": "podium",
                "version": version("jupyter-podium"),
                "openapi": self.podium.base_url.rstrip("/") + "/api/v1/openapi.json",
            }
        )


class OpenAPIHandler(APIHandler):
    @api("This document.", auth=False)
    async def get(self) -> None:
        self.write_json(openapi_document(self.podium.base_url))


class NotFoundHandler(APIHandler):
    async def prepare(self) -> None:
        raise NotFound(f"No API endpoint at {self.request.path}")
