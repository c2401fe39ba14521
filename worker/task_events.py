"""Celery-compatible monitoring events, so that Flower (or ``celery events``) watches a queue.

The worker consumes with kombu, not with a Celery worker, so it sends the events a Celery worker
would itself: ``worker-online``, a ``worker-heartbeat`` every ``freq`` seconds, ``worker-offline``,
and per task message ``task-received``, ``task-started``, then ``task-succeeded`` or
``task-failed``. Each is a JSON dict published on the ``celeryev`` topic exchange of the worker's
own broker connection (its queue's virtual host), with the routing key ``<group>.<kind>`` and the
fields Celery's ``EventDispatcher`` and heartbeat timer add (``hostname``, ``timestamp``,
``utcoffset``, ``pid``, ``clock``; ``freq``, ``active``, ``processed``, ``loadavg``, ``sw_*``),
which is what ``celery.events.state`` (and so Flower) reads.

Events are best effort: one that cannot be sent is dropped (and the connection made again for the
next one); monitoring never stops or slows a job.
"""

from __future__ import annotations

import itertools
import logging
import os
import platform
import threading
import time
from typing import Any

from kombu import Connection, Exchange, Producer

from .consumer import TaskMessage

log = logging.getLogger("podium.worker.events")

#: the exchange Celery sends events on (``celery.events.event.event_exchange``)
EVENT_EXCHANGE = Exchange("celeryev", type="topic")
#: seconds between heartbeats, as a Celery worker's default
HEARTBEAT_SECONDS = 2.0
SOFTWARE = {"sw_ident": "podium-worker", "sw_ver": "1", "sw_sys": platform.system()}


def supports_events(broker_url: str) -> bool:
    """Only AMQP has a topic exchange a monitor can bind to; elsewhere nobody would read them."""
    return broker_url.split("://", 1)[0] in ("amqp", "pyamqp", "amqps")


def utcoffset() -> int:
    """Hours west of UTC, as ``celery.utils.time.utcoffset``."""
    if time.localtime().tm_isdst and time.daylight:
        return time.altzone // 3600
    return time.timezone // 3600


def load_average() -> tuple[float, float, float]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return (0.0, 0.0, 0.0)


class TaskEvents:
    """Sends one worker's events on its own broker connection, with a heartbeat thread."""

    def __init__(self, broker_url: str, transport_options: dict[str, Any], hostname: str,
                 freq: float = HEARTBEAT_SECONDS) -> None:
        self.broker_url, self.transport_options = broker_url, transport_options
        self.hostname, self.freq = hostname, freq
        self.pid = os.getpid()
        self._clock = itertools.count(1)
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = 0
        self.processed = 0
        self._started: dict[str, float] = {}

    # --- the worker ---------------------------------------------------------------------------

    def start(self) -> None:
        self.worker_event("worker-online")
        self._thread = threading.Thread(target=self._beat, name="podium-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.freq + 5)
        self.worker_event("worker-offline")
        with self._lock:
            self._disconnect()

    def _beat(self) -> None:
        while not self._stop.wait(self.freq):
            self.worker_event("worker-heartbeat")

    def worker_event(self, kind: str) -> None:
        self.send(kind, freq=self.freq, active=self.active, processed=self.processed, loadavg=load_average(),
                  **SOFTWARE)

    # --- one task message -----------------------------------------------------------------------

    def received(self, task: TaskMessage) -> None:
        self.send("task-received", uuid=task.task_id, name=task.task, args=repr(list(task.args)), kwargs="{}",
                  root_id=task.task_id, parent_id=None, retries=0, eta=None, expires=None)

    def started(self, task: TaskMessage) -> None:
        self.active += 1
        self._started[task.task_id] = time.monotonic()
        self.send("task-started", uuid=task.task_id)

    def finished(self, task: TaskMessage, outcome: str) -> None:
        """``outcome`` is what ``run_task`` answered: an attempt's end state or why it was not run.
        A failed attempt is a failed task; anything else is a task that did its job (the result
        says which)."""
        self.active = max(0, self.active - 1)
        self.processed += 1
        runtime = time.monotonic() - self._started.pop(task.task_id, time.monotonic())
        if outcome == "failed":
            self.send("task-failed", uuid=task.task_id, exception="the attempt failed", traceback="",
                      runtime=runtime)
        else:
            self.send("task-succeeded", uuid=task.task_id, result=repr(outcome), runtime=runtime)

    # --- sending --------------------------------------------------------------------------------

    def send(self, kind: str, **fields: Any) -> None:
        event = {**fields, "type": kind, "hostname": self.hostname, "utcoffset": utcoffset(), "pid": self.pid,
                 "timestamp": time.time()}
        with self._lock:
            event["clock"] = next(self._clock)
            try:
                producer = self._connect()
                producer.publish(event, exchange=EVENT_EXCHANGE.name, routing_key=kind.replace("-", "."),
                                 serializer="json", headers={"hostname": self.hostname}, delivery_mode=1,
                                 declare=[EVENT_EXCHANGE], retry=False)
            except Exception as e:  # best effort: monitoring never disturbs a job
                log.debug("event %s not sent: %s: %s", kind, type(e).__name__, e)
                self._disconnect()

    def _connect(self) -> Producer:
        if self._producer is None:
            connection = Connection(self.broker_url, transport_options=self.transport_options, heartbeat=0,
                                    connect_timeout=5)
            connection.connect()
            self._connection, self._producer = connection, Producer(connection.default_channel)
        return self._producer

    def _disconnect(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                log.debug("closing a broken events connection", exc_info=True)
