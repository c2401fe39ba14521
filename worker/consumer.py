"""Taking jobs from the broker one at a time, so that no job length and no broker error stops the
worker.

RabbitMQ closes a channel whose delivery stays unacknowledged longer than its
``consumer_timeout`` (30 minutes by default, node-wide before RabbitMQ 3.12). A Celery worker
cannot avoid that for long jobs: with late acknowledgement the running job's own message times
out; with early acknowledgement the prefetch window (at least one message: AMQP has no
"prefetch nothing") lets the broker deliver the *next* message while the job runs, and that
reserved message times out instead; ``worker_disable_prefetch`` is for Redis only; and Celery
treats the resulting ``PreconditionFailed`` channel error as unrecoverable and exits.

So the worker consumes with kombu directly, and holds no delivery while a job runs:

1. consume the queue with prefetch 1 and wait for one message;
2. cancel the consumer, then acknowledge the message. With prefetch 1 nothing else can be
   delivered while the message is unacknowledged, and the broker applies a channel's methods in
   the order they were sent, so the cancel takes effect before the acknowledgement frees the
   window: on AMQP the cancel is sent without waiting for the broker's ``cancel-ok``. That
   round trip, to a broker busy confirming the service's publish, took 1.6 ms (p50) between a
   delivery and the claim leaving an idle worker (bench B6). Without a message (stopping, or no
   longer ready) the cancel waits for its reply, so that a delivery already on its way is received;
3. run the job with nothing delivered, nothing unacknowledged and no consumer on the queue
   (other workers take the queue's next messages meanwhile);
4. consume again.

Acknowledging before the job cannot lose it, because the service owns the job's life, not the
broker: a message is only a hint to claim an attempt over HTTP. A worker that dies after the
acknowledgement and before its claim leaves the attempt unclaimed, and the service's reaper
publishes it again; one that dies after its claim stops heartbeating, and the reaper expires
the lease and queues a new attempt (``server/compute/attempts.py``). A second delivery of the
same message is refused by the claim. The price is a delay (the reaper's timeouts) after a
worker crash, where late acknowledgement would have redelivered at once.

Before it takes a message the worker may wait (``before_next``: while it cannot work, e.g. its
disk is too full or its engine does not answer), so that the queue's messages go to other workers
meanwhile; a wait for a message ends early (nothing taken) as soon as ``ready`` says no, and a
message received is put back on the queue, unacknowledged, when ``can_take`` (a fresh look) says no.

Any broker error (connection lost, channel closed, vhost gone, authentication refused) drops
the connection and reconnects with a capped backoff; the worker never exits because of its
broker. Messages speak Celery's task protocol (version 2): the service publishes with Celery.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Exchange, Queue
from kombu.message import Message

log = logging.getLogger("podium.worker")

#: how long one wait for a message lasts before the stop flag is checked again (seconds)
POLL_SECONDS = 1.0
#: the first and the largest pause before reconnecting to the broker (seconds)
RECONNECT_FIRST, RECONNECT_MAX = 1.0, 30.0


@dataclass(frozen=True)
class TaskMessage:
    """A Celery task message: the task's name, id and positional arguments."""

    task: str
    task_id: str
    args: tuple[Any, ...]


def task_message(message: Message) -> TaskMessage | None:
    """The task a message carries, or None when it is not a Celery protocol 2 task message."""
    headers = message.headers or {}
    try:
        body = message.decode()
    except Exception:  # a body kombu cannot decode (content type not accepted, bad JSON)
        return None
    if "task" not in headers or not isinstance(body, list | tuple) or not body or not isinstance(body[0], list):
        return None
    return TaskMessage(str(headers["task"]), str(headers.get("id", "")), tuple(body[0]))


def stop_consuming(connection: Connection, consumer: Consumer, wait: bool) -> None:
    """Cancel ``consumer``. ``wait=False`` (AMQP only; other transports cancel locally) sends
    ``basic.cancel`` without waiting for the broker's reply, and forgets the consumer's callbacks
    at once: for use when nothing more can be delivered to it (prefetch 1, a delivery held)."""
    if wait or connection.transport.driver_type != "amqp":
        consumer.cancel()
        return
    # kombu's Consumer.cancel always waits; the tags are the ones it registered
    channel = connection.default_channel
    for tag in list(consumer._active_tags.values()):
        channel.basic_cancel(tag, nowait=True)
        channel.callbacks.pop(tag, None)
        channel.cancel_callbacks.pop(tag, None)
    consumer._active_tags.clear()


