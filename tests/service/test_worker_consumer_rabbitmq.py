"""The worker's broker consumer on RabbitMQ itself, where its cancel does not wait for the
broker's reply: one message at a time, with no consumer left on the queue and nothing held while
a job runs, and nothing left behind in the channel. (kombu's in-memory transport:
tests/unit/test_worker_consumer.py; a consumer timeout shorter than a job: tests/hostile/test_broker.py.)"""

from __future__ import annotations

import threading
import uuid

from celery import Celery
from podium.worker.consumer import JobConsumer, TaskMessage
from podium.worker.protocol import TASK_NAME


def test_a_running_job_holds_no_delivery_and_leaves_no_consumer_on_rabbitmq(broker_url: str) -> None:
    queue = f"podium-consumer-{uuid.uuid4().hex[:8]}"
    publisher = Celery("test", broker=broker_url)
    for n in range(3):
        publisher.send_task(TASK_NAME, args=[n, "score", 100 + n], queue=queue)
    publisher.close()
    seen: list[tuple] = []
    stop = threading.Event()

    def handle(task: TaskMessage) -> None:
        channel = consumer.connection.default_channel
        # asked on the worker's own channel, so the broker answers after the cancel and the
        # acknowledgement the worker sent before it (a channel's methods are applied in order)
        _, ready, consumers = channel.queue_declare(queue, passive=True)
        seen.append((task.args, ready, consumers, dict(channel.callbacks)))
        if len(seen) == 3:
            stop.set()

    consumer = JobConsumer(broker_url, {}, queue, handle)
    thread = threading.Thread(target=consumer.serve, args=(stop,), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the consumer did not stop"
    # each job ran with the rest of the queue still ready for other workers (nothing prefetched
    # here), no consumer of this worker's on the queue, and no callback of an old consumer kept
    assert seen == [((0, "score", 100), 2, 0, {}), ((1, "score", 101), 1, 0, {}), ((2, "score", 102), 0, 0, {})]
