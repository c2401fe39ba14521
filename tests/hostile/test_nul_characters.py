"""NUL characters, which PostgreSQL cannot store in text: in a user's request body they are
refused with the field's location (schemathesis found a 500 on a competition title); in what a
worker reports from participant output (a reason, the log tail, the live log) they are replaced,
so participant code that prints one cannot make its submission's report fail to be stored."""

from __future__ import annotations

import requests
from conftest import competition_body, submit, unique_slug
from helpers.web_session import create_queue, make, play_worker
from podium.server.orm import Attempt, AttemptState
from podium.worker.executors.base import CappedLog
from podium.worker.protocol import PROTOCOL_VERSION
from sqlalchemy import select

PAYLOAD = b"PK\x05\x06" + b"\x00" * 18  # an empty zip


def test_a_nul_in_a_request_body_is_refused_with_its_location(api, creator) -> None:
    body = competition_body(unique_slug("nul"), title="a\x00b")
    error = api(creator, "POST", "/competitions", json=body, expect=400).json()["error"]
    assert error["errors"] == [{"location": "title", "message": "may not contain the NUL character (\\u0000)"}]
    body = competition_body(unique_slug("nul"))
    body["phases"][0]["name"] = "x\x00"
    error = api(creator, "POST", "/competitions", json=body, expect=400).json()["error"]
    assert error["errors"][0]["location"] == "phases[0].name"


def test_participant_output_with_nul_characters_is_stored(api, users, creator, service, dbsession) -> None:
    queue = create_queue(api, users)
    comp = make(api, creator, queue)
    participant = users.make("nul")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    sid = submit(api, participant, comp["phases"][0]["id"], PAYLOAD)
    play_worker(service, dbsession, queue["token"], sid, scores={"accuracy": 1.0, "runtime": 1.0},
                log="printed\x00by participant code")
    sub = api(participant, "GET", f"/submissions/{sid}", expect=200).json()
    assert sub["status"] == "finished"
    assert "\x00" not in sub["log_tail"] and sub["log_tail"] == "printed\ufffdby participant code"

    # a failure reason and a live log from an (older) worker that did not replace them itself
    second = submit(api, participant, comp["phases"][0]["id"], PAYLOAD)
    dbsession.expire_all()
    attempt = dbsession.scalar(select(Attempt.id).where(Attempt.submission_id == second,
                                                        Attempt.state == AttemptState.queued))
    http = requests.Session()
    http.headers["Authorization"] = f"token {queue['token']}"
    base = f"{service.api_url}/worker/attempts/{attempt}"
    assert http.post(base + "/claim", json={"worker": "nul-test", "protocol": PROTOCOL_VERSION},
                     timeout=30).status_code == 200
    beat = http.post(base + "/heartbeat", json={"worker": "nul-test", "log_tail": "live\x00tail"}, timeout=30)
    assert beat.status_code == 200, beat.text
    done = http.post(base + "/finish", json={"worker": "nul-test", "state": "failed", "failure_kind": "participant",
                                             "reason": "exited\x00 with code 1", "exit_code": 1}, timeout=30)
    assert done.status_code == 200, done.text
    failed = api(participant, "GET", f"/submissions/{second}", expect=200).json()
    assert failed["status"] == "failed" and failed["failure_reason"] == "exited\ufffd with code 1"


def test_the_worker_reads_program_output_without_nul_characters() -> None:
    log = CappedLog(head=8, tail=8)
    log.feed(b"ab\x00cd" + b"x" * 40 + b"ef\x00gh")
    assert "\x00" not in log.text() and "\ufffd" in log.text()
    assert log.tail_text() == "xxxef\ufffdgh"
