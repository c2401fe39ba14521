"""The worker's broker consumer, on kombu's in-memory transport: one message at a time, handed
over with nothing unacknowledged and no consumer left on the queue, and anything that is not a
podium task dropped rather than redelivered forever. (Against RabbitMQ with a consumer timeout
shorter than a job: tests/hostile/test_broker.py.)"""

from __future__ import annotations

import threading
import uuid

from celery import Celery
from kombu import Connection, Producer
from podium.worker.consumer import JobConsumer, TaskMessage, broker_queue
from podium.worker.protocol import TASK_NAME


def serve_until(consumer: JobConsumer, stop: threading.Event) -> None:
    thread = threading.Thread(target=consumer.serve, args=(stop,), daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the consumer did not stop"


def test_a_running_job_holds_no_delivery_and_leaves_the_queue_to_others() -> None:
    queue = f"podium-unit-{uuid.uuid4().hex[:8]}"
    publisher = Celery("unit", broker="memory://")
    for n in range(2):
        publisher.send_task(TASK_NAME, args=[n, "score", 100 + n], queue=queue)
    seen: list[tuple] = []
    stop = threading.Event()

    def handle(task: TaskMessage) -> None:
        channel = consumer.connection.default_channel
        unacked = len(channel.qos._delivered) - len(channel.qos._dirty)
        seen.append((task.task, task.args, unacked, len(channel._consumers), channel._size(queue)))
        if len(seen) == 2:
            stop.set()

    consumer = JobConsumer("memory://", {}, queue, handle)
    serve_until(consumer, stop)
    assert seen == [
        (TASK_NAME, (0, "score", 100), 0, 0, 1),  # the second message waits in the queue, not here
        (TASK_NAME, (1, "score", 101), 0, 0, 0),
    ]


def test_what_is_not_a_task_is_dropped_once() -> None:
    queue = f"podium-unit-{uuid.uuid4().hex[:8]}"
    with Connection("memory://") as connection:
        producer = Producer(connection.default_channel)
        target = broker_queue(queue)
        producer.publish({"not": "a task"}, exchange=target.exchange, routing_key=queue, declare=[target])
        producer.publish(b"\x80\x04K\x01.", exchange=target.exchange, routing_key=queue,
                         content_type="application/x-python-serialize", content_encoding="binary")
    Celery("unit", broker="memory://").send_task(TASK_NAME, args=[7, "score", 70], queue=queue)
    handled: list[TaskMessage] = []
    stop = threading.Event()
    consumer = JobConsumer("memory://", {}, queue, lambda task: (handled.append(task), stop.set()))
    serve_until(consumer, stop)
    assert [t.args for t in handled] == [(7, "score", 70)]


def test_a_message_received_when_the_worker_cannot_work_goes_back_to_the_queue() -> None:
    queue = f"podium-unit-{uuid.uuid4().hex[:8]}"
    Celery("unit", broker="memory://").send_task(TASK_NAME, args=[5, "predict", 50], queue=queue)
    answers = iter([False, True])  # the first look finds the worker unable (e.g. its engine just went away)
    looks: list[bool] = []
    handled: list[TaskMessage] = []
    stop = threading.Event()

    def can_take() -> bool:
        looks.append(next(answers))
        return looks[-1]

    consumer = JobConsumer("memory://", {}, queue, lambda task: (handled.append(task), stop.set()), can_take=can_take)
    serve_until(consumer, stop)
    # refused once, the same message came back and was taken at the next look
    assert looks == [False, True] and [t.args for t in handled] == [(5, "predict", 50)]
