"""Configuration (every option documented, environment knobs) and the OpenAPI document."""

from __future__ import annotations

import requests
from podium.server.app import PodiumService
from podium.server.openapi import requirement_sentence, template_to_openapi
from podium.server.routes import API_MODULES, api_routes
from tornado.web import RequestHandler


def test_every_option_has_help() -> None:
    options = PodiumService.class_traits(config=True)
    assert {"db_url", "storage_root", "broker_url", "public_url", "secret_key", "creator_group"} <= set(options)
    undocumented = [name for name, trait in options.items() if len((trait.help or "").strip()) < 20]
    assert undocumented == []


def test_environment_knobs(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PODIUM_DB_URL", "postgresql+psycopg2://u@db/podium")
    monkeypatch.setenv("PODIUM_STORAGE_ROOT", str(tmp_path / "objects"))
    monkeypatch.setenv("PODIUM_BROKER_URL", "amqp://guest:guest@mq:5672//")
    monkeypatch.setenv("PODIUM_PUBLIC_URL", "https://hub.example.org/services/podium/")
    monkeypatch.setenv("PODIUM_SECRET_KEY", "s3cret")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://10.0.0.5:9999")
    monkeypatch.setenv("PODIUM_DB_PREPARE_THRESHOLD", "0")
    app = PodiumService()
    assert app.db_url == "postgresql+psycopg2://u@db/podium"
    assert app.storage_root == str(tmp_path / "objects")
    assert app.broker_url == "amqp://guest:guest@mq:5672//"
    assert app.public_url == "https://hub.example.org/services/podium/"
    assert app.secret_key == "s3cret"
    assert (app.ip, app.port) == ("10.0.0.5", 9999)
    assert app.db_prepare_threshold == 0
    monkeypatch.delenv("PODIUM_DB_PREPARE_THRESHOLD")
    assert PodiumService().db_prepare_threshold == 5


def test_config_file_and_command_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "podium_config.py").write_text("c.PodiumService.creator_group = 'staff'\nc.PodiumService.port = 1234\n")
    app = PodiumService()
    app.parse_command_line(["--port=4321"])
    app.load_config_file("podium_config.py")
    app.parse_command_line(["--port=4321"])
    assert app.creator_group == "staff" and app.port == 4321


def test_secret_key_is_generated_once(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PODIUM_SECRET_KEY", raising=False)
    first = PodiumService(data_dir=str(tmp_path)).secret_key
    assert len(first) == 64 and PodiumService(data_dir=str(tmp_path)).secret_key == first


def test_openapi_describes_every_route_and_verb(service) -> None:
    r = requests.get(service.api_url + "/openapi.json", timeout=10)
    assert r.status_code == 200
    doc = r.json()
    from openapi_spec_validator import validate

    validate(doc)
    assert doc["servers"] == [{"url": "/services/podium/api/v1"}]
    assert len(API_MODULES) >= 9
    base_verbs = {v: getattr(RequestHandler, v) for v in ("get", "post", "put", "patch", "delete")}
    for template, handler in api_routes():
        operations = doc["paths"][template_to_openapi(template)]
        implemented = {v for v, base in base_verbs.items() if getattr(handler, v) is not base}
        assert set(operations) == implemented, template
        for operation in operations.values():
            assert operation["summary"]
    create = doc["paths"]["/phases/{phase}/submissions"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SubmissionIn"}
    schema = doc["components"]["schemas"]["SubmissionIn"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"size", "sha256"}
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    board = doc["paths"]["/phases/{phase}/leaderboard"]["get"]
    assert {p["name"] for p in board["parameters"]} == {"phase", "limit", "offset", "format"}


def test_openapi_schema_matches_what_the_handler_refuses(api, creator) -> None:
    """A body the document forbids (extra field) is refused by the handler with the same rule."""
    r = api(creator, "POST", "/competitions", json={"slug": "ok-slug-1", "title": "T", "extra": 1}, expect=400)
    assert r.json()["error"]["errors"] == [{"location": "extra", "message": "unknown field"}]


def test_openapi_shows_what_each_verb_requires(service) -> None:
    """Each operation carries its verb's declared requirement, as an extension and a sentence."""
    doc = requests.get(service.api_url + "/openapi.json", timeout=10).json()
    for template, handler in api_routes():
        for verb, operation in doc["paths"][template_to_openapi(template)].items():
            op = getattr(handler, verb).operation
            assert operation["x-podium-requires"] == op.requires, template
            assert operation.get("x-podium-requires-on") == op.resource, template
            assert operation["description"] == requirement_sentence(op.requires, op.resource)
    patch = doc["paths"]["/phases/{phase}"]["patch"]
    assert patch["x-podium-requires"] == "manage" and patch["x-podium-requires-on"] == "phase"
    assert patch["description"].startswith("Requires `manage` on the phase: an organizer")
    claim = doc["paths"]["/worker/attempts/{attempt}/claim"]["post"]
    assert claim["x-podium-requires"] == "queue token" and claim["security"] == [{"queueToken": []}]
    assert doc["paths"]["/me"]["get"]["security"] == [{"hubToken": []}]


def test_openapi_describes_the_worker_endpoints_from_the_job_protocol(service) -> None:
    """The worker messages' schemas come from ``podium.worker.protocol``'s TypedDicts."""
    doc = requests.get(service.api_url + "/openapi.json", timeout=10).json()
    claim = doc["paths"]["/worker/attempts/{attempt}/claim"]["post"]
    assert claim["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ClaimRequest"}
    assert {"409", "426"} <= set(claim["responses"])
    schemas = doc["components"]["schemas"]
    assert set(schemas["ClaimRequest"]["properties"]) == {"worker", "hostname", "protocol", "version"}
    status = doc["paths"]["/worker/status"]["post"]
    assert status["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WorkerStatus"}
    assert schemas["WorkerStatus"]["required"] == ["worker"]
    assert schemas["WorkerStatus"]["properties"]["cannot_work"]["anyOf"][0]["maxLength"] == 1000
    assert schemas["ClaimRequest"]["required"] == ["worker"]
    assert set(schemas["FinishRequest"]["required"]) == {"worker", "state"}
    assert schemas["FinishRequest"]["properties"]["reason"]["anyOf"][0]["maxLength"] == 20000
