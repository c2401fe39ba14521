"""Phase life: status from dates, auto-migration at a phase's start, and fact sheets."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from conftest import competition_body, submit, unique_slug, upload_dataset, wait_for
from helpers import programs
from podium.server.clock import utcnow

FACTS = {
    "method": {"type": "text", "title": "Method", "is_required": True, "is_on_leaderboard": True},
    "extra_data": {"type": "checkbox", "title": "Used extra data"},
    "team": {"type": "select", "title": "Team size", "selection": ["solo", "team"], "is_on_leaderboard": True},
}


def announce(data: bytes, **extra) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}


def test_fact_sheets_are_checked_stored_and_shown(api, creator, users, worker) -> None:
    scoring = upload_dataset(api, creator, "scoring_program", "s.zip", programs.V2_SCORING)
    reference = upload_dataset(api, creator, "reference_data", "r.zip", programs.REFERENCE)
    body = competition_body(unique_slug("facts"), fact_sheet=FACTS, docker_image="python:3")
    body["tasks"][0].update(scoring_program=scoring, reference_data=reference)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    user = users.make("facts")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    phase = comp["phases"][0]["id"]
    data = programs.result_submission("a\nb\nc\nd\n")
    r = api(user, "POST", f"/phases/{phase}/submissions",
            json=announce(data, fact_sheet={"team": "crowd", "extra_data": "yes", "colour": "red"}), expect=400)
    assert {e["location"]: e["message"] for e in r.json()["error"]["errors"]} == {
        "fact_sheet.colour": "no such question",
        "fact_sheet.method": "is required (Method)",
        "fact_sheet.extra_data": "must be true or false, not 'yes'",
        "fact_sheet.team": "must be one of solo, team, not 'crowd'",
    }
    created = api(user, "POST", f"/phases/{phase}/submissions",
                  json=announce(data, fact_sheet={"method": "lookup table", "team": "solo", "extra_data": False}),
                  expect=201).json()
    assert created["fact_sheet"] == {"method": "lookup table", "team": "solo", "extra_data": False}
    api.upload(created["upload_url"], data)
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    assert wait_for(api, user, created["id"])["status"] == "finished"
    board = api(user, "GET", f"/phases/{phase}/leaderboard", expect=200).json()
    assert board["fact_columns"] == [{"key": "method", "title": "Method"}, {"key": "team", "title": "Team size"}]
    assert board["entries"][0]["facts"] == {"method": "lookup table", "team": "solo"}
    bad = competition_body(unique_slug("badfacts"), fact_sheet={"q": {"type": "select", "title": "Q"}})
    r = api(creator, "POST", "/competitions", json=bad, expect=400)
    assert "a select question needs a non-empty selection list" in r.json()["error"]["message"]


def test_auto_migration_reruns_the_leaderboard_on_the_new_tasks(api, creator, users, worker, service, clock) -> None:
    tasks = [
        {"key": "dev", "name": "Development task",
         "scoring_program": upload_dataset(api, creator, "scoring_program", "s1.zip", programs.V2_SCORING),
         "reference_data": upload_dataset(api, creator, "reference_data", "r1.zip", programs.REFERENCE)},
        {"key": "final", "name": "Final task",
         "scoring_program": upload_dataset(api, creator, "scoring_program", "s2.zip", programs.F1_SCORING)},
    ]
    start = utcnow().replace(microsecond=0) - timedelta(days=1)
    final_start = start + timedelta(days=2)
    boards = [{"key": "dev", "title": "Dev", "columns": [{"key": "accuracy"}, {"key": "runtime", "sorting": "asc"}]},
              {"key": "final", "title": "Final", "columns": [{"key": "f1"}]}]
    phases = [
        {"name": "Development", "start": start.isoformat() + "Z", "end": final_start.isoformat() + "Z",
         "tasks": ["dev"], "leaderboard": "dev", "max_submissions_per_day": 0},
        {"name": "Final", "start": final_start.isoformat() + "Z", "tasks": ["final"], "leaderboard": "final",
         "auto_migrate": True},
    ]
    body = competition_body(unique_slug("migrate"), tasks=tasks, leaderboards=boards, phases=phases,
                            docker_image="python:3")
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    dev, final = comp["phases"]
    assert (dev["status"], final["status"], final["auto_migrate"]) == ("current", "next", True)
    people = [users.make(n) for n in ("mig-a", "mig-b")]
    for person, predictions in zip(people, ("a\nb\nc\nd\n", "a\nx\nx\nx\n"), strict=True):
        api(person, "POST", f"/competitions/{comp['id']}/register", expect=200)
        assert wait_for(api, person, submit(api, person, dev["id"], programs.result_submission(predictions)))["status"] == "finished"
    clock.set(final_start + timedelta(minutes=1))
    assert [p["status"] for p in api(creator, "GET", f"/competitions/{comp['id']}/phases", expect=200).json()["phases"]] == [
        "previous", "current"]
    service.app.reap()  # the timer's job, run now: the final phase has started
    service.app.reap()  # a second pass migrates nothing more
    clock.reset()
    migrated = api(creator, "GET", f"/phases/{final['id']}/submissions", params={"all": "true"}, expect=200).json()
    assert migrated["total"] == 2
    for sub in migrated["submissions"]:
        done = wait_for(api, creator, sub["id"])
        assert done["status"] == "finished", done["failure_reason"]
        assert done["scores"] == {"f1": 0.5} and done["migrated_from"] and not done["counts_toward_quota"]
    board = api(creator, "GET", f"/phases/{final['id']}/leaderboard", expect=200).json()
    assert sorted(e["owner"] for e in board["entries"]) == sorted(p.name for p in people)