def broker_queue(name: str) -> Queue:
    """The broker queue as Celery declares it for a queue name (a direct exchange of the same
    name, durable), so that the service's and the worker's declarations agree."""
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


class JobConsumer:
    """Takes messages from one broker queue, one at a time, and hands each to ``handle`` with no
    delivery outstanding (see the module docstring); ``before_next``, if given, is called before
    each message is taken and returns once the worker can take one (or ``stop`` is set);
    ``ready``, if given, is polled while waiting for a message: false ends the wait; ``can_take``,
    if given, is asked before a received message is acknowledged: false puts it back."""

    def __init__(self, broker_url: str, transport_options: dict[str, Any], queue: str,
                 handle: Callable[[TaskMessage], None],
                 before_next: Callable[[threading.Event], None] | None = None,
                 ready: Callable[[], bool] | None = None, can_take: Callable[[], bool] | None = None) -> None:
        self.broker_url, self.transport_options = broker_url, transport_options
        self.queue = broker_queue(queue)
        self.handle, self.before_next = handle, before_next
        self.ready = ready or (lambda: True)
        self.can_take = can_take or (lambda: True)
        self.connection: Connection | None = None
        self.connected = threading.Event()  # set while a connection is up (for tests and logs)

    # --- the loop -----------------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Take and handle messages until ``stop`` is set; broker errors never end this loop."""
        delay = RECONNECT_FIRST
        while not stop.is_set():
            if self.before_next is not None:
                self.before_next(stop)  # no consumer on the queue meanwhile: other workers take its messages
                if stop.is_set():
                    break
            try:
                message = self.next_message(stop)
            except Exception as e:  # any broker error: the connection is dropped and made again
                self.disconnect()
                log.warning("broker %s: %s: %s; reconnecting in %.0f s", self.where(), type(e).__name__, e, delay)
                stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = RECONNECT_FIRST
            if message is None:
                continue
            task = task_message(message)
            if task is None:
                log.warning("dropping a message that is not a task: headers %s", message.headers)
                continue
            try:
                self.handle(task)
            except Exception:  # the job's own failure never stops the worker
                log.exception("task %s (%s) failed", task.task_id, task.task)
        self.disconnect()

    def next_message(self, stop: threading.Event) -> Message | None:
        """Wait for one message and acknowledge it with no consumer left on the queue; None
        when ``stop`` was set, or ``ready`` turned false, first."""
        connection = self.connect()
        received: list[Message] = []
        # raw messages: one that cannot be decoded is still taken (and dropped), never left
        # to come back forever
        consumer = Consumer(connection.default_channel, queues=[self.queue], prefetch_count=1, accept=["json"],
                            on_message=received.append,
                            on_decode_error=lambda message, _error: received.append(message))
        consumer.consume()
        try:
            while not received and not stop.is_set() and self.ready():
                try:
                    connection.drain_events(timeout=POLL_SECONDS)
                except TimeoutError:
                    pass
        finally:
            if connection.connected:
                stop_consuming(connection, consumer, wait=not received)
        if not received:
            return None
        message = received[0]
        if not self.can_take():
            # the worker cannot work after all (found since ``ready`` last said yes): the message
            # goes back to the queue at once, for another worker or for this one once it can
            message.requeue()
            return None
        message.ack()
        return message

    # --- the connection ---------------------------------------------------------------------

    def connect(self) -> Connection:
        if self.connection is None:
            # no AMQP heartbeat: nothing reads the connection while a job runs (TCP keepalive
            # and the next use notice a dead one)
            connection = Connection(self.broker_url, transport_options=self.transport_options, heartbeat=0)
            connection.connect()
            self.queue(connection.default_channel).declare()
            self.connection = connection
            self.connected.set()
            log.info("connected to the broker %s, queue '%s'", self.where(), self.queue.name)
        return self.connection

    def disconnect(self) -> None:
        self.connected.clear()
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken: nothing to close cleanly
                log.debug("closing a broken broker connection", exc_info=True)

    def where(self) -> str:
        """The broker's URL without its password, for logs."""
        return Connection(self.broker_url).as_uri()
