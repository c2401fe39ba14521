"""Dispatch: a commit's new attempts are published right after it, from what the transaction
wrote (no read of the outbox), and a publish that fails stays in the outbox for the timer."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import threading
import uuid

import pytest
import sqlalchemy as sa
from conftest import drain_dispatcher
from helpers import waiting
from podium.server.clock import utcnow
from podium.server.compute import queues as queues
from podium.server.orm import Attempt, DispatchOutbox, LeaderboardColumn, Phase
from podium.worker.protocol import PROTOCOL_VERSION, celery_queue

PAYLOAD = b"PK\x05\x06" + b"\x00" * 18  # an empty zip


def outbox_row(session, submission_id: int) -> DispatchOutbox:
    session.rollback()  # a fresh snapshot
    return session.scalars(sa.select(DispatchOutbox).join(Attempt, Attempt.id == DispatchOutbox.attempt_id)
                           .where(Attempt.submission_id == submission_id)).one()


wait_until = functools.partial(waiting.wait_until, timeout=10, every=0.02)


def submit_and_confirm(api, user, phase_id: int) -> int:
    r = api(user, "POST", f"/phases/{phase_id}/submissions", expect=201,
            json={"size": len(PAYLOAD), "sha256": hashlib.sha256(PAYLOAD).hexdigest()}).json()
    api.upload(r["upload_url"], PAYLOAD)
    api(user, "POST", f"/submissions/{r['id']}/uploaded", expect=200)
    return r["id"]


def watch_sends(monkeypatch, dispatcher, fail_first: int = 0) -> list[tuple[list, str]]:
    """Record the dispatcher's sends as (task arguments, broker queue); the first ``fail_first``
    of them fail as they do while the broker is down."""
    sent: list[tuple[list, str]] = []
    celery_for = dispatcher.celery_for

    class Watched:
        """A queue's Celery app, its sends recorded."""

        def __init__(self, app) -> None:
            self.app = app

        def send_task(self, task, args, queue, **kwargs):
            sent.append((args, queue))
            if len(sent) <= fail_first:
                raise ConnectionError("the broker is down")
            return self.app.send_task(task, args=args, queue=queue, **kwargs)

    monkeypatch.setattr(dispatcher, "celery_for", lambda queue: Watched(celery_for(queue)))
    return sent


def on_a_queue_of_its_own(api, creator, make_competition, users, service):
    """A participant of a competition whose queue no worker serves: (user, phase id, queue name,
    the worker headers of that queue)."""
    comp = make_competition()
    name, token = f"dispatch-{uuid.uuid4().hex[:6]}", f"dispatch-token-{uuid.uuid4().hex}"
    with service.app.session_factory() as session:
        queue, _ = queues.create_queue(session, name, None, token=token)
        queues.give_broker_account(queue, service.app.brokers)
        session.commit()
    api(creator, "PATCH", f"/competitions/{comp['id']}", json={"queue": name}, expect=200)
    user = users.make("dispatch")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return user, comp["phases"][0]["id"], name, {"Authorization": f"token {token}"}


@pytest.mark.in_process
def test_a_commit_publishes_its_attempts_without_reading_the_outbox(
        api, creator, make_competition, users, service, clock, dbsession, monkeypatch) -> None:
    user, phase_id, name, _ = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    sent = watch_sends(monkeypatch, service.app.dispatcher)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if threading.current_thread().name.startswith("podium-dispatch"):
            statements.append(statement)

    clock.set(utcnow())  # pauses the timers: only the commit's own publish runs
    sa.event.listen(service.app.engine, "before_cursor_execute", record)
    try:
        sid = submit_and_confirm(api, user, phase_id)
        wait_until(lambda: outbox_row(dbsession, sid).published_at is not None)
    finally:
        sa.event.remove(service.app.engine, "before_cursor_execute", record)
    row = outbox_row(dbsession, sid)
    assert row.publish_count == 1
    assert sent == [([sid, "score", row.attempt_id], celery_queue(name))]
    # the only statement: the UPDATE that stamps the row (then its commit)
    assert [s.split()[0] for s in statements] == ["UPDATE"], statements
    assert "dispatch_outbox" in statements[0]


