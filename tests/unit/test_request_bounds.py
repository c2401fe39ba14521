"""Every number, id and null a request may carry is bounded by what the database holds."""

from __future__ import annotations

import json

import pytest
from podium.server import orm, request_bodies
from podium.server.apihandlers.input_limits import MAX_JSON_DEPTH, decode_json, depth, path_id
from podium.server.errors import JsonTooDeep, ValidationFailed
from pydantic import BaseModel

BODIES = [m for m in vars(request_bodies).values()
          if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == request_bodies.__name__]
UPDATES = {
    request_bodies.CompetitionUpdate: orm.Competition,
    request_bodies.PhaseUpdate: orm.Phase,
    request_bodies.TaskUpdate: orm.Task,
    request_bodies.PageUpdate: orm.Page,
}


def integers(schema: dict, where: str = ""):
    """(location, schema) of every integer in a JSON schema, following $refs and unions."""
    defs = schema.get("$defs", {})

    def walk(node: dict, at: str):
        if "$ref" in node:
            yield from walk(defs[node["$ref"].rsplit("/", 1)[1]], at)
        if node.get("type") == "integer":
            yield at, node
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for sub in node.get(key, []):
                yield from walk(sub, at)
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], at + "[]")
        for name, sub in node.get("properties", {}).items():
            yield from walk(sub, f"{at}.{name}")

    yield from walk(schema, where)


@pytest.mark.parametrize("model", BODIES, ids=lambda m: m.__name__)
def test_every_integer_field_has_bounds_a_database_column_holds(model) -> None:
    found = [(at, node) for at, node in integers(model.model_json_schema())
             # the fact sheet's free-form answers are JSON, not a column
             if not at.startswith((".fact_sheet", ".selection"))]
    for at, node in found:
        assert "maximum" in node and node["maximum"] <= 2**63 - 1, f"{model.__name__}{at} has no upper bound"
        assert "minimum" in node and node["minimum"] >= -(2**63), f"{model.__name__}{at} has no lower bound"


@pytest.mark.parametrize("update", UPDATES, ids=lambda m: m.__name__)
def test_a_patch_takes_null_exactly_where_the_column_is_nullable(update) -> None:
    table = UPDATES[update].__table__
    for name in update.model_fields:
        column = table.c.get(name) if name in table.c else table.c.get(f"{name}_id")
        nullable = column is not None and column.nullable
        assert (name in update.nullable) == nullable, f"{update.__name__}.{name}"


def test_null_for_a_not_null_field_names_the_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        request_bodies.parse(request_bodies.PhaseUpdate, {"name": None, "description": None, "end": None})
    assert [e["location"] for e in refused.value.extra["errors"]] == ["description", "name"]
    assert request_bodies.parse(request_bodies.PhaseUpdate, {"end": None}).end is None


@pytest.mark.parametrize("ref", ["²", "١٢", "12a", "-1", "+1", " 1", "1 ", "", "0x1", "99999999999", "2147483648"])
def test_a_path_id_is_ascii_digits_within_the_primary_keys(ref) -> None:
    assert path_id(ref) is None


def test_a_path_id_that_can_name_a_row() -> None:
    assert path_id("1") == 1 and path_id("2147483647") == 2**31 - 1


def test_deep_json_is_refused_without_recursion() -> None:
    for nested in ("[" * 100_000 + "]" * 100_000, '{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)):
        with pytest.raises(JsonTooDeep):
            decode_json(nested.encode())
    fine = json.dumps({"a": [[{"b": [1]}]]}).encode()
    assert decode_json(fine) == {"a": [[{"b": [1]}]]} and depth(json.loads(fine)) == 5


def test_undecodable_bodies_are_validation_failures() -> None:
    for body in (b"\xff\xfe", b"{", b"1" * 5000):
        with pytest.raises(ValidationFailed):
            decode_json(body)


def test_a_worker_report_carries_an_exit_code_the_column_holds() -> None:
    from podium.worker import protocol

    report = {"worker": "w", "state": "failed", "exit_code": 2**40}
    with pytest.raises(ValidationFailed) as refused:
        request_bodies.parse(protocol.FinishRequest, report)
    assert refused.value.extra["errors"][0]["location"] == "exit_code"
    assert request_bodies.parse(protocol.FinishRequest, {**report, "exit_code": -9})["exit_code"] == -9
