"""Participant-visible outputs are an allow-list: a participant downloads their own upload and their
own code's output and log; the detailed results only where the competition enables them; the
scoring program's output and log (which may quote reference data) only where the phase opts in;
and none of the scoring program's files while the leaderboard is private. Organizers see every
file. Played over real HTTP with a worker's side spoken by hand."""

from __future__ import annotations

import requests
from helpers import programs
from helpers.worker_over_http import claim, competition_on_own_queue, finish, queued_attempt, submit

LEAK = f"scoring failed; expected {programs.SECRET}"
OWN = {"submission", "prediction_output", "prediction_log"}
SCORING = {"scoring_output", "scoring_log"}


def scored_with_every_file(api, service, creator, users):
    """A code submission through both steps, each attempt uploading all its files; the scoring
    log quotes the reference data as a careless scorer's would. (competition, participant, id)"""
    comp, user, worker = competition_on_own_queue(api, service, creator, users, ingestion=True)
    sid, _ = submit(api, user, comp["phases"][0]["id"], programs.GOOD_MODEL)
    for step, names in (("predict", ("output", "log")), ("score", ("output", "log", "detailed_results"))):
        attempt = queued_attempt(service, sid)
        spec = claim(api, worker, attempt)
        assert spec["step"] == step
        for name in names:
            api.upload(spec["outputs"][name]["url"], f"{step} {name}: {LEAK}".encode())
        finish(api, worker, attempt, state="succeeded", files=list(names),
               scores={"accuracy": 0.5, "runtime": 1.0} if step == "score" else None)
    assert api(user, "GET", f"/submissions/{sid}", expect=200).json()["status"] == "finished"
    return comp, user, sid


def roles(api, who, sid: int) -> set[str]:
    return {f["role"] for f in api(who, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}


def test_participants_get_their_own_files_only_by_default(api, service, creator, users) -> None:
    comp, user, sid = scored_with_every_file(api, service, creator, users)
    assert roles(api, user, sid) == OWN
    assert roles(api, creator, sid) == OWN | SCORING | {"detailed_results"}
    for f in api(user, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]:
        assert "score " not in requests.get(f["download_url"], timeout=10).text
    phase = api(creator, "GET", f"/phases/{comp['phases'][0]['id']}", expect=200).json()
    assert phase["show_scoring_output"] is False


def test_organizer_opt_ins_and_a_private_leaderboard(api, service, creator, users) -> None:
    comp, user, sid = scored_with_every_file(api, service, creator, users)
    phase_id = comp["phases"][0]["id"]
    api(creator, "PATCH", f"/competitions/{comp['id']}", json={"enable_detailed_results": True}, expect=200)
    assert roles(api, user, sid) == OWN | {"detailed_results"}
    api(creator, "PATCH", f"/phases/{phase_id}", json={"show_scoring_output": True}, expect=200)
    assert roles(api, user, sid) == OWN | {"detailed_results"} | SCORING
    api(creator, "PATCH", f"/phases/{phase_id}", json={"leaderboard_visibility": "private"}, expect=200)
    assert roles(api, user, sid) == OWN  # nothing the scorer wrote before the reveal
    assert roles(api, creator, sid) == OWN | SCORING | {"detailed_results"}
    api(creator, "PATCH", f"/phases/{phase_id}", json={"leaderboard_visibility": "public",
                                                      "hide_prediction_output": True}, expect=200)
    assert roles(api, user, sid) == {"submission", "detailed_results"} | SCORING


def test_a_participant_page_shows_detailed_results_only_where_enabled(api, service, hub, creator, users) -> None:
    from helpers.web_session import WebSession

    comp, user, sid = scored_with_every_file(api, service, creator, users)
    page = WebSession(hub, user.name)
    page.login()
    assert 'id="detailed-results"' not in page.get(f"submissions/{sid}").text
    page.get(f"submissions/{sid}/detailed_results", expect=404)
    api(creator, "PATCH", f"/competitions/{comp['id']}", json={"enable_detailed_results": True}, expect=200)
    assert 'id="detailed-results"' in page.get(f"submissions/{sid}").text
    assert programs.SECRET in page.get(f"submissions/{sid}/detailed_results").text  # the organizer allowed it
