"""A class's course loop, against the real hub (a hub group is the roster), the service, and a
Docker worker scoring real submissions; the service's clock is moved, never slept on.

One course: students alice, bob and carol submit, dan never does. The scoring program writes a
public score (``accuracy``, the first four answers) and a private one (``private_accuracy``, the
next four) and prints the private one in its log. The phase's deadline has a one-hour grace
period with a fixed 20 % penalty; carol has an extension.
"""

from __future__ import annotations

import csv
import io
import textwrap
import uuid
from datetime import timedelta

import pytest
from conftest import competition_body, unique_slug, upload_dataset, wait_for
from helpers import programs
from helpers.web_session import WebSession
from podium.server.clock import utcnow

PRIVATE_MARK = "PRIVATE-SCORE-LOGGED"
SPLIT_SCORING = programs.make_zip({
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent(f"""
        import json
        truth = open("/app/input/ref/truth.txt").read().split()
        pred = open("/app/input/res/predictions.txt").read().split()
        public = sum(t == p for t, p in zip(truth[:4], pred[:4])) / 4
        private = sum(t == p for t, p in zip(truth[4:8], pred[4:8])) / 4
        print("{PRIVATE_MARK}", private)
        json.dump({{"accuracy": public, "private_accuracy": private}}, open("/app/output/scores.json", "w"))
    """),
})
REFERENCE = programs.make_zip({"truth.txt": "a\nb\nc\nd\ne\nf\ng\nh\n"})


def predictions(public_right: int, private_right: int) -> bytes:
    """A submission getting ``public_right`` of the public four and ``private_right`` of the private four."""
    public = ["a", "b", "c", "d"][:public_right] + ["x"] * (4 - public_right)
    private = ["e", "f", "g", "h"][:private_right] + ["x"] * (4 - private_right)
    return programs.result_submission("\n".join(public + private) + "\n")


def submit(api, user, phase_id: int, data: bytes, expect: int = 201):
    import hashlib

    created = api(user, "POST", f"/phases/{phase_id}/submissions",
                  json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, expect=expect).json()
    if expect != 201:
        return created
    api.upload(created["upload_url"], data)
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    return created


@pytest.fixture
def course(api, creator, users, hub):
    """A published class competition for a hub group of four students; returns its parts."""
    group = f"class-{uuid.uuid4().hex[:6]}"
    students = {name: users.make(name, groups=(group,)) for name in ("alice", "bob", "carol", "dan")}
    start = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    deadline = start + timedelta(days=2)
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, creator, "scoring_program", "s.zip", SPLIT_SCORING),
            "reference_data": upload_dataset(api, creator, "reference_data", "r.zip", REFERENCE)}
    body = competition_body(unique_slug("class"), tasks=[task], docker_image="python:3",
                            registration_mode="groups", participant_groups=[group])
    body["leaderboards"][0]["columns"] = [{"key": "accuracy", "title": "Accuracy", "sorting": "desc"}]
    body["phases"][0].update(
        end=deadline.isoformat() + "Z", max_submissions_per_day=0, max_submissions=0,
        grace_seconds=3600, late_penalty_kind="fixed", late_penalty_value=0.2, max_selected=1,
        private_scores={"private_accuracy": "accuracy"},
        grade_mapping={"kind": "linear", "low": 0, "high": 1, "min_grade": 0, "max_grade": 100},
    )
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    return {"competition": comp, "phase": comp["phases"][0]["id"], "deadline": deadline, "students": students,
            "group": group}


def finished(api, user, created) -> dict:
    """The submission once scored; a failure says why, with the scorer's log (the organizer's view)."""
    sub = wait_for(api, user, created["id"])
    if sub["status"] != "finished":
        from conftest import User

        organizer = User(name="", token=api.organizer_token)
        files = api(organizer, "GET", f"/submissions/{sub['id']}/outputs", expect=200).json()["files"]
        logs = [api.http.get(f["download_url"]).text for f in files if f["role"] == "scoring_log"]
        raise AssertionError(f"{sub['failure_reason']}: {logs}")
    assert sub["status"] == "finished", f"{sub['failure_reason']}: {sub['log_tail'][-1500:]}"
    return sub


def walk_participant_answers(api, user, phase: int, competition: int, submissions: list[int]) -> str:
    """Every answer a participant can get about the phase, as one text."""
    texts = [api(user, "GET", path, expect=200).text for path in (
        "/me", f"/phases/{phase}", f"/competitions/{competition}", f"/competitions/{competition}/phases",
        f"/phases/{phase}/leaderboard", f"/phases/{phase}/leaderboard?format=csv", f"/phases/{phase}/submissions",
        "/me/submissions", f"/phases/{phase}/selection", f"/phases/{phase}/reveal")]
    for sid in submissions:
        texts += [api(user, "GET", f"/submissions/{sid}{tail}", expect=200).text
                  for tail in ("", "/children", "/log", "/outputs")]
    return "\n".join(texts)


