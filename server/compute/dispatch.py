"""Publishing attempts to the broker from the outbox, with Celery.

Attempts are written with an outbox row in the same transaction. When that transaction commits,
the dispatcher publishes its messages at once, from what the transaction wrote (no read of the
outbox), and then stamps the rows published. A timer (``kick``) publishes whatever is still
pending: messages whose publish failed, rows written by other processes, and rows the reaper
put back. So a crash between commit and publish only delays a message, and publishing twice
is harmless: a second claim of the same attempt is refused. The timer leaves a row that was
never published to its writer for ``fresh_for`` seconds (another process of the service is
publishing it: without this a timer that ran between that commit and its stamp sent it twice, and
a rush, whose fresh messages wait their turn on the writer's thread, made many such); after
that it is anyone's, so a writer that crashed before publishing delays it by ``fresh_for`` and
a timer's interval at most.

On AMQP every publish waits for the broker's confirmation (publisher confirms): without it a
message written into a connection the broker already closed (a restart, a deleted vhost, a
killed connection) is lost without an error, and its row would be stamped published until the
reaper notices, ``unclaimed_timeout`` later. With it the publish raises, Celery retries on a new
connection, and a message that still fails stays pending in the outbox for the timer.

Each compute queue's messages go to the broker URL ``route`` gives for it: with queues on their
own RabbitMQ virtual hosts (``broker_accounts``), that queue's vhost with the service's own
credentials; one Celery app (and connection pool) per URL.

All publishing happens on one thread, in order, off the event loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from ...worker.protocol import TASK_NAME, celery_queue
from ..clock import utcnow
from . import outbox

log = logging.getLogger("podium.dispatch")


def transport_options(broker_url: str, data_dir: str) -> dict[str, Any]:
    """The server-free filesystem transport keeps its messages in ``data_dir/broker``."""
    if broker_url.startswith("filesystem://"):
        folder = os.path.join(data_dir, "broker")
        os.makedirs(os.path.join(folder, "processed"), exist_ok=True)
        return {"data_folder_in": folder, "data_folder_out": folder,
                "processed_folder": os.path.join(folder, "processed"), "store_processed": False,
                # kombu's default is ./control, which would litter the working directory
                "control_folder": os.path.join(folder, "control")}
    return {}


#: how long a publish waits for the broker's confirmation before it counts as failed (seconds)
CONFIRM_TIMEOUT = 10.0


def publisher_options(broker_url: str) -> dict[str, Any]:
    """Transport options of the publishing side only: publisher confirms on AMQP (py-amqp)."""
    if broker_url.split("://", 1)[0] in ("amqp", "pyamqp", "amqps"):
        return {"confirm_publish": True}
    return {}


def make_celery(broker_url: str, options: dict[str, Any]) -> Celery:
    app = Celery("podium", broker=broker_url)
    app.conf.update(
        broker_transport_options={**options, **publisher_options(broker_url)},
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


class Dispatcher:
    """Publishes the outbox: each commit's new messages right after it, the rest on ``kick``."""

    def __init__(self, broker_url: str, data_dir: str, session_factory: sessionmaker[Session],
                 route: Callable[[str], str] | None = None, fresh_for: float = 2.0) -> None:
        self.broker_url = broker_url
        self.fresh_for = fresh_for
        self.options = transport_options(broker_url, data_dir)
        self.celery = make_celery(broker_url, self.options)
        # a compute queue's broker URL (its own virtual host when queues are isolated), and one
        # Celery app, with its connection pool, per URL
        self.route = route or (lambda _queue: broker_url)
        self._apps: dict[str, Celery] = {broker_url: self.celery}
        self.session_factory = session_factory
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podium-dispatch")
        self._lock = threading.Lock()  # one publisher at a time (the pool's thread, or a caller's)
        self._state = threading.Lock()  # guards what is waiting for the pool's thread
        self._fresh: deque[outbox.Message] = deque()
        self._sweep = False
        self._scheduled = False
        event.listen(session_factory, "after_commit", self._after_commit)
        event.listen(session_factory, "after_transaction_end", self._after_transaction_end)

    # --- what sessions tell us ------------------------------------------------------------

    def _after_commit(self, session: Session) -> None:
        # never raises: the caller's commit is done, and a message not handed over here is
        # still pending in the outbox for the timer
        try:
            messages = outbox.committed_messages(session)
            if messages:
                with self._state:
                    self._fresh.extend(messages)
                self._schedule()
        except Exception:
            log.exception("Could not hand committed messages to the dispatcher; the timer will publish them")

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # the outermost one ended without a commit (or after it)
            outbox.forget_messages(session)

    def kick(self) -> None:
        """Publish every pending outbox row soon, off the event loop."""
        with self._state:
            self._sweep = True
        self._schedule()

    def _schedule(self) -> None:
        # one run waiting at a time: the kicks and commits that come before it starts share it
        with self._state:
            if self._scheduled:
                return
            self._scheduled = True
        self.pool.submit(self._run)

    def _run(self) -> None:
        with self._state:
            self._scheduled = False
            fresh, self._fresh = list(self._fresh), deque()
            sweep, self._sweep = self._sweep, False
        try:
            if fresh:
                self.publish(fresh)
            if sweep:
                self.publish_pending()
        except Exception:
            log.exception("Publishing the outbox failed; the timer will retry")

    # --- publishing -----------------------------------------------------------------------

    def celery_for(self, queue: str) -> Celery:
        """The Celery app publishing a compute queue's messages (on the dispatcher's thread)."""
        url = self.route(queue)
        app = self._apps.get(url)
        if app is None:
            app = self._apps[url] = make_celery(url, self.options)
        return app

    def forget(self, queue: str) -> None:
        """Drop a deleted queue's app and its connections to a virtual host that is gone."""
        url = self.route(queue)
        app = self._apps.pop(url, None) if url != self.broker_url else None
        if app is not None:
            self.pool.submit(app.close)

    def _send(self, message: outbox.Message) -> None:
        self.celery_for(message.queue).send_task(
            TASK_NAME, args=[message.submission_id, message.step, message.attempt_id],
            queue=celery_queue(message.queue), retry=True, confirm_timeout=CONFIRM_TIMEOUT,
            retry_policy={"max_retries": 3, "interval_start": 0.5},
        )

    def _send_all(self, messages: list[outbox.Message]) -> tuple[list[int], bool]:
        """Send in order, stopping at the first failure: the outbox ids sent, and whether all were."""
        done: list[int] = []
        for message in messages:
            try:
                self._send(message)
            except Exception:
                log.exception("Could not publish attempt %s; the timer will retry", message.attempt_id)
                return done, False
            done.append(message.outbox_id)
        return done, True

    def publish(self, messages: list[outbox.Message], batch: int = 200) -> int:
        """Publish messages a commit just wrote, stamping their rows an UPDATE per ``batch``;
        returns how many were sent. A message that fails stays pending for the timer."""
        sent = 0
        with self._lock:
            for start in range(0, len(messages), batch):
                done, complete = self._send_all(messages[start:start + batch])
                if done:
                    with self.session_factory() as session:
                        # a row the timer (here or in another replica) published meanwhile keeps its stamp
                        outbox.mark_published(session, done, only_pending=True)
                        session.commit()
                sent += len(done)
                if not complete:
                    break
        return sent

    def publish_pending(self) -> int:
        """Publish every pending outbox row but those still their writer's (``fresh_for``);
        returns how many were sent."""
        sent = 0
        written_before = utcnow() - timedelta(seconds=self.fresh_for)
        with self._lock, self.session_factory() as session:
            while rows := outbox.pending_outbox(session, written_before=written_before):
                done, complete = self._send_all(rows)
                if done:
                    outbox.mark_published(session, done)
                session.commit()
                sent += len(done)
                if not complete:
                    break
        return sent

    def close(self) -> None:
        event.remove(self.session_factory, "after_commit", self._after_commit)
        event.remove(self.session_factory, "after_transaction_end", self._after_transaction_end)
        self.pool.shutdown(wait=True)
        for app in self._apps.values():
            app.close()
