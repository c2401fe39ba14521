"""Publishing attempts to the broker from the outbox, with Celery.

Attempts are written with an outbox row in the same transaction; the dispatcher publishes
pending rows after commits and on a timer, so a crash between commit and publish only delays a
message. Publishing twice is harmless: a second claim of the same attempt is refused.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from ..worker.protocol import TASK_NAME, celery_queue
from . import jobs

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


def make_celery(broker_url: str, options: dict[str, Any]) -> Celery:
    app = Celery("podium", broker=broker_url)
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


class Dispatcher:
    def __init__(self, broker_url: str, data_dir: str, session_factory: sessionmaker[Session]) -> None:
        self.broker_url = broker_url
        self.options = transport_options(broker_url, data_dir)
        self.celery = make_celery(broker_url, self.options)
        self.session_factory = session_factory
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podium-dispatch")
        self._lock = threading.Lock()

    def publish_pending(self) -> int:
        """Publish every pending outbox row; returns how many were sent."""
        sent = 0
        with self._lock, self.session_factory() as session:
            while True:
                rows = jobs.pending_outbox(session)
                if not rows:
                    break
                for outbox_id, attempt_id, submission_id, step, queue in rows:
                    try:
                        self.celery.send_task(
                            TASK_NAME, args=[submission_id, step, attempt_id], queue=celery_queue(queue),
                            retry=True, retry_policy={"max_retries": 3, "interval_start": 0.5},
                        )
                    except Exception:
                        log.exception("Could not publish attempt %s; will retry", attempt_id)
                        session.rollback()
                        return sent
                    jobs.mark_published(session, outbox_id)
                    sent += 1
                session.commit()
        return sent

    def kick(self) -> None:
        """Publish soon, off the event loop."""
        self.pool.submit(self._safe_publish)

    def _safe_publish(self) -> None:
        try:
            self.publish_pending()
        except Exception:
            log.exception("Publishing the outbox failed; the timer will retry")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
