"""Where a waiting submission stands in its compute queue, why it waits, and when it should start.

Waiting is not failing: in a deadline rush, submissions queue behind busy workers for as long as
the rush lasts. One query reads a waiting submission's *standing*: its queue (the one its attempt
was sent to), how many queued attempts are ahead of it (attempts leave a queue in id order: the
dispatcher publishes the outbox in id order and a queue has no priorities), how many wait in all,
and how many of the queue's workers are *live*. A worker is live when it claimed or heartbeat
within ``worker_alive_leases`` leases (busy workers heartbeat every third of a lease; an idle one
takes new work within seconds, so a queued attempt with no live worker has nobody to run it) and
its last status report did not say it cannot work (a full disk, an engine that does not answer).
Both the ``waiting`` sentence and the ``queue`` place of a submission's answer come from it.

The estimate simulates the live workers: each running attempt frees its worker when it reaches
the typical run time (the median of the queue's recent finished attempts), every attempt ahead
then takes the first free worker for a typical run, and this one starts at the next free moment.

The reaper asks a different question of the same ``last_seen``: was the queue *served* (a worker
seen) at any time in the give-up window; it fails unclaimed work only when it was not.
"""

from __future__ import annotations

import heapq
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from ..clock import isoformat, utcnow
from ..orm import (
    Attempt,
    AttemptState,
    AttemptStep,
    ComputeQueue,
    DispatchOutbox,
    Submission,
    Worker,
)
from .limits import Limits

#: How many of the queue's latest finished attempts the typical run time is the median of.
RECENT_RUNS = 20
NO_WORKER = "no worker is serving this queue"


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


def alive_since(limits: Limits, now: datetime) -> datetime:
    """The oldest ``last_seen`` of a live worker: ``worker_alive_leases`` leases ago."""
    return now - timedelta(seconds=limits.worker_alive_leases * limits.lease_seconds)


@dataclass(frozen=True)
class Standing:
    """A submission's first queued attempt (its own or a task's) in queue ``name``: ``ahead`` of
    ``waiting`` queued attempts are before it, and ``workers`` of the queue are live."""

    name: str
    attempt_id: int
    step: AttemptStep
    ahead: int
    waiting: int
    workers: int

    def reason(self) -> str:
        """Why it waits, in one sentence."""
        if not self.workers:
            return f"waiting for a compute worker: {NO_WORKER} right now"
        return f"waiting for a compute worker: {self.ahead} ahead"


def standing(session: Session, submission: Submission, limits: Limits, now: datetime | None = None) -> Standing | None:
    """The standing of the submission's (or one of its tasks') earliest queued attempt, in one
    query; None when nothing of it waits."""
    other, other_outbox = aliased(Attempt), aliased(DispatchOutbox)
    queued_here = (select(func.count(other.id)).join(other_outbox, other_outbox.attempt_id == other.id)
                   .where(other_outbox.queue == DispatchOutbox.queue, other.state == AttemptState.queued))
    live = (select(func.count(Worker.id)).join(ComputeQueue, ComputeQueue.id == Worker.queue_id)
            .where(ComputeQueue.name == DispatchOutbox.queue, Worker.last_seen >= alive_since(limits, now or utcnow()),
                   Worker.cannot_work.is_(None)))
    own = select(Submission.id).where(or_(Submission.id == submission.id, Submission.parent_id == submission.id))
    row = session.execute(
        select(DispatchOutbox.queue, Attempt.id, Attempt.step,
               queued_here.where(other.id < Attempt.id).scalar_subquery(), queued_here.scalar_subquery(),
               live.scalar_subquery())
        .join(DispatchOutbox, DispatchOutbox.attempt_id == Attempt.id)
        .where(Attempt.submission_id.in_(own), Attempt.state == AttemptState.queued)
        .order_by(Attempt.id).limit(1)
    ).first()
    return Standing(*row) if row is not None else None


@dataclass(frozen=True)
class QueuePlace:
    """A waiting attempt's place: 1-based ``position`` among ``waiting`` queued attempts."""

    name: str
    position: int
    waiting: int
    running: int
    workers: int
    typical_run_seconds: float | None
    estimated_start: datetime | None
    estimated_finish: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "position": self.position, "waiting": self.waiting, "running": self.running,
            "workers": self.workers, "typical_run_seconds": self.typical_run_seconds,
            "estimated_start": isoformat(self.estimated_start), "estimated_finish": isoformat(self.estimated_finish),
            "message": NO_WORKER if not self.workers else None,
        }


def start_offset(ahead: int, workers: int, running_left: list[float], typical: float) -> float:
    """Seconds until a worker is free for the attempt with ``ahead`` attempts before it, given
    the seconds each running attempt still needs; every attempt ahead runs ``typical`` seconds."""
    free = sorted(running_left) + [0.0] * max(0, workers - len(running_left))
    heapq.heapify(free)
    for _ in range(ahead):
        heapq.heappush(free, heapq.heappop(free) + typical)
    return free[0]


def queue_place(session: Session, standing: Standing, now: datetime | None = None) -> QueuePlace:
    """The standing with what runs in its queue and, when workers live, an estimated start and finish."""
    now = now or utcnow()
    in_queue = (select(Attempt.started_at, Attempt.finished_at)
                .join(DispatchOutbox, DispatchOutbox.attempt_id == Attempt.id)
                .where(DispatchOutbox.queue == standing.name))
    started = [s for s, _ in session.execute(in_queue.where(Attempt.state == AttemptState.running))]
    recent = session.execute(
        in_queue.where(Attempt.state == AttemptState.succeeded, Attempt.started_at.is_not(None),
                       Attempt.finished_at.is_not(None))
        .order_by(Attempt.finished_at.desc()).limit(RECENT_RUNS)).all()
    typical = statistics.median((f - s).total_seconds() for s, f in recent) if recent else None
    start = finish = None
    if standing.workers and typical is not None:
        left = [max(0.0, typical - (now - s).total_seconds()) for s in started if s is not None]
        start = now + timedelta(seconds=start_offset(standing.ahead, standing.workers, left, typical))
        steps = 2 if standing.step == AttemptStep.predict else 1  # a predict step is followed by scoring
        finish = start + timedelta(seconds=typical * steps)
    return QueuePlace(name=standing.name, position=standing.ahead + 1, waiting=standing.waiting,
                      running=len(started), workers=standing.workers, typical_run_seconds=typical,
                      estimated_start=start, estimated_finish=finish)
