"""Teams in the course loop, on the real hub with the clock moved by the service's seam: a team's
extension is every member's deadline, the team selects its final submissions as one (any member,
the team's limit and window), the private board ranks the team as one row, and the grade export
gives each member the team's score, rank, late penalty and grade."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from tests.service.test_teams import class_of, finish, submit


def phase_end(api, user, phase_id: int) -> datetime:
    return datetime.fromisoformat(api(user, "GET", f"/phases/{phase_id}", expect=200).json()["end"].rstrip("Z"))


def z(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def course_with_a_team(api, users, creator, make_competition, team: str, names: tuple[str, ...], **settings):
    """A class of ``names`` whose first two are team ``team``, its phase PATCHed with ``settings``:
    (phase path, phase id, the people by name in order)."""
    comp, phase_id, people = class_of(api, users, make_competition, *names)
    members = [people[n].name for n in names[:2]]
    api(creator, "POST", f"/competitions/{comp['id']}/teams", json={"name": team, "members": members}, expect=201)
    api(creator, "PATCH", f"/phases/{phase_id}", expect=200, json=settings)
    return comp, f"/phases/{phase_id}", phase_id, [people[n] for n in names]


def test_a_team_extension_lets_every_member_submit_and_select_after_the_deadline(
        api, users, creator, make_competition, service, clock) -> None:
    comp, p, phase_id, (ea, eb, alone) = course_with_a_team(api, users, creator, make_competition, "Late",
                                                            ("ea", "eb", "alone"), max_selected=1)
    end = phase_end(api, creator, phase_id)
    before = submit(api, ea, phase_id).json()
    finish(service, before["id"], accuracy=0.5, runtime=1)
    clock.set(end + timedelta(hours=2))
    # past the phase's end nobody submits or selects, team or not
    for user in (eb, alone):
        assert submit(api, user, phase_id, expect=422).json()["error"]["message"].startswith("Phase ")
    locked = api(eb, "POST", f"/submissions/{before['id']}/select", json={"selected": True}, expect=409).json()
    assert "Team Late's final selection" in locked["error"]["message"]
    # an extension for a team that does not exist is refused by name; the team's is granted
    missing = api(creator, "POST", f"{p}/extensions", expect=404, json={"team": "Nobody", "end": z(end + timedelta(days=1))})
    assert "No team 'Nobody'" in missing.json()["error"]["message"]
    api(creator, "POST", f"{p}/extensions", expect=400, json={"username": ea.name, "team": "Late", "end": z(end)})
    granted = api(creator, "POST", f"{p}/extensions", expect=200,
                  json={"team": "Late", "end": z(end + timedelta(days=1)), "reason": "server outage"}).json()
    assert (granted["subject"], granted["subject_kind"]) == ("Late", "team")
    # every member has the team's deadline, on time until it; the one alone does not
    for member in (ea, eb):
        mine = api(member, "GET", p, expect=200).json()["my_deadline"]
        assert (mine["end"], mine["extended"]) == (z(end + timedelta(days=1)), True)
        me = api(member, "GET", "/me", expect=200).json()
        (entry,) = [c for c in me["competitions"] if c["id"] == comp["id"]]
        assert entry["phases"][0]["deadline"]["end"] == z(end + timedelta(days=1))
    assert api(alone, "GET", p, expect=200).json()["my_deadline"]["extended"] is False
    late = submit(api, eb, phase_id).json()
    assert late["team"] is not None
    submit(api, alone, phase_id, expect=422)
    # the team's window is open for its selection too
    api(eb, "POST", f"/submissions/{before['id']}/select", json={"selected": True}, expect=200)
    assert api(ea, "GET", f"{p}/selection", expect=200).json()["submissions"] == [before["id"]]
    clock.set(end + timedelta(days=1, minutes=1))
    submit(api, ea, phase_id, expect=422)
    api(ea, "PUT", f"{p}/selection", json={"submissions": []}, expect=409)
    api(creator, "DELETE", f"{p}/team-extensions/Late", expect=204)
    api(creator, "DELETE", f"{p}/team-extensions/Late", expect=404)


def test_a_member_selects_for_the_team_within_the_teams_limit(api, users, creator, make_competition, service) -> None:
    _, p, phase_id, (sa, sb, outsider) = course_with_a_team(api, users, creator, make_competition, "Pick",
                                                             ("sa", "sb", "sc"), max_selected=1)
    first, second = submit(api, sa, phase_id).json(), submit(api, sb, phase_id).json()
    finish(service, first["id"], accuracy=0.4, runtime=1)
    finish(service, second["id"], accuracy=0.9, runtime=1)
    # before anyone chooses, the team's fallback is its best public submission, whoever made it
    fallback = api(sa, "GET", f"{p}/selection", expect=200).json()
    assert (fallback["team"], fallback["submissions"], fallback["fallback"]) == ("Pick", [second["id"]], True)
    # sb selects sa's submission for the team; sa then cannot add a second: the limit is the team's
    api(sb, "POST", f"/submissions/{first['id']}/select", json={"selected": True}, expect=200)
    refused = api(sa, "POST", f"/submissions/{second['id']}/select", json={"selected": True}, expect=409).json()
    assert "Team Pick has already selected 1 submission(s)" in refused["error"]["message"]
    for member in (sa, sb):
        chosen = api(member, "GET", f"{p}/selection", expect=200).json()
        assert (chosen["submissions"], chosen["chosen"]) == ([first["id"]], True)
    # the whole selection replaced by either member, with the team's submissions only
    api(sa, "PUT", f"{p}/selection", json={"submissions": [second["id"]]}, expect=200)
    assert api(sb, "GET", f"{p}/selection", expect=200).json()["submissions"] == [second["id"]]
    own = submit(api, outsider, phase_id).json()
    finish(service, own["id"], accuracy=0.1, runtime=1)
    stranger = api(sa, "PUT", f"{p}/selection", json={"submissions": [own["id"]]}, expect=404).json()
    assert "of team Pick's" in stranger["error"]["message"]
    api(outsider, "POST", f"/submissions/{first['id']}/select", json={"selected": True}, expect=404)
    api(creator, "POST", f"/submissions/{first['id']}/select", json={"selected": True}, expect=403)


def test_each_member_gets_the_teams_grade_and_late_penalty(api, users, creator, make_competition, service,
                                                            clock) -> None:
    _, p, phase_id, (ga, gb, gc, idle) = course_with_a_team(
        api, users, creator, make_competition, "Grade", ("ga", "gb", "gc", "idle"),
        private_scores={"accuracy_private": "accuracy"}, grace_seconds=2 * 86400, late_penalty_kind="fixed",
        late_penalty_value=0.25)
    end = phase_end(api, creator, phase_id)
    early = submit(api, ga, phase_id).json()
    finish(service, early["id"], accuracy=0.7, accuracy_private=0.5, runtime=1)
    theirs = submit(api, gc, phase_id).json()
    finish(service, theirs["id"], accuracy=0.8, accuracy_private=0.6, runtime=1)
    clock.set(end + timedelta(hours=3))  # within the grace period: taken, marked late
    late = submit(api, gb, phase_id).json()
    finish(service, late["id"], accuracy=0.9, accuracy_private=0.8, runtime=1)
    # the private board ranks the team as one row, with its shake-up
    api(creator, "POST", f"{p}/reveal", expect=200)
    board = api(gc, "GET", f"{p}/private-leaderboard", expect=200).json()
    assert [(e["owner"], e["rank"], e["public_rank"], e["submission"]) for e in board["entries"]] == [
        ("team/Grade", 1, 1, late["id"]), (gc.name, 2, 2, theirs["id"])]
    assert api(ga, "GET", f"{p}/private-leaderboard", expect=200).json()["me"] == "team/Grade"
    # every member gets the team's final score, rank, penalty and grade; the roster's idle one 0
    graded = {r["username"]: r for r in api(creator, "GET", f"{p}/grades", expect=200).json()["grades"]}
    assert set(graded) == {ga.name, gb.name, gc.name, idle.name}
    for member in (ga, gb):
        row = graded[member.name]
        assert (row["team"], row["score"], row["rank"], row["late_penalty"], row["submission"]) == (
            "Grade", 0.8, 1, 0.25, late["id"])
        assert (row["raw_grade"], row["grade"]) == (80.0, 60.0)
    assert (graded[gc.name]["team"], graded[gc.name]["grade"], graded[gc.name]["late_penalty"]) == (None, 60.0, None)
    assert (graded[idle.name]["grade"], graded[idle.name]["submission"]) == (0.0, None)
    rows = list(csv.DictReader(io.StringIO(api(creator, "GET", f"{p}/grades?format=csv", expect=200).text)))
    assert {r["username"]: (r["team"], r["late_penalty"], r["grade"]) for r in rows if r["team"]} == {
        ga.name: ("Grade", "0.25", "60"), gb.name: ("Grade", "0.25", "60")}
    moodle = {r["Username"]: r for r in csv.DictReader(io.StringIO(
        api(creator, "GET", f"{p}/grades?format=csv&layout=moodle", expect=200).text))}
    assert moodle[gb.name]["Feedback"] == "Team Grade: Final score 0.8, rank 1. Late: 25% deducted."
