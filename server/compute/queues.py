"""Compute queues and their tokens: workers authenticate with a queue's token, never with
database credentials; the service keeps only each token's sha256."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from ..clock import utcnow
from ..errors import Conflict, NotAuthenticated, NotFound
from ..leaderboards.changes import ChangeFeed, Remembered
from ..orm import ComputeQueue, Worker
from ..secret_files import read_or_create
from .broker_accounts import QueueBrokers, new_password

DEFAULT_QUEUE = "default"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "pq_" + secrets.token_urlsafe(32)


def create_queue(session: Session, name: str, owner: str | None, token: str | None = None) -> tuple[ComputeQueue, str]:
    """A queue and its token (shown once)."""
    if session.scalar(select(ComputeQueue.id).where(ComputeQueue.name == name)):
        raise Conflict(f"A compute queue named '{name}' exists.")
    token = token or new_token()
    queue = ComputeQueue(name=name, token_hash=hash_token(token), owner=owner)
    session.add(queue)
    session.flush()
    return queue, token


def rotate_token(queue: ComputeQueue) -> str:
    token = new_token()
    queue.token_hash = hash_token(token)
    return token


def ensure_broker_accounts(session: Session, brokers: QueueBrokers) -> None:
    """Give every queue its virtual host and broker user (made again, idempotently, at each start:
    a broker that lost them, or a queue made before the management API was configured)."""
    for queue in session.scalars(select(ComputeQueue).order_by(ComputeQueue.id)):
        password = queue.broker_password or new_password()
        brokers.ensure(queue.name, password)
        queue.broker_password = password
        session.commit()


def give_broker_account(queue: ComputeQueue, brokers: QueueBrokers) -> None:
    """A new queue's own virtual host and user, when queues are isolated (before the commit)."""
    if brokers.isolated:
        queue.broker_password = new_password()
        brokers.ensure(queue.name, queue.broker_password)


def rekey_broker_account(queue: ComputeQueue, brokers: QueueBrokers) -> None:
    """A new broker password for a queue being re-keyed; its workers' connections are closed."""
    if brokers.isolated:
        password = new_password()
        brokers.rekey(queue.name, password)
        queue.broker_password = password


def remove_broker_account(queue: ComputeQueue, brokers: QueueBrokers) -> None:
    """Remove a deleted queue's virtual host and broker user, when queues are isolated."""
    if brokers.isolated:
        brokers.remove(queue.name)


def ensure_default_queue(session: Session, data_dir: str, token: str | None) -> str | None:
    """The queue competitions use unless they name another. A configured token is authoritative
    (the queue is re-keyed to it). Without one, an existing queue keeps its token (a replica with
    a fresh data_dir must not lock every worker out); a new queue gets the token kept in
    ``data_dir/default_queue_token`` (created once). Returns the token when known here."""
    queue = session.scalar(select(ComputeQueue).where(ComputeQueue.name == DEFAULT_QUEUE))
    if not token and queue is not None:
        path = os.path.join(data_dir, "default_queue_token")
        if os.path.exists(path):
            with open(path) as f:
                stored = f.read().strip()
            if hmac.compare_digest(queue.token_hash, hash_token(stored)):
                return stored
        return None
    if not token:
        token = read_or_create(os.path.join(data_dir, "default_queue_token"), new_token)
    if queue is None:
        try:
            with session.begin_nested():
                create_queue(session, DEFAULT_QUEUE, None, token)
        except IntegrityError:  # a replica starting at the same time created it first
            queue = session.scalar(select(ComputeQueue).where(ComputeQueue.name == DEFAULT_QUEUE))
    if queue is not None and not hmac.compare_digest(queue.token_hash, hash_token(token)):
        queue.token_hash = hash_token(token)
    session.commit()
    return token


#: the queue a worker's token names, built once: every request of a worker reads it
_BY_TOKEN = select(ComputeQueue).where(ComputeQueue.token_hash == bindparam("token_hash"))


def queue_for_token(session: Session, token: str | None) -> ComputeQueue:
    if not token:
        raise NotAuthenticated("Workers send their queue token in an 'Authorization: Bearer <token>' header.")
    queue = session.scalar(_BY_TOKEN, {"token_hash": hash_token(token)})
    if queue is None:
        raise NotAuthenticated("This queue token is not valid.")
    return queue


#: the columns of a queue that ``RememberedTokens`` keeps
_QUEUE_COLUMNS = tuple(column.key for column in ComputeQueue.__table__.columns)


class RememberedTokens:
    """The queue each valid worker token names, by the token's sha256, each good while the change
    feed's ``queue_generation`` has not moved since it was read (``leaderboards.changes``, which
    counts the writes of ``compute_queues`` apart). A worker's claim, heartbeat and finish then
    skip the token's read, one round trip of each (bench B6).

    A rotated token or a deleted queue moves the generation when its transaction commits: in
    this process before the commit returns, in the others when the notification arrives (under
    a millisecond on one network). While the feed is not live (its listener reconnecting, or the
    triggers missing) nothing is remembered and every call reads the token. Only tokens that
    named a queue are kept (a flood of wrong ones costs no memory), at most ``size``."""

    def __init__(self, feed: ChangeFeed, size: int = 1000) -> None:
        self._queues: Remembered[str, dict[str, Any]] = Remembered(feed, size, counter="queue_generation")

    def queue_for_token(self, session: Session, token: str | None) -> ComputeQueue:
        """``queue_for_token``, from memory when the token's queue is remembered and current: a
        queue object of ``session`` built from the remembered columns, without a statement."""
        if not token:
            return queue_for_token(session, token)  # the refusal
        digest = hash_token(token)
        columns = self._queues.get(digest)
        if columns is not None:
            queue = ComputeQueue(**columns)
            make_transient_to_detached(queue)  # as if loaded: the session writes nothing of it
            session.add(queue)
            return queue
        generation = self._queues.now()  # before the read: one read across a change is never kept
        queue = queue_for_token(session, token)
        self._queues.put(digest, generation, {key: getattr(queue, key) for key in _QUEUE_COLUMNS})
        return queue


def find_queue(session: Session, name: str) -> ComputeQueue:
    queue = session.scalar(select(ComputeQueue).where(ComputeQueue.name == name))
    if queue is None:
        raise NotFound(f"No compute queue named '{name}'.")
    return queue


def record_worker_status(session: Session, queue: ComputeQueue, status: dict) -> Worker:
    """A worker's own heartbeat (``protocol.WorkerStatus``): alive now, its version, and why it
    takes no job (None: it takes jobs)."""
    facts = {key: status[key] for key in ("version", "protocol") if key in status}
    return touch_worker(session, queue, status["worker"], status.get("hostname", ""),
                        cannot_work=status.get("cannot_work") or None, **facts)


def touch_worker(session: Session, queue: ComputeQueue, name: str, hostname: str = "", **facts: Any) -> Worker:
    """Record that a worker of ``queue`` is alive, with ``facts`` (columns of ``Worker``) it told."""
    worker = session.scalar(select(Worker).where(Worker.queue_id == queue.id, Worker.name == name))
    if worker is None:
        worker = Worker(queue_id=queue.id, name=name, hostname=hostname)
        session.add(worker)
    worker.last_seen = utcnow()
    if hostname:
        worker.hostname = hostname
    for key, value in facts.items():
        setattr(worker, key, value)
    session.flush()
    return worker
