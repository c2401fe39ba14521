"""Submitting: upload through signed URLs, quotas per UTC day and in total, idempotency, the
quota race across service replicas, closed phases and sizes."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from conftest import free_port
from podium.server.clock import utcnow
from podium.server.orm import FailureKind, Submission
from podium.server.submissions import lifecycle as submission_domain
from podium.worker.protocol import PROTOCOL_VERSION

PAYLOAD = b"PK\x05\x06" + b"\x00" * 18  # an empty zip


def announce(data: bytes = PAYLOAD, **extra) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}


@pytest.fixture
def participant(users, api, make_competition):
    """A factory of (user, competition, phase id): an open, published competition the user joined."""

    def make():
        comp = make_competition()
        user = users.make("participant")
        assert api(user, "POST", f"/competitions/{comp['id']}/register", expect=200).json()["status"] == "approved"
        return user, comp, comp["phases"][0]["id"]

    return make


def submit(api, user, phase_id, data=PAYLOAD, key=None, expect=201):
    headers = {"Idempotency-Key": key} if key else {}
    r = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(data), headers=headers, expect=expect)
    return r.json()


def test_submit_upload_finalize(api, participant, creator) -> None:
    user, comp, phase_id = participant()
    created = submit(api, user, phase_id)
    assert created["status"] == "submitting" and created["upload_method"] == "PUT"
    assert created["quota"]["used_today"] == 1 and created["quota"]["remaining_today"] == 4
    me = api(user, "GET", "/me", expect=200).json()
    (entry,) = [c for c in me["competitions"] if c["id"] == comp["id"]]
    assert entry["participant"] == "approved"
    assert entry["phases"][0]["quota"]["remaining_today"] == 4
    api.upload(created["upload_url"], PAYLOAD)
    done = api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200).json()
    assert done["status"] == "submitted" and done["submitted_at"]
    # confirming twice is harmless
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    mine = api(user, "GET", f"/phases/{phase_id}/submissions", expect=200).json()
    assert [s["id"] for s in mine["submissions"]] == [created["id"]] and mine["total"] == 1
    everywhere = api(user, "GET", "/me/submissions", expect=200).json()
    assert everywhere["submissions"][0]["id"] == created["id"]


def test_upload_that_does_not_match_is_refused(api, participant) -> None:
    user, _, phase_id = participant()
    created = submit(api, user, phase_id)
    other = b"PK" + b"\x01" * (len(PAYLOAD) - 2)
    api.upload(created["upload_url"], other)
    r = api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=422)
    assert r.json()["error"]["reason"] == "UploadMismatch"
    assert api(user, "GET", f"/submissions/{created['id']}", expect=200).json()["status"] == "submitting"


def test_signed_upload_url_refusals(api, participant) -> None:
    user, _, phase_id = participant()
    created = submit(api, user, phase_id)
    url = created["upload_url"]
    tampered = url.replace("sig=", "sig=0")
    assert requests.put(tampered, data=PAYLOAD, timeout=10).status_code == 403
    assert requests.get(url, timeout=10).status_code == 403  # a PUT URL does not read
    too_big = requests.put(url, data=PAYLOAD + b"x" * 100, timeout=10)
    assert too_big.status_code == 413


def test_idempotency_key_returns_the_original(api, participant, dbsession) -> None:
    user, _, phase_id = participant()
    first = submit(api, user, phase_id, key="abc-1")
    again = submit(api, user, phase_id, key="abc-1", expect=200)
    assert again["id"] == first["id"]
    other = submit(api, user, phase_id, key="abc-2")
    assert other["id"] != first["id"]
    count = dbsession.scalar(sa.select(sa.func.count(Submission.id)).where(Submission.owner == user.name))
    assert count == 2


def test_daily_and_total_quota_with_reset_time(api, participant, creator, clock) -> None:
    user, comp, phase_id = participant()
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submissions_per_day": 2, "max_submissions": 3}, expect=200)
    day = utcnow().replace(hour=10, minute=0, second=0, microsecond=0)
    clock.set(day)
    submit(api, user, phase_id)
    submit(api, user, phase_id)
    r = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=429).json()["error"]
    assert r["reason"] == "QuotaExceeded"
    midnight = (day + timedelta(days=1)).replace(hour=0)
    assert r["resets_at"] == midnight.isoformat() + "Z"
    assert midnight.isoformat() in r["message"]
    clock.set(midnight + timedelta(minutes=1))
    submit(api, user, phase_id)
    r = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=429).json()["error"]
    assert r["resets_at"] is None and "all 3 submissions" in r["message"]


def test_cancelled_and_platform_failures_give_quota_back(api, participant, creator, service) -> None:
    user, _, phase_id = participant()
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submissions_per_day": 2, "count_failed_submissions": False}, expect=200)
    a = submit(api, user, phase_id)
    api(user, "POST", f"/submissions/{a['id']}/cancel", expect=200)
    api(user, "POST", f"/submissions/{a['id']}/cancel", expect=409)
    b = submit(api, user, phase_id)
    c = submit(api, user, phase_id)
    with service.app.session_factory() as session:
        sub_b = session.get(Submission, b["id"])
        submission_domain.fail(sub_b, "The worker lost its disk.", FailureKind.platform)
        sub_c = session.get(Submission, c["id"])
        submission_domain.fail(sub_c, "Your program exited with code 1.", FailureKind.participant)
        session.commit()
    # both failures are free: platform always, the participant's own because the phase says so
    quota = submit(api, user, phase_id)["quota"]
    assert quota["used_today"] == 1


def test_participant_failures_count_by_default(api, participant, creator, service) -> None:
    user, _, phase_id = participant()
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submissions_per_day": 1}, expect=200)
    a = submit(api, user, phase_id)
    with service.app.session_factory() as session:
        submission_domain.fail(session.get(Submission, a["id"]), "Exit code 1.", FailureKind.participant)
        session.commit()
    api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=429)


def test_closed_phase_and_size_limit(api, participant, creator, clock) -> None:
    user, comp, phase_id = participant()
    phase = api(user, "GET", f"/phases/{phase_id}", expect=200).json()
    end = datetime.fromisoformat(phase["end"].rstrip("Z"))
    clock.set(end + timedelta(seconds=1))
    r = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=422).json()["error"]
    assert r["reason"] == "PhaseClosed" and phase["end"] in r["message"]
    clock.reset()
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submission_size": 10}, expect=200)
    r = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=413).json()["error"]
    assert "at most 10 bytes" in r["message"]


def test_unregistered_user_cannot_submit(api, users, make_competition) -> None:
    comp = make_competition()
    stranger = users.make("stranger")
    r = api(stranger, "POST", f"/phases/{comp['phases'][0]['id']}/submissions", json=announce(), expect=403)
    assert "approved participants" in r.json()["error"]["message"]


# --- the race, across real service replicas on PostgreSQL ------------------------------------


def start_replica(hub, db_url: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **hub.env_for_service(), "PODIUM_SECRET_KEY": "test-secret-key"}
    podium = Path(sys.executable).parent / "podium"
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [
            str(podium), "service", f"--PodiumService.db_url={db_url}", f"--PodiumService.port={port}",
            "--PodiumService.ip=127.0.0.1", f"--PodiumService.data_dir={data_dir}",
            "--PodiumService.auth_cache_max_age=0", "--PodiumService.creator_group=creators",
            "--PodiumService.default_queue_token=test-queue-token",
        ],
        # a file, not a pipe: nobody reads a pipe while the replica serves, and once its buffer
        # filled with logged errors the replica's event loop would block writing the next one
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    url = f"http://127.0.0.1:{port}/services/podium/api/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/", timeout=1)
            return proc, url
        except requests.ConnectionError:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(log.read().decode()) from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("replica did not start")


def test_fifty_concurrent_creates_accept_exactly_the_quota(
    api, participant, creator, hub, db_url, service
) -> None:
    """Four service processes (three replicas and the test's own) share the database."""
    user, _, phase_id = participant()
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submissions_per_day": 5, "max_submissions": 0}, expect=200)
    replicas: list[tuple[subprocess.Popen, str]] = []
    try:
        for _ in range(3):  # stopped below even when a later one fails to start
            replicas.append(start_replica(hub, db_url, Path(service.app.data_dir)))
        urls = [url for _, url in replicas] + [service.api_url]

        def create(i: int) -> int:
            r = requests.post(
                f"{urls[i % len(urls)]}/phases/{phase_id}/submissions",
                json=announce(), headers={**user.headers, "Idempotency-Key": f"race-{i}"}, timeout=60,
            )
            return r.status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            codes = list(pool.map(create, range(50)))
    finally:  # signal every replica before waiting for any: one slow to stop must not leave the others running
        for proc, _ in replicas:
            proc.terminate()
        for proc, _ in replicas:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()  # its children get SIGTERM from the kernel (PR_SET_PDEATHSIG)
                proc.wait()
    assert codes.count(201) == 5, codes
    assert codes.count(429) == 45, codes
    mine = api(user, "GET", f"/phases/{phase_id}/submissions", expect=200).json()
    assert mine["total"] == 5


@pytest.mark.in_process
def test_finalize_claim_and_finish_cost_a_few_statements(api, participant, creator, service, clock, dbsession,
                                                         db_backend) -> None:
    """The submission's write path: confirming an upload, claiming its attempt and finishing it
    each issue a small, fixed number of statements (no lazy load after the commit, no query per
    task or per output). Only the request thread's statements count (not the dispatcher's).
    On PostgreSQL a claim's three writes (worker, attempt, submission) are one statement."""
    import threading
    import uuid

    from podium.server.compute import queues as queues
    from podium.server.orm import Attempt

    user, comp, phase_id = participant()
    name, token = f"count-{uuid.uuid4().hex[:6]}", f"count-token-{uuid.uuid4().hex}"
    with service.app.session_factory() as session:
        queue, _ = queues.create_queue(session, name, None, token=token)
        queues.give_broker_account(queue, service.app.brokers)
        session.commit()
    api(creator, "PATCH", f"/competitions/{comp['id']}", json={"queue": name}, expect=200)
    created = submit(api, user, phase_id)
    api.upload(created["upload_url"], PAYLOAD)
    worker = {"Authorization": f"token {token}"}

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if threading.current_thread().name.startswith("podium-db"):  # requests' database work
            statements.append(statement)

    clock.set(utcnow())  # pauses the service's timers (reaper, dispatcher)
    engine = service.app.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    counts: dict[str, int] = {}
    try:
        done = api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200).json()
        counts["finalize"] = len(statements)
        finalize_reads = [x for x in statements if x.lstrip().startswith("SELECT")]
        assert done["status"] == "submitted"
        assert [(a["step"], a["number"], a["state"]) for a in done["attempts"]] == [("score", 1, "queued")]
        attempt_id = dbsession.scalar(sa.select(Attempt.id).where(Attempt.submission_id == created["id"]))
        statements.clear()
        spec = api(None, "POST", f"/worker/attempts/{attempt_id}/claim", json={"worker": "counter", "protocol": PROTOCOL_VERSION},
                   headers=worker, expect=200).json()
        counts["claim"] = len(statements)
        claim_statements = list(statements)
        assert set(spec["outputs"]) == {"output", "log", "detailed_results"}
        statements.clear()
        finished = api(None, "POST", f"/worker/attempts/{attempt_id}/finish", headers=worker, expect=200,
                       json={"worker": "counter", "state": "succeeded", "scores": {"accuracy": 0.5, "runtime": 2.0},
                             "files": ["output", "log", "detailed_results"]}).json()
        counts["finish"] = len(statements)
        finish_reads = [x for x in statements if "FROM artifacts" in x]
        assert finished == {"attempt": attempt_id, "state": "succeeded", "submission_status": "finished"}
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # finalize: the submission with all the answer and the queueing read (one query), the roles,
    # the attempt number; then the writes (artifact, submission, attempt, outbox); nothing after
    # the commit. Claim and finish: the token, the attempt with what they read (a claim: its
    # inputs and the leaderboard's score keys in one query); the finish reads the outputs'
    # artifacts once, a first claim not at all (none exists before it), and its first worker is
    # created (a read and an insert more).
    claim_reads_outputs = [x for x in claim_statements if "WHERE artifacts.storage_key IN" in x]
    assert len(finalize_reads) == 3, finalize_reads
    assert len(finish_reads) == 1, finish_reads
    assert claim_reads_outputs == [], claim_reads_outputs
    in_one = db_backend == "postgresql"
    assert counts["finalize"] <= 7 and counts["claim"] <= (7 if in_one else 9) and counts["finish"] <= 13, counts
    sub = api(user, "GET", f"/submissions/{created['id']}", expect=200).json()
    assert sub["scores"] == {"accuracy": 0.5, "runtime": 2.0}

    # the same worker's next claim: the attempt, the writes (one statement on PostgreSQL: touch,
    # hold, move on, with the inputs' read; three elsewhere, then the inputs), the output slots;
    # the token's queue is remembered from the calls before (``RememberedTokens``)
    again = submit(api, user, phase_id)
    api.upload(again["upload_url"], PAYLOAD)
    api(user, "POST", f"/submissions/{again['id']}/uploaded", expect=200)
    attempt_id = dbsession.scalar(sa.select(Attempt.id).where(Attempt.submission_id == again["id"]))
    sa.event.listen(engine, "before_cursor_execute", record)
    statements.clear()
    try:
        api(None, "POST", f"/worker/attempts/{attempt_id}/claim", json={"worker": "counter", "protocol": PROTOCOL_VERSION},
            headers=worker, expect=200)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    writes = [x.lstrip().split(None, 2)[:2] for x in statements if not x.lstrip().startswith("SELECT")]
    if in_one:
        assert len(statements) == 3 and writes == [["WITH", "touched"], ["INSERT", "INTO"]], statements
        assert "FROM submission_files JOIN artifacts" in statements[1], statements
        # the reads' parameters are named apart from the updated tables' columns, which an
        # UPDATE would otherwise SET from them: each UPDATE sets what the claim means it to
        sets = {table: {c.split("=")[0] for c in columns.split(", ")}
                for table, columns in re.findall(r"UPDATE (\w+) SET (.*?) WHERE", " ".join(statements[1].split()))}
        assert sets == {"workers": {"last_seen", "protocol", "cannot_work"}, "attempts": {"state", "worker_id", "lease_expires_at", "started_at"},
                        "submissions": {"status", "started_at"}}, sets
    else:
        assert len(statements) == 6 and [w[0] for w in writes] == ["UPDATE"] * 3 + ["INSERT"], statements
    assert not [x for x in statements if "FROM compute_queues" in x], statements
    assert api(user, "GET", f"/submissions/{again['id']}", expect=200).json()["status"] == "scoring"