@pytest.mark.in_process
def test_a_failed_publish_stays_in_the_outbox_for_the_timer(
        api, creator, make_competition, users, service, clock, dbsession, monkeypatch) -> None:
    user, phase_id, _, _ = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    dispatcher = service.app.dispatcher
    sent = watch_sends(monkeypatch, dispatcher, fail_first=1)
    clock.set(utcnow())  # no timer while the first publish fails
    sid = submit_and_confirm(api, user, phase_id)
    wait_until(lambda: len(sent) == 1)
    drain_dispatcher(service, timeout=10)  # the failed run is over
    row = outbox_row(dbsession, sid)
    assert row.published_at is None and row.publish_count == 0
    clock.reset()  # the timer runs again and publishes what is pending
    wait_until(lambda: outbox_row(dbsession, sid).published_at is not None)
    row = outbox_row(dbsession, sid)
    assert row.publish_count == 1 and [args[2] for args, _ in sent] == [row.attempt_id, row.attempt_id]


@pytest.mark.in_process
def test_the_timer_leaves_a_fresh_message_to_the_process_that_wrote_it(
        api, creator, make_competition, users, service, clock, dbsession, monkeypatch) -> None:
    """A message another process committed and is publishing (not yet stamped) is not sent again
    by this process's timer until it has waited ``dispatch_interval``: sent twice, its second
    claim would be refused, a worker's round trip lost (and in a rush, many). A message the
    reaper put back (published before) is sent at once."""
    user, phase_id, _, _ = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    dispatcher = service.app.dispatcher
    clock.set(utcnow())  # no timer but the calls below
    sid = submit_and_confirm(api, user, phase_id)
    wait_until(lambda: outbox_row(dbsession, sid).published_at is not None)
    sent = watch_sends(monkeypatch, dispatcher)
    row = outbox_row(dbsession, sid)
    # as another process leaves it between its commit and its stamp
    row.published_at, row.publish_count, row.created_at = None, 0, utcnow()
    dbsession.commit()
    assert dispatcher.publish_pending() == 0 and sent == []
    clock.advance(seconds=service.app.dispatch_interval / 2)
    assert dispatcher.publish_pending() == 0 and sent == []
    clock.advance(seconds=service.app.dispatch_interval)  # its writer had its time: a crash, say
    assert dispatcher.publish_pending() == 1 and len(sent) == 1
    dbsession.expire_all()  # the session keeps what it committed (expire_on_commit is off)
    row = outbox_row(dbsession, sid)
    assert row.published_at is not None and row.publish_count == 1
    row.published_at, row.created_at = None, utcnow()  # the reaper's put-back (after an unclaimed_timeout)
    dbsession.commit()
    assert dispatcher.publish_pending() == 1 and len(sent) == 2
    dbsession.expire_all()
    assert outbox_row(dbsession, sid).publish_count == 2
    assert dispatcher.fresh_for == service.app.dispatch_interval > 0


def test_a_rolled_back_enqueue_publishes_nothing(service, dbsession, monkeypatch) -> None:
    from podium.server.compute import outbox

    dispatcher = service.app.dispatcher
    sent: list = []
    monkeypatch.setattr(dispatcher, "celery_for", lambda queue: sent.append(queue))
    dbsession.info[outbox.NEW_MESSAGES] = [(DispatchOutbox(attempt_id=0, queue="x"), 0, 0, "score", "x")]
    dbsession.execute(sa.select(1))
    dbsession.rollback()
    assert outbox.NEW_MESSAGES not in dbsession.info
    dbsession.execute(sa.select(1))
    dbsession.commit()
    drain_dispatcher(service, timeout=10)
    assert sent == []


