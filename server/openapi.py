"""The OpenAPI 3 document, built from the route table and each verb's ``@api`` declaration.

The route table is passed in (``routes.api_routes()``), so this module imports no handler and
``routes`` → ``apihandlers.meta`` → ``openapi`` stays one-way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .auth.permissions import REQUIREMENTS

_PARAM = re.compile(r"\{(\w+)(?::([^}]+))?\}")
VERBS = ("get", "post", "put", "patch", "delete")
Route = tuple[str, type]


def template_to_openapi(template: str) -> str:
    """``/x/{name:a|b}`` → ``/x/{name}``: the OpenAPI path of a route template."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", template)

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "reason": {"type": "string", "description": "The error's class, e.g. QuotaExceeded."},
                "message": {"type": "string", "description": "A sentence for the person."},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
            "required": ["status", "reason", "message"],
        }
    },
}


def _schema_ref(model: type, components: dict[str, Any]) -> dict[str, str]:
    """A body's schema into ``components``: a pydantic model's, or a job protocol ``TypedDict``'s."""
    template = "#/components/schemas/{model}"
    if hasattr(model, "model_json_schema"):
        schema = model.model_json_schema(ref_template=template)
    else:
        from pydantic import TypeAdapter

        schema = TypeAdapter(model).json_schema(ref_template=template)
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def requirement_sentence(requires: str | None, resource: str | None) -> str:
    """What a verb requires, as a sentence of its description: ``manage`` on ``phase`` →
    "Requires `manage` on the phase: an organizer of the competition or a hub admin."."""
    if requires is None:
        return "Public: no token needed."
    where = f" on the {resource.replace('_', ' ')}" if resource else ""
    return f"Requires `{requires}`{where}: {REQUIREMENTS[requires]}."


def _query_parameters(model: type) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "title"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


@lru_cache(maxsize=4)
def openapi_document(base_url: str, routes: tuple[Route, ...]) -> dict[str, Any]:
    """The document for ``routes``, (template, handler) pairs as ``routes.api_routes()`` gives."""
    from importlib.metadata import version

    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for template, handler in routes:
        path_params = [
            {"name": m.group(1), "in": "path", "required": True,
             "schema": {"type": "string", **({"pattern": f"^({m.group(2)})$"} if m.group(2) else {})}}
            for m in _PARAM.finditer(template)
        ]
        item: dict[str, Any] = {}
        for verb in VERBS:
            method = getattr(handler, verb, None)
            op = getattr(method, "operation", None)
            if op is None:
                continue
            parameters = list(path_params)
            if op.query is not None:
                parameters += _query_parameters(op.query)
            parameters += [
                {"name": name, "in": "header", "required": False, "description": text,
                 "schema": {"type": "string", "maxLength": 128}}
                for name, text in op.headers.items()
            ]
            success: dict[str, Any] = {"description": "Success"}
            if op.status != 204:
                success["content"] = {ct: {} for ct in op.produces}
            responses: dict[str, Any] = {str(op.status): success}
            for code, text in op.responses.items():
                responses[str(code)] = {"description": text, "content": {"application/json": {}}}
            error = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            responses["default"] = error
            operation: dict[str, Any] = {
                "operationId": f"{verb}_{handler.__name__}",
                "summary": op.summary,
                "description": requirement_sentence(op.requires, op.resource),
                "x-podium-requires": op.requires,
                "parameters": parameters,
                "responses": responses,
            }
            if op.resource is not None:
                operation["x-podium-requires-on"] = op.resource
            if op.auth:
                operation["security"] = [{"hubToken": []}]
            elif op.requires == "queue token":
                operation["security"] = [{"queueToken": []}]
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _schema_ref(op.body, components)}},
                }
            item[verb] = operation
        paths[template_to_openapi(template)] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Podium API",
            "version": version("jupyter-podium"),
            "description": "Competitions inside JupyterHub. Authenticate with a JupyterHub token "
            "carrying access:services!service=podium, in an 'Authorization: token <token>' header.",
        },
        "servers": [{"url": base_url.rstrip("/") + "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                             "description": "'token <JupyterHub API token>'"},
                "queueToken": {"type": "http", "scheme": "bearer",
                               "description": "A compute queue's worker token, as an admin created or rotated it"},
            },
        },
    }
