"""Why a queued submission waits, and whether anyone serves its queue.

Waiting is not failing: in a deadline rush, submissions queue behind busy workers for as long as
the rush lasts. A queue is *served* while one of its workers was seen (a claim or a heartbeat)
within the reaper's give-up window; a worker is *live* when seen within a few leases (busy
workers heartbeat every third of a lease). The reaper fails an unclaimed submission only when
its queue was not served for the whole window; the participant reads the reason meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..orm import Attempt, AttemptState, ComputeQueue, DispatchOutbox, Submission, Worker
from .limits import Limits


def queue_last_seen(session: Session, queue: str) -> datetime | None:
    """When a worker of the named queue last claimed or heartbeat (None: never)."""
    return session.scalar(
        select(func.max(Worker.last_seen)).join(ComputeQueue, ComputeQueue.id == Worker.queue_id)
        .where(ComputeQueue.name == queue)
    )


def give_up_window(limits: Limits) -> timedelta:
    """How long a queue may go unserved before its unclaimed submissions fail."""
    return timedelta(seconds=limits.max_attempts * limits.unclaimed_timeout)


def served(last_seen: datetime | None, limits: Limits, now: datetime) -> bool:
    """Whether a worker served the queue within the give-up window."""
    return last_seen is not None and last_seen >= now - give_up_window(limits)


def live(last_seen: datetime | None, limits: Limits, now: datetime) -> bool:
    """Whether a worker of the queue is alive now (seen within ``worker_alive_leases`` leases)."""
    return last_seen is not None and last_seen >= now - timedelta(
        seconds=limits.worker_alive_leases * limits.lease_seconds)


def reason(session: Session, submission: Submission, limits: Limits) -> str | None:
    """What a submission with a queued attempt (its own or a task's) waits for; None otherwise."""
    ids = [submission.id, *session.scalars(select(Submission.id).where(Submission.parent_id == submission.id))]
    queued = session.execute(
        select(Attempt.id, DispatchOutbox.queue).join(DispatchOutbox, DispatchOutbox.attempt_id == Attempt.id)
        .where(Attempt.submission_id.in_(ids), Attempt.state == AttemptState.queued)
        .order_by(Attempt.id).limit(1)
    ).first()
    if queued is None:
        return None
    attempt_id, queue = queued
    if not live(queue_last_seen(session, queue), limits, utcnow()):
        return "waiting for a compute worker: no worker is serving this queue right now"
    ahead = session.scalar(
        select(func.count(Attempt.id)).join(DispatchOutbox, DispatchOutbox.attempt_id == Attempt.id)
        .where(DispatchOutbox.queue == queue, Attempt.state == AttemptState.queued, Attempt.id < attempt_id)
    )
    return f"waiting for a compute worker: {ahead} ahead"