def test_a_lapsed_lease_is_taken_over_with_the_same_output_slots(
        api, creator, make_competition, users, service, clock, dbsession) -> None:
    """The second holder of an attempt gets the output slots the first one's claim made (no
    second row per object), and the first holder can no longer finish it."""
    from datetime import timedelta

    from podium.server.orm import Artifact

    user, phase_id, _, worker = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    start = utcnow()
    clock.set(start)  # no reaper: the lapsed attempt stays running until someone takes it over
    sid = submit_and_confirm(api, user, phase_id)
    attempt_id = outbox_row(dbsession, sid).attempt_id
    first = api(None, "POST", f"/worker/attempts/{attempt_id}/claim", json={"worker": "first", "protocol": PROTOCOL_VERSION}, headers=worker,
                expect=200).json()
    api(None, "POST", f"/worker/attempts/{attempt_id}/claim", json={"worker": "second", "protocol": PROTOCOL_VERSION}, headers=worker, expect=409)
    clock.set(start + timedelta(seconds=service.app.lease_seconds + 1))
    second = api(None, "POST", f"/worker/attempts/{attempt_id}/claim", json={"worker": "second", "protocol": PROTOCOL_VERSION}, headers=worker,
                 expect=200).json()
    assert set(second["outputs"]) == set(first["outputs"]) == {"output", "log", "detailed_results"}
    dbsession.rollback()
    keys = dbsession.scalars(sa.select(Artifact.storage_key).where(
        Artifact.storage_key.like(f"runs/{sid}/{attempt_id}/%"))).all()
    assert len(keys) == len(set(keys)) == 3
    api(None, "POST", f"/worker/attempts/{attempt_id}/finish", headers=worker, expect=409,
        json={"worker": "first", "state": "failed", "failure_kind": "participant", "reason": "late"})
    api(None, "POST", f"/worker/attempts/{attempt_id}/finish", headers=worker, expect=200,
        json={"worker": "second", "state": "failed", "failure_kind": "participant", "reason": "done"})


def test_a_claim_of_a_submission_that_ended_is_refused_and_cancels_the_attempt(
        api, creator, make_competition, users, service, dbsession) -> None:
    """A queued attempt of a submission that ended (here failed by hand, as another process
    could) is refused and cancelled, and the submission keeps its end."""
    from podium.server.orm import Submission, SubmissionStatus

    user, phase_id, _, worker = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    ended = submit_and_confirm(api, user, phase_id)
    attempt_id = outbox_row(dbsession, ended).attempt_id
    dbsession.execute(sa.update(Submission).where(Submission.id == ended).values(status=SubmissionStatus.failed))
    dbsession.commit()
    refused = api(None, "POST", f"/worker/attempts/{attempt_id}/claim", headers=worker, expect=409,
                  json={"worker": "late", "protocol": PROTOCOL_VERSION}).json()
    assert refused["error"]["message"] == f"Submission {ended} is already failed."
    dbsession.rollback()
    assert dbsession.get(Attempt, attempt_id).state.value == "cancelled"
    assert dbsession.get(Submission, ended).status.value == "failed"


@pytest.mark.one_backend
def test_a_submission_that_ends_during_a_claim_is_not_moved_on(
        api, creator, make_competition, users, service, dbsession) -> None:
    """A claim moves its submission on with an UPDATE that names the status it read: one that
    ended between the claim's read and its writes (committed by another transaction) keeps its
    end, and the claim is refused. (PostgreSQL: on SQLite one writer at a time makes it moot.)"""
    from podium.server.compute import attempts
    from podium.server.compute.job_spec import claim_context
    from podium.server.compute.limits import Limits
    from podium.server.errors import Conflict
    from podium.server.orm import Submission, SubmissionStatus

    user, phase_id, name, _ = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    racing = submit_and_confirm(api, user, phase_id)
    attempt_id = outbox_row(dbsession, racing).attempt_id
    queue = queues.find_queue(dbsession, name)
    claim = claim_context(dbsession, attempt_id)  # read while the submission is submitted
    assert claim.status == SubmissionStatus.submitted
    with service.app.session_factory() as other:
        other.execute(sa.update(Submission).where(Submission.id == racing).values(status=SubmissionStatus.cancelled))
        other.commit()
    with pytest.raises(Conflict, match=f"Submission {racing} is already cancelled"):
        attempts._take(dbsession, queue, claim, "racer", "", Limits())
    dbsession.commit()  # as the claim handler commits a refusal: the attempt is cancelled
    assert dbsession.get(Submission, racing).status.value == "cancelled"
    assert dbsession.get(Attempt, attempt_id).state.value == "cancelled"


def exactly(typed, value, where: str = "") -> None:
    """``value`` is what the ``TypedDict`` ``typed`` declares: every required key, no key it does
    not know (the service would send what a worker ignores), each value of its type."""
    from typing import get_type_hints, is_typeddict

    from podium.server.request_bodies import adapter

    adapter(typed).validate_python(value)
    hints = get_type_hints(typed)
    assert set(typed.__required_keys__) <= set(value) <= set(hints), (where, sorted(value), sorted(hints))
    for key, item in value.items():
        if is_typeddict(hints[key]):
            exactly(hints[key], item, f"{where}.{key}")


