"""The worker's monitoring events, on kombu's in-memory transport, read back by Celery's own
event state (what Flower keeps): the worker comes online, beats and goes offline, and each task
is received, started and ends in the state Flower shows. (Flower itself, against RabbitMQ:
tests/e2e/test_flower.py.)"""

from __future__ import annotations

import time
import uuid

from celery import Celery
from celery.events.state import State
from kombu import Connection, Consumer, Queue
from podium.worker.consumer import TaskMessage
from podium.worker.protocol import TASK_NAME
from podium.worker.task_events import EVENT_EXCHANGE, TaskEvents, supports_events


def collect(url: str, queue: Queue) -> list[dict]:
    """The events waiting in the monitor's queue."""
    events: list[dict] = []
    with Connection(url) as conn:
        with Consumer(conn.default_channel, queues=[queue], accept=["json"],
                      callbacks=[lambda body, message: (events.append(body), message.ack())]):
            deadline = time.monotonic() + 2  # heartbeats keep coming: read what is there by then
            while time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    break
    return events


def receiver(url: str):
    """Celery's own receiving step (local clock, timestamps), as Flower's event thread runs it."""
    app = Celery("monitor", broker=url)
    events = app.events.Receiver(app.connection_for_read(), handlers={})
    return lambda body: events.event_from_message(dict(body))[1]


def test_celerys_event_state_sees_the_worker_and_its_tasks() -> None:
    url = "memory://"
    monitor = Queue(f"celeryev.{uuid.uuid4().hex}", EVENT_EXCHANGE, routing_key="#")
    with Connection(url) as conn:
        monitor(conn.default_channel).declare()
    events = TaskEvents(url, {}, "podium@w1", freq=0.05)
    good = TaskMessage(TASK_NAME, str(uuid.uuid4()), (7, "score", 70))
    bad = TaskMessage(TASK_NAME, str(uuid.uuid4()), (8, "predict", 80))
    events.start()
    for task, outcome in ((good, "succeeded"), (bad, "failed")):
        events.received(task)
        events.started(task)
        events.finished(task, outcome)
    time.sleep(0.2)  # a few heartbeats
    received = collect(url, monitor)
    state, receive = State(), receiver(url)
    for event in received:
        state.event(receive(event))
    worker = state.workers["podium@w1"]
    assert worker.alive and worker.processed == 2 and worker.active == 0 and worker.freq == 0.05
    assert state.tasks[good.task_id].state == "SUCCESS"
    assert state.tasks[good.task_id].name == TASK_NAME and state.tasks[good.task_id].args == "[7, 'score', 70]"
    assert state.tasks[bad.task_id].state == "FAILURE"
    assert {state.tasks[t.task_id].worker.hostname for t in (good, bad)} == {"podium@w1"}

    events.stop()
    for event in collect(url, monitor):
        state.event(receive(event))
    assert not state.workers["podium@w1"].alive  # worker-offline
    kinds = [e["type"] for e in received]
    assert kinds[0] == "worker-online" and "worker-heartbeat" in kinds
    assert [e["clock"] for e in received] == sorted(e["clock"] for e in received)
    assert {"hostname", "timestamp", "utcoffset", "pid", "clock"} <= set(received[0])


def test_events_are_sent_on_amqp_only() -> None:
    assert supports_events("amqp://u:p@h:5672/v") and supports_events("pyamqp://h//")
    assert not supports_events("filesystem://") and not supports_events("memory://")


def test_an_unreachable_broker_never_reaches_the_caller() -> None:
    events = TaskEvents("amqp://nobody:nothing@127.0.0.1:9/none", {}, "podium@w2")
    events.received(TaskMessage(TASK_NAME, "t", (1, "score", 1)))  # dropped, logged at debug
    assert events._producer is None
