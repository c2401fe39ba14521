"""The REST API reference as MyST Markdown, rendered from the service's own OpenAPI document.

The document is built the way the service builds ``/api/v1/openapi.json`` (from the route table
and each verb's ``@api`` declaration), so a new endpoint or field appears here without a hand edit.
"""

from __future__ import annotations

import json
from typing import Any

from .markdown import table

BASE_URL = "/services/podium/"
VERBS = ("get", "post", "put", "patch", "delete")


def document() -> dict[str, Any]:
    """The OpenAPI document of the service mounted at its default prefix."""
    from podium.server.openapi import openapi_document
    from podium.server.routes import api_routes

    return openapi_document(BASE_URL, tuple(api_routes()))


def _group(path: str) -> str:
    return path.strip("/").split("/")[0] or "root"


def _type_of(schema: dict[str, Any]) -> str:
    """A short human name for a JSON schema: ``string``, ``integer | null``, ``list of Column``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_of(s) for s in schema[key])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind == "array":
        return "list of " + _type_of(schema.get("items", {}))
    if kind == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return "map of " + _type_of(schema["additionalProperties"])
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _limits(schema: dict[str, Any]) -> str:
    words = []
    for key, label in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                       ("exclusiveMaximum", "<"), ("minLength", "length ≥"), ("maxLength", "length ≤"),
                       ("pattern", "matches")):
        if key in schema:
            value = f"`{schema[key]}`" if key == "pattern" else schema[key]
            words.append(f"{label} {value}")
    return ", ".join(words)


def _default(schema: dict[str, Any]) -> str:
    return f"`{json.dumps(schema['default'])}`" if "default" in schema else ""


def _parameters(operation: dict[str, Any]) -> list[str]:
    rows = []
    for p in operation.get("parameters", []):
        schema = p.get("schema", {})
        rows.append([f"`{p['name']}`", p["in"], "yes" if p.get("required") else "no", _type_of(schema),
                     _default(schema), " ".join(filter(None, [p.get("description", ""), _limits(schema)]))])
    if not rows:
        return []
    return ["Parameters:", "", *table(["name", "in", "required", "type", "default", "meaning"], rows), ""]


def _operation(path: str, verb: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"#### `{verb.upper()} {path}`", "", operation.get("summary", ""), ""]
    if operation.get("description"):
        lines += [operation["description"], ""]
    if not operation.get("security"):
        lines += ["No token needed.", ""]
    lines += _parameters(operation)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        lines += [f"Body (JSON): {_type_of(body)}", ""]
    answers = []
    for status, response in operation.get("responses", {}).items():
        if status == "default":
            answers.append("otherwise an [Error](#schema-error)")
            continue
        content = ", ".join(f"`{ct}`" for ct in response.get("content", {}))
        meaning = response.get("description", "")
        words = [f"`{status}`", content, "" if meaning == "Success" else f"— {meaning}"]
        answers.append(" ".join(w for w in words if w))
    lines += ["Answers:", "", *(f"- {a}" for a in answers), ""]
    return lines


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"({'schema-' + name.lower()})=", f"### {name}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    required = set(schema.get("required", []))
    rows = [[f"`{field}`", _type_of(prop), "yes" if field in required else "no", _default(prop),
             " ".join(filter(None, [prop.get("description", ""), _limits(prop)]))]
            for field, prop in schema.get("properties", {}).items()]
    if rows:
        lines += table(["field", "type", "required", "default", "meaning"], rows)
    elif "enum" in schema or "type" in schema:
        lines += [f"Type: {_type_of(schema)}"]
    return [*lines, ""]


def render() -> str:
    """The reference: one section per resource with every verb, then every body schema."""
    doc = document()
    server = doc["servers"][0]["url"]
    lines = ["## Endpoints", "", f"Every path below is relative to `{server}` (the service's default prefix).", ""]
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path, item in doc["paths"].items():
        groups.setdefault(_group(path), []).append((path, item))
    for group, items in groups.items():
        lines += [f"### `/{group}`", ""]
        for path, item in items:
            for verb in VERBS:
                if verb in item:
                    lines += _operation(path, verb, item[verb])
    lines += ["## Schemas", "", "The request bodies the verbs above take, and the error answer.", ""]
    for name, schema in sorted(doc["components"]["schemas"].items()):
        lines += _schema(name, schema)
    return "\n".join(lines)