def test_the_messages_the_service_sends_are_the_ones_the_worker_reads(
        api, creator, make_competition, users, service, clock, dbsession) -> None:
    """Claim answer, heartbeat answer and finish answer, checked against ``podium.worker.protocol``."""
    from podium.worker.protocol import FinishAnswer, HeartbeatAnswer, JobSpec, attempt_report

    user, phase_id, _, worker = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    clock.set(utcnow())
    sid = submit_and_confirm(api, user, phase_id)
    attempt_id = outbox_row(dbsession, sid).attempt_id
    path = f"/worker/attempts/{attempt_id}"
    spec = api(None, "POST", f"{path}/claim", headers=worker, expect=200,
               json={"worker": "typed", "hostname": "box", "protocol": PROTOCOL_VERSION}).json()
    exactly(JobSpec, spec)
    assert spec["step"] == "score" and set(spec["inputs"]) == {"submission"}  # no programs in this competition
    beat = api(None, "POST", f"{path}/heartbeat", headers=worker, expect=200, json={"worker": "typed"}).json()
    exactly(HeartbeatAnswer, beat)
    report = attempt_report("failed", failure_kind="participant", reason="typed", retryable=False)
    done = api(None, "POST", f"{path}/finish", headers=worker, expect=200, json={"worker": "typed", **report}).json()
    exactly(FinishAnswer, done)
    assert done == {"attempt": attempt_id, "state": "failed", "submission_status": "failed"}


def test_a_claim_names_the_scores_to_write_in_the_leaderboards_order(
        api, creator, make_competition, users, service, clock, dbsession) -> None:
    """The job's score keys: the leaderboard's columns in their order (not the order they were
    made in), without the computed ones, then the phase's private scores."""
    from podium.worker.protocol import attempt_report

    user, phase_id, _, worker = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    board = dbsession.scalar(sa.select(Phase.leaderboard_id).where(Phase.id == phase_id))
    api(creator, "PUT", f"/leaderboards/{board}", expect=200, json={
        "key": "main", "title": "Results", "primary_column": "accuracy", "columns": [
            {"key": "runtime", "sorting": "asc"}, {"key": "accuracy", "sorting": "desc"},
            {"key": "mean", "computation": "avg_rank", "computation_keys": ["accuracy", "runtime"]},
            {"key": "error", "sorting": "asc"}]})
    # shown in another order than the one they were made in (ids): error, accuracy, mean, runtime
    for key, index in {"error": 0, "accuracy": 1, "mean": 2, "runtime": 3}.items():
        dbsession.execute(sa.update(LeaderboardColumn).where(LeaderboardColumn.leaderboard_id == board,
                                                             LeaderboardColumn.key == key).values(index=index))
    dbsession.commit()
    api(creator, "PATCH", f"/phases/{phase_id}", json={"private_scores": {"accuracy_private": "accuracy"}},
        expect=200)
    clock.set(utcnow())
    attempt_id = outbox_row(dbsession, submit_and_confirm(api, user, phase_id)).attempt_id
    spec = api(None, "POST", f"/worker/attempts/{attempt_id}/claim", headers=worker, expect=200,
               json={"worker": "keys", "protocol": PROTOCOL_VERSION}).json()
    assert spec["score_keys"] == ["error", "accuracy", "runtime", "accuracy_private"]
    # ended, so that nothing stays running on a queue no worker serves (tests/e2e checks)
    report = attempt_report("failed", failure_kind="participant", reason="keys only", retryable=False)
    api(None, "POST", f"/worker/attempts/{attempt_id}/finish", headers=worker, expect=200,
        json={"worker": "keys", **report})


