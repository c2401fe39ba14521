"""Competitions through the API: creation in one request, precise errors, nothing partial left."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from conftest import competition_body, unique_slug, upload_dataset
from helpers import programs
from podium.server.clock import utcnow
from podium.server.errors import ObjectNotFound
from podium.server.orm import Artifact, Competition, Leaderboard, Page, Phase, Task


def errors_of(response) -> dict[str, str]:
    return {e["location"]: e["message"] for e in response.json()["error"]["errors"]}


def test_create_full_competition_and_read_it_back(api, creator) -> None:
    body = competition_body(unique_slug())
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    assert comp["slug"] == body["slug"] and comp["published"] is False
    assert comp["organizers"] == [creator.name]
    assert [p["key"] for p in comp["pages"]] == ["overview"]
    assert comp["phases"][0]["tasks"] == ["main"] and comp["phases"][0]["status"] == "current"
    assert comp["phases"][0]["max_submissions_per_day"] == 5
    assert [c["key"] for c in comp["leaderboards"][0]["columns"]] == ["accuracy", "runtime"]
    by_slug = api(creator, "GET", f"/competitions/{body['slug']}", expect=200).json()
    assert by_slug["id"] == comp["id"]


def test_unknown_fields_and_wrong_types_are_named(api, creator) -> None:
    body = competition_body(unique_slug(), colour="red")
    body["phases"][0]["max_submissions"] = "many"
    r = api(creator, "POST", "/competitions", json=body, expect=400)
    errors = errors_of(r)
    assert errors["colour"] == "unknown field"
    assert "phases[0].max_submissions" in errors
    assert r.json()["error"]["reason"] == "ValidationFailed"


def test_dates_out_of_order(api, creator) -> None:
    body = competition_body(unique_slug())
    body["phases"][0]["start"] = "2024-03-05T00:00:00Z"
    body["phases"][0]["end"] = "2024-03-01T00:00:00Z"
    r = api(creator, "POST", "/competitions", json=body, expect=400)
    assert errors_of(r)["phases[0]"] == (
        "end must be after start (2024-03-01T00:00:00Z <= 2024-03-05T00:00:00Z)"
    )


def test_phase_without_task_and_duplicate_column(api, creator) -> None:
    body = competition_body(unique_slug())
    body["phases"][0]["tasks"] = []
    body["leaderboards"][0]["columns"].append({"key": "accuracy"})
    errors = errors_of(api(creator, "POST", "/competitions", json=body, expect=400))
    assert "phases[0].tasks" in errors and "at least 1" in errors["phases[0].tasks"]
    assert errors["leaderboards[0]"] == "column key used twice: accuracy"


def test_unknown_task_reference(api, creator) -> None:
    body = competition_body(unique_slug())
    body["phases"][0]["tasks"] = ["nope"]
    errors = errors_of(api(creator, "POST", "/competitions", json=body, expect=400))
    assert errors["body"] == "phases[0].tasks: no task with key 'nope'"


def test_failed_create_leaves_nothing_behind(api, creator, dbsession) -> None:
    """The error comes after pages, tasks and leaderboards were added: all of it is rolled back."""
    models = (Competition, Page, Task, Leaderboard, Phase)

    def counts() -> list[int]:
        return [dbsession.scalar(sa.select(sa.func.count(m.id))) for m in models]

    before = counts()
    slug = unique_slug()
    body = competition_body(slug)
    body["tasks"][0]["scoring_program"] = 999999
    r = api(creator, "POST", "/competitions", json=body, expect=404)
    assert "tasks[main].scoring_program" in r.json()["error"]["message"]
    dbsession.rollback()
    assert counts() == before
    assert dbsession.scalar(sa.select(Competition).where(Competition.slug == slug)) is None


def test_slug_taken(api, creator) -> None:
    body = competition_body(unique_slug())
    api(creator, "POST", "/competitions", json=body, expect=201)
    r = api(creator, "POST", "/competitions", json=body, expect=409)
    assert "taken" in r.json()["error"]["message"]


def test_publish_needs_a_phase_with_a_task(api, creator) -> None:
    comp = api(creator, "POST", "/competitions", json={"slug": unique_slug(), "title": "Empty"}, expect=201).json()
    r = api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=400)
    assert r.json()["error"]["errors"] == [{"location": "phases", "message": "a published competition needs a phase"}]


def test_update_pages_phases_and_delete(api, creator, dbsession) -> None:
    comp = api(creator, "POST", "/competitions", json=competition_body(unique_slug()), expect=201).json()
    cid = comp["id"]
    api(creator, "PATCH", f"/competitions/{cid}", json={"title": "Renamed", "registration_mode": "approval"}, expect=200)
    assert api(creator, "GET", f"/competitions/{cid}", expect=200).json()["registration_mode"] == "approval"
    api(creator, "PATCH", f"/competitions/{cid}", json={"registration_mode": "groups"}, expect=400)

    api(creator, "POST", f"/competitions/{cid}/pages", json={"key": "data", "title": "Data", "content": "x"}, expect=201)
    api(creator, "POST", f"/competitions/{cid}/pages", json={"key": "data", "title": "Again"}, expect=409)
    api(creator, "PATCH", f"/competitions/{cid}/pages/data", json={"content": "new"}, expect=200)
    assert api(creator, "GET", f"/competitions/{cid}/pages/data", expect=200).json()["content"] == "new"
    api(creator, "DELETE", f"/competitions/{cid}/pages/data", expect=204)
    api(creator, "GET", f"/competitions/{cid}/pages/data", expect=404)

    start = utcnow() + timedelta(days=40)
    phase = api(
        creator, "POST", f"/competitions/{cid}/phases",
        json={"name": "Final", "start": start.isoformat() + "Z", "tasks": ["main"]}, expect=201,
    ).json()
    assert phase["status"] == "next" and phase["index"] == 1
    r = api(creator, "PATCH", f"/phases/{phase['id']}", json={"end": (start - timedelta(days=1)).isoformat() + "Z"}, expect=400)
    assert r.json()["error"]["errors"][0]["location"] == "end"
    r = api(creator, "PATCH", f"/phases/{phase['id']}", json={"start": "2000-01-01T00:00:00Z"}, expect=400)
    assert r.json()["error"]["errors"][0]["location"] == "phases[1].start"
    api(creator, "DELETE", f"/tasks/{comp['tasks'][0]['id']}", expect=409)

    api(creator, "DELETE", f"/competitions/{cid}", expect=204)
    api(creator, "GET", f"/competitions/{cid}", expect=404)
    assert dbsession.scalar(sa.select(sa.func.count(Phase.id)).where(Phase.competition_id == cid)) == 0


def test_invalid_json_and_unknown_endpoint(api, creator) -> None:
    r = api(creator, "POST", "/competitions", data="{not json", expect=400)
    assert "not valid JSON" in r.json()["error"]["message"]
    api(creator, "GET", "/nothing/here", expect=404)


def test_a_storage_refusal_is_answered_with_its_own_status_and_message(api, creator, service, dbsession) -> None:
    """Storage errors are PodiumErrors: the API renders them as every other error, unchanged."""
    scoring = upload_dataset(api, creator, "scoring_program", "s.zip", programs.V2_SCORING)
    body = competition_body(unique_slug("lost"))
    body["tasks"][0]["scoring_program"] = scoring
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    service.app.storage.delete(dbsession.get(Artifact, scoring).storage_key)  # the object is gone
    error = api(creator, "GET", f"/competitions/{comp['id']}/bundle", expect=404).json()["error"]
    assert error == {"status": 404, "reason": "ObjectNotFound", "message": ObjectNotFound.default_message}
