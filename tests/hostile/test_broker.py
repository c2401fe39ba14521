"""A broker that works against the platform: a RabbitMQ node of the test's own whose
``consumer_timeout`` (3 s, checked every second) is far shorter than a job, restarted under a
running job, and killing the service's connections between publishes.

The worker must score every submission exactly once and keep serving; the service must never
stamp a message published that the broker did not take.
"""

from __future__ import annotations

import functools
import time
import uuid

import pytest
import sqlalchemy as sa
from conftest import (
    Api,
    ServiceThread,
    WorkerProcess,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_pipeline_competition,
    service_config,
    submit,
    wait_for,
)
from helpers import programs, waiting
from helpers.rabbit_node import RabbitNode
from podium.server import db
from podium.server.compute import queues
from podium.server.orm import Attempt, DispatchOutbox, Score
from podium.worker.protocol import celery_queue

#: a participant's model that takes longer than the broker's consumer timeout (3 s, plus the 1 s
#: tick at which RabbitMQ checks it)
SLOW_MODEL = programs.code_submission("""
    import time
    time.sleep(9)
    def predict(x):
        return {"1": "a", "2": "b", "3": "c", "4": "d"}[x]
""")


@pytest.fixture(scope="module")
def strict_broker(tmp_path_factory):
    node = RabbitNode(tmp_path_factory.mktemp("rabbit"), free_port(), free_port(), consumer_timeout_ms=3000)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def strict_service(hub, strict_broker, tmp_path_factory):
    """A service of its own (its own PostgreSQL database) publishing to the strict broker."""
    db_url = create_pg_database()
    db.upgrade(db_url)
    svc = ServiceThread(**service_config(hub, db_url, free_port(), strict_broker.url,
                                         tmp_path_factory.mktemp("podium-data")))
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()
        drop_pg_database(db_url)


@pytest.fixture(scope="module")
def strict_api(strict_service) -> Api:
    return Api(strict_service)


@pytest.fixture(scope="module")
def strict_worker(strict_service, runtime_images, tmp_path_factory):
    process = WorkerProcess(strict_service, tmp_path_factory.mktemp("worker"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def slow_phase(strict_api, users):
    organizer = users.make("organizer", groups=("creators",))
    return make_pipeline_competition(strict_api, organizer, users, image="python:3", scoring=programs.V2_SCORING,
                                     ingestion=programs.V2_INGESTION, input_data=programs.INPUT_DATA, time_limit=60)


def scored_once(service: ServiceThread, submission_id: int) -> tuple[int, list[str]]:
    """(score rows, attempt states in order) of a submission."""
    with service.app.session_factory() as session:
        scores = session.scalar(sa.select(sa.func.count(Score.id)).where(Score.submission_id == submission_id))
        attempts = [a.state.value for a in session.scalars(
            sa.select(Attempt).where(Attempt.submission_id == submission_id).order_by(Attempt.id))]
    return scores, attempts


def assert_all_scored_once(api: Api, service: ServiceThread, user, submissions: dict[int, float]) -> None:
    for sid, accuracy in submissions.items():
        sub = wait_for(api, user, sid, timeout=240)
        assert sub["status"] == "finished", sub["failure_reason"]
        assert sub["scores"]["accuracy"] == accuracy
        # one attempt per step (predict, score), each succeeded: nothing was run or scored twice
        assert scored_once(service, sid) == (2, ["succeeded", "succeeded"])


def test_a_job_longer_than_the_consumer_timeout_leaves_the_worker_serving(
        strict_api, strict_service, strict_worker, strict_broker, slow_phase) -> None:
    phase_id, user = slow_phase
    slow = submit(strict_api, user, phase_id, SLOW_MODEL)
    wait_for(strict_api, user, slow, statuses={"running"})
    waiting = submit(strict_api, user, phase_id, programs.GOOD_MODEL)  # queued behind the slow job
    assert_all_scored_once(strict_api, strict_service, user, {slow: 1.0, waiting: 0.75})
    assert strict_worker.proc.poll() is None, strict_worker.log.read_text()[-3000:]
    # the root, not a recovery: no delivery was ever held long enough for the broker to time it out
    assert "acknowledgement on channel" not in strict_broker.server_log()
    assert "PreconditionFailed" not in strict_worker.log.read_text()


def test_a_broker_restarted_under_a_running_job_leaves_the_worker_serving(
        strict_api, strict_service, strict_worker, strict_broker, slow_phase) -> None:
    phase_id, user = slow_phase
    slow = submit(strict_api, user, phase_id, SLOW_MODEL)
    wait_for(strict_api, user, slow, statuses={"running"})
    strict_broker.ctl("stop_app")
    time.sleep(1)
    strict_broker.ctl("start_app")
    strict_broker.wait_listening()
    after = submit(strict_api, user, phase_id, programs.GOOD_MODEL)
    assert_all_scored_once(strict_api, strict_service, user, {slow: 1.0, after: 0.75})
    assert strict_worker.proc.poll() is None, strict_worker.log.read_text()[-3000:]


def queue_depth(node: RabbitNode, name: str) -> int:
    for line in node.ctl("list_queues", "--no-table-headers", "name", "messages", check=False).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return int(parts[1])
    return 0


wait_until = functools.partial(waiting.wait_until, timeout=20, every=0.2)


def test_a_message_the_broker_never_took_stays_in_the_outbox(strict_api, strict_service, strict_broker, users) -> None:
    """A publish the broker has not confirmed is not stamped published: under a resource alarm
    RabbitMQ stops reading publishers' connections, so a message sent without confirmation sits
    in a socket buffer; the node then dies, and the message with it. It must reach its queue once
    the node is back (the outbox publishes it again), not wait for the reaper."""
    name = f"idle-{uuid.uuid4().hex[:6]}"  # a queue no worker serves: its messages stay countable
    with strict_service.app.session_factory() as session:
        queues.create_queue(session, name, None)
        session.commit()
    organizer = users.make("organizer", groups=("creators",))
    phase_id, user = make_pipeline_competition(strict_api, organizer, users, image="python:3",
                                               scoring=programs.V2_SCORING, queue=name)

    def published(sid: int) -> bool:
        with strict_service.app.session_factory() as session:
            return session.scalar(sa.select(DispatchOutbox.published_at).join(
                Attempt, Attempt.id == DispatchOutbox.attempt_id).where(Attempt.submission_id == sid)) is not None

    first = submit(strict_api, user, phase_id, programs.result_submission(programs.TRUTH))
    wait_until(lambda: published(first) and queue_depth(strict_broker, celery_queue(name)) == 1)
    strict_broker.ctl("set_disk_free_limit", "1000000GB")  # a disk alarm: publishers are blocked
    second = submit(strict_api, user, phase_id, programs.result_submission(programs.TRUTH))
    time.sleep(3)
    assert not published(second)  # the broker has not confirmed it
    strict_broker.crash()
    strict_broker.start()  # the alarm was a runtime setting: the node comes back without it
    wait_until(lambda: queue_depth(strict_broker, celery_queue(name)) == 2, timeout=60)
    wait_until(lambda: published(second))