def test_a_worker_speaking_another_job_protocol_is_refused_and_told_what_to_upgrade(
        api, creator, make_competition, users, service, clock, dbsession, tmp_path) -> None:
    from podium.worker.client import ServiceClient
    from podium.worker.errors import ProtocolMismatch

    user, phase_id, _, worker = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    clock.set(utcnow())
    sid = submit_and_confirm(api, user, phase_id)
    attempt_id = outbox_row(dbsession, sid).attempt_id
    claim = f"/worker/attempts/{attempt_id}/claim"
    # a worker from before protocol versions sends none
    error = api(None, "POST", claim, json={"worker": "old"}, headers=worker, expect=426).json()["error"]
    assert error["reason"] == "WorkerProtocolRefused"
    assert error["message"] == (f"this worker speaks job protocol 0, the service needs {PROTOCOL_VERSION}: "
                                "upgrade jupyter-podium on the worker")
    newer = api(None, "POST", claim, json={"worker": "new", "protocol": PROTOCOL_VERSION + 1}, headers=worker,
                expect=426).json()["error"]["message"]
    assert "upgrade jupyter-podium on the service" in newer
    # the worker's client raises the service's sentence, at claim and already at start-up
    token = worker["Authorization"].split()[1]
    old_client = ServiceClient(service.url, token, "old", protocol_version=0)
    with pytest.raises(ProtocolMismatch, match="upgrade jupyter-podium on the worker"):
        old_client.claim(attempt_id, "box")
    with pytest.raises(ProtocolMismatch, match="upgrade jupyter-podium on the worker"):
        old_client.config()
    assert ServiceClient(service.url, token, "current").config()["protocol"] == PROTOCOL_VERSION
    # `podium worker` of an older protocol refuses to start, and says so
    old_worker = ("import sys, podium.worker.protocol as p; p.PROTOCOL_VERSION = 0\n"
                  "from podium.worker.app import main\nsys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", old_worker, "--service-url", service.url, "--token", token,
                           "--name", "old", "--work-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == ("podium worker: this worker speaks job protocol 0, the service needs "
                                   f"{PROTOCOL_VERSION}: upgrade jupyter-podium on the worker")
    # refused claims leave the attempt queued for a worker that speaks the protocol
    dbsession.rollback()
    attempt = dbsession.get(Attempt, attempt_id)
    assert attempt.state.value == "queued" and attempt.worker_id is None
    api(None, "POST", claim, json={"worker": "current", "protocol": PROTOCOL_VERSION}, headers=worker, expect=200)


@pytest.mark.in_process
def test_a_claim_reads_the_tasks_programs_and_data_once(
        api, creator, make_competition, users, service, clock, dbsession) -> None:
    """The task's objects are read in one SELECT and held until the job spec is built: each input's
    signed URL needs no read of its own (the session had dropped them, and read every input again)."""
    from conftest import upload_dataset
    from helpers import programs
    from podium.server.orm import PhaseTask

    user, phase_id, _, worker = on_a_queue_of_its_own(api, creator, make_competition, users, service)
    task_id = dbsession.scalar(sa.select(PhaseTask.task_id).where(PhaseTask.phase_id == phase_id))
    for kind, name, data in (("ingestion_program", "ingestion.zip", programs.V2_INGESTION),
                             ("input_data", "input.zip", programs.INPUT_DATA),
                             ("reference_data", "ref.zip", programs.REFERENCE)):
        api(creator, "PATCH", f"/tasks/{task_id}", json={kind: upload_dataset(api, creator, kind, name, data)},
            expect=200)
    clock.set(utcnow())  # no timer reads meanwhile
    sid = submit_and_confirm(api, user, phase_id)
    attempt_id = outbox_row(dbsession, sid).attempt_id
    reads: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM artifacts" in statement:
            reads.append(statement)

    sa.event.listen(service.app.engine, "before_cursor_execute", record)
    try:
        spec = api(None, "POST", f"/worker/attempts/{attempt_id}/claim", headers=worker, expect=200,
                   json={"worker": "reader", "protocol": PROTOCOL_VERSION}).json()
    finally:
        sa.event.remove(service.app.engine, "before_cursor_execute", record)
    assert spec["step"] == "predict"
    assert set(spec["inputs"]) == {"submission", "ingestion_program", "input_data"}
    # one read of them all; on PostgreSQL it rides with the claim's writes, which a worker's first
    # claim runs twice (the first run finds no worker to hold the attempt for, and creates it)
    in_writes = service.app.engine.dialect.name == "postgresql"
    assert len(reads) == (2 if in_writes else 1) and len(set(reads)) == 1, reads
