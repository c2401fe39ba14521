"""The course settings over the API: what is refused and why, extensions, a reveal by date, and
the roster of a grade export taken from the hub group (no worker: nothing is scored here)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest


@pytest.fixture
def course(api, users, make_competition):
    """A class (a hub group of two) whose phase has a private board; returns (comp, phase, students)."""
    group = f"class-{uuid.uuid4().hex[:6]}"
    students = [users.make("pupil", groups=(group,)) for _ in range(2)]
    comp = make_competition(registration_mode="groups", participant_groups=[group])
    return comp, comp["phases"][0], students


def error(api, user, method, path, expect, **kwargs) -> dict:
    return api(user, method, path, expect=expect, **kwargs).json()["error"]


def test_course_settings_are_checked_with_the_reason(api, creator, course) -> None:
    comp, phase, (pupil, _) = course
    p = f"/phases/{phase['id']}"
    bad = error(api, creator, "PATCH", p, 400, json={"private_scores": {"accuracy": "accuracy"}})
    assert "is a public column of the leaderboard" in bad["message"]
    bad = error(api, creator, "PATCH", p, 400, json={"private_scores": {"hidden_acc": "f1"}})
    assert "'f1' is not a scored column" in bad["message"]
    bad = error(api, creator, "PATCH", p, 400, json={"grade_mapping": {"kind": "curve"}})
    assert "kind: 'curve' is not linear, thresholds or rank" in bad["message"]
    error(api, creator, "PATCH", p, 400, json={"late_penalty_value": 1.5})
    error(api, creator, "POST", f"{p}/reveal", 409)  # no private board yet
    error(api, pupil, "PUT", f"{p}/selection", 409, json={"submissions": []})  # no final selection
    changed = api(creator, "PATCH", p, expect=200, json={
        "private_scores": {"accuracy_private": "accuracy"}, "max_selected": 2, "grace_seconds": 600,
        "late_penalty_kind": "per_day", "late_penalty_value": 0.25}).json()
    assert (changed["private_board"], changed["revealed"], changed["max_selected"], changed["late_penalty_kind"]) == (
        True, False, 2, "per_day")
    assert changed["private_scores"] == {"accuracy_private": "accuracy"}
    seen = api(pupil, "GET", p, expect=200).json()
    assert "private_scores" not in seen and "grade_mapping" not in seen
    missing = error(api, pupil, "PUT", f"{p}/selection", 404, json={"submissions": [2**31 - 1]})
    assert "of yours" in missing["message"]


def test_extensions_are_the_instructors_and_end_after_the_deadline(api, creator, course) -> None:
    comp, phase, (pupil, other) = course
    p = f"/phases/{phase['id']}"
    end = datetime.fromisoformat(phase["end"].rstrip("Z"))
    error(api, pupil, "POST", f"{p}/extensions", 403, json={"username": pupil.name, "end": phase["end"]})
    early = error(api, creator, "POST", f"{p}/extensions", 400,
                  json={"username": pupil.name, "end": (end - timedelta(hours=1)).isoformat() + "Z"})
    assert "must end after the phase's deadline" in early["message"]
    later = (end + timedelta(days=1)).isoformat() + "Z"
    api(creator, "POST", f"{p}/extensions", expect=200, json={"username": pupil.name, "end": later, "reason": "flu"})
    listed = api(creator, "GET", f"{p}/extensions", expect=200).json()["extensions"]
    assert [(e["subject"], e["subject_kind"], e["end"], e["reason"]) for e in listed] == [
        (pupil.name, "user", later, "flu")]
    assert api(pupil, "GET", p, expect=200).json()["my_deadline"]["end"] == later
    assert api(other, "GET", p, expect=200).json()["my_deadline"]["end"] == phase["end"]
    api(creator, "DELETE", f"{p}/extensions/{pupil.name}", expect=204)
    error(api, creator, "DELETE", f"{p}/extensions/{pupil.name}", 404)
    assert api(pupil, "GET", p, expect=200).json()["my_deadline"]["extended"] is False


def test_a_reveal_date_opens_the_private_board_by_itself(api, creator, course, clock) -> None:
    comp, phase, (pupil, _) = course
    p = f"/phases/{phase['id']}"
    end = datetime.fromisoformat(phase["end"].rstrip("Z"))
    api(creator, "PATCH", p, expect=200, json={"private_scores": {"accuracy_private": "accuracy"},
                                                "reveal_at": (end + timedelta(days=1)).isoformat() + "Z"})
    refused = error(api, pupil, "GET", f"{p}/private-leaderboard", 403)
    assert "is revealed at" in refused["message"]
    assert api(creator, "GET", f"{p}/private-leaderboard", expect=200).json()["revealed"] is False
    clock.set(end + timedelta(days=1))
    board = api(pupil, "GET", f"{p}/private-leaderboard", expect=200).json()
    assert (board["revealed"], board["entries"]) == (True, [])


def test_the_grade_roster_is_the_hub_group(api, creator, course, users) -> None:
    comp, phase, students = course
    outsider = users.make("outsider")
    grades = api(creator, "GET", f"/phases/{phase['id']}/grades", expect=200).json()
    assert [r["username"] for r in grades["grades"]] == sorted(s.name for s in students)
    assert all(r["grade"] == 0.0 and r["submission"] is None for r in grades["grades"])
    error(api, students[0], "GET", f"/phases/{phase['id']}/grades", 403)
    assert outsider.name not in api(creator, "GET", f"/phases/{phase['id']}/grades?format=csv", expect=200).text