def widget_of(service, user, slug: str):
    from podium.widgets import Competition, PodiumClient

    return Competition(slug, client=PodiumClient(service.url, user.token))


def test_the_course_loop(api, creator, users, hub, worker, clock, course, service, tmp_path) -> None:
    phase, deadline, s = course["phase"], course["deadline"], course["students"]
    comp = course["competition"]
    api.organizer_token = creator.token
    alice, bob, carol, dan = s["alice"], s["bob"], s["carol"], s["dan"]
    clock.set(utcnow())

    # every one sees their own deadline; carol's extension moves hers
    api(creator, "POST", f"/phases/{phase}/extensions", expect=200,
        json={"username": carol.name, "end": (deadline + timedelta(days=2)).isoformat() + "Z", "reason": "ill"})
    api(alice, "POST", f"/phases/{phase}/extensions", expect=403,
        json={"username": alice.name, "end": (deadline + timedelta(days=9)).isoformat() + "Z"})
    mine = {u.name: api(u, "GET", f"/phases/{phase}", expect=200).json()["my_deadline"] for u in (alice, carol)}
    assert mine[alice.name] == {"end": deadline.isoformat() + "Z",
                                "grace_until": (deadline + timedelta(hours=1)).isoformat() + "Z", "extended": False}
    assert mine[carol.name]["end"] == (deadline + timedelta(days=2)).isoformat() + "Z" and mine[carol.name]["extended"]
    me = api(carol, "GET", "/me", expect=200).json()
    assert next(c for c in me["competitions"] if c["id"] == comp["id"])["phases"][0]["deadline"] == mine[carol.name]

    # on time: alice twice (her best public is her worst private), bob once
    a1 = finished(api, alice, submit(api, alice, phase, predictions(4, 1)))      # public 1.0, private 0.25
    a2 = finished(api, alice, submit(api, alice, phase, predictions(3, 4)))      # public 0.75, private 1.0
    b2 = finished(api, bob, submit(api, bob, phase, predictions(1, 4)))          # public 0.25, private 1.0
    assert a1["late_seconds"] is None and a1["late_penalty"] is None
    # before the deadline bob sees the fallback: his best public submission
    assert api(bob, "GET", f"/phases/{phase}/selection", expect=200).json() == {
        "phase": phase, "team": None, "max_selected": 1, "locks_at": (deadline + timedelta(hours=1)).isoformat() + "Z",
        "locked": False, "chosen": False, "submissions": [b2["id"]], "fallback": True}
    bobs = widget_of(service, bob, comp["slug"])
    assert f"fallback: your best public submissions): #{b2['id']}; open until" in bobs.final_html.value
    assert "(your extension)" in widget_of(service, carol, comp["slug"]).phase_html.value
    # alice selects her best public one; a second selection is over the limit of one
    api(alice, "POST", f"/submissions/{a1['id']}/select", json={"selected": True}, expect=200)
    over = api(alice, "POST", f"/submissions/{a2['id']}/select", json={"selected": True}, expect=409).json()
    assert over["error"]["reason"] == "SelectionLimit"

    # inside the grace period: accepted, marked late, the penalty recorded (the score untouched)
    clock.set(deadline + timedelta(minutes=30))
    b1 = finished(api, bob, submit(api, bob, phase, predictions(2, 3)))          # public 0.5, private 0.75
    assert b1["late_seconds"] == 1800 and b1["late_penalty"] == pytest.approx(0.2)
    assert b1["scores"] == {"accuracy": 0.5}
    # the selection stays open until the grace period ends, then locks
    clock.set(deadline + timedelta(hours=1))
    locked = api(alice, "PUT", f"/phases/{phase}/selection", json={"submissions": [a2["id"]]}, expect=409).json()
    assert locked["error"]["reason"] == "SelectionLocked"
    # past the deadline and grace: refused, with the reason and the participant's own dates
    refused = submit(api, bob, phase, predictions(4, 4), expect=422)["error"]
    assert refused["reason"] == "DeadlinePassed" and "no longer accepted" in refused["message"]
    assert refused["deadline"] == deadline.isoformat() + "Z"
    # carol's extension lets her submit a day after the deadline, on time for her
    clock.set(deadline + timedelta(days=1))
    c1 = finished(api, carol, submit(api, carol, phase, predictions(3, 2)))      # public 0.75, private 0.5
    assert c1["late_seconds"] is None
    # her selection is still open: she chooses on the web page's form
    carols = WebSession(hub, carol.name)
    carols.login()
    page = carols.get(f"phases/{phase}/selection").text
    assert "fallback" in page and "(extended)" in page
    carols.post(f"submissions/{c1['id']}/select", {"selected": "true", "next": f"phases/{phase}/selection"})
    assert api(carol, "GET", f"/phases/{phase}/selection", expect=200).json()["chosen"] is True

    # before the reveal, nothing a participant can read holds a private score or the scorer's log
    for user, subs in ((alice, [a1["id"], a2["id"]]), (bob, [b1["id"], b2["id"]]), (carol, [c1["id"]])):
        seen = walk_participant_answers(api, user, phase, comp["id"], subs)
        assert "private_accuracy" not in seen and PRIVATE_MARK not in seen
        api(user, "GET", f"/phases/{phase}/private-leaderboard", expect=403)
        for sid in subs:
            roles = {f["role"] for f in api(user, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}
            assert not roles & {"scoring_log", "scoring_output", "detailed_results"}, roles
    web = WebSession(hub, bob.name)
    web.login()
    for path in (f"competitions/{comp['slug']}", f"phases/{phase}/leaderboard", f"phases/{phase}/leaderboard.csv",
                 f"submissions/{b1['id']}", "me/submissions", f"phases/{phase}/selection"):
        page = web.get(path).text
        assert "private_accuracy" not in page and PRIVATE_MARK not in page
    web.get(f"phases/{phase}/private-leaderboard", expect=403)
    # the organizer sees the private scores all along
    assert api(creator, "GET", f"/submissions/{b1['id']}", expect=200).json()["scores"] == {
        "accuracy": 0.5, "private_accuracy": 0.75}

    # the reveal: the private board ranks each final selection (alice's choice, the others' fallback)
    api(alice, "POST", f"/phases/{phase}/reveal", expect=403)
    assert api(creator, "POST", f"/phases/{phase}/reveal", expect=200).json()["revealed"] is True
    board = api(bob, "GET", f"/phases/{phase}/private-leaderboard", expect=200).json()
    # public: alice 1.0 (1), carol 0.75 (2), bob 0.5 (3); private: bob 0.75, carol 0.5, alice 0.25
    assert [(e["owner"], e["rank"], e["public_rank"], e["shake_up"], e["submission"]) for e in board["entries"]] == [
        (bob.name, 1, 3, 2, b1["id"]), (carol.name, 2, 2, 0, c1["id"]), (alice.name, 3, 1, -2, a1["id"])]
    assert api(bob, "GET", f"/submissions/{b1['id']}", expect=200).json()["scores"] == {
        "accuracy": 0.5, "private_accuracy": 0.75}
    assert "+2" in web.get(f"phases/{phase}/private-leaderboard").text
    bobs.refresh()
    assert "rank 1 (public 3, shake-up ▲ +2)" in bobs.final_html.value

    # grades: every roster member, dan too; bob's late penalty comes off his grade, not his score
    grades = api(creator, "GET", f"/phases/{phase}/grades", expect=200).json()
    rows = {r["username"]: r for r in grades["grades"]}
    assert set(rows) == {alice.name, bob.name, carol.name, dan.name}
    assert (rows[bob.name]["score"], rows[bob.name]["raw_grade"], rows[bob.name]["late_penalty"],
            rows[bob.name]["grade"]) == (0.75, 75.0, pytest.approx(0.2), 60.0)
    assert (rows[alice.name]["grade"], rows[carol.name]["grade"]) == (25.0, 50.0)
    assert rows[dan.name] == {"username": dan.name, "score": None, "grade": 0.0, "rank": None, "late_penalty": None,
                              "raw_grade": 0.0, "submission": None, "team": None}
    canvas = list(csv.reader(io.StringIO(api(creator, "GET", f"/phases/{phase}/grades?format=csv&layout=canvas",
                                             expect=200).text)))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "100"
    assert {r[3]: r[5] for r in canvas[2:]} == {alice.name: "25", bob.name: "60", carol.name: "50", dan.name: "0"}
    moodle = list(csv.reader(io.StringIO(api(creator, "GET", f"/phases/{phase}/grades?format=csv&layout=moodle",
                                             expect=200).text)))
    assert moodle[0][0] == "Username" and moodle[0][2] == "Feedback"
    assert {r[0]: r[1] for r in moodle[1:]} == {alice.name: "25", bob.name: "60", carol.name: "50", dan.name: "0"}
    api(bob, "GET", f"/phases/{phase}/grades", expect=403)
    # the organizer panel's course tabs and its DataFrame say the same
    from podium.widgets import OrganizerPanel, PodiumClient

    panel = OrganizerPanel(comp["slug"], client=PodiumClient(service.url, creator.token), export_dir=tmp_path)
    titles = [panel.tabs.get_title(i) for i in range(len(panel.tabs.children))]
    assert titles[titles.index("Class"):][:6] == ["Class", "Late policy", "Reveal", "Grades", "Teams", "Compute"]
    assert "revealed to participants" in panel.private_html.value and carol.name in panel.deadlines_html.value
    frame = panel.grades()
    assert list(frame.index) == sorted([alice.name, bob.name, carol.name, dan.name])
    assert frame.loc[bob.name, "grade"] == 60.0 and frame.loc[bob.name, "late_penalty"] == pytest.approx(0.2)
    assert panel.export_grades("moodle").read_bytes().decode() == api(
        creator, "GET", f"/phases/{phase}/grades?format=csv&layout=moodle", expect=200).text
