"""Where a waiting submission stands in its compute queue, and when it should start and finish.

Attempts leave a queue in the order they were queued (the dispatcher publishes the outbox in id
order and a queue has no priorities), so a waiting attempt's place is the number of queued
attempts of the same queue with a smaller id, plus one. The estimate simulates the queue's
workers: each running attempt frees its worker when it reaches the typical run time (the median
of the queue's recent finished attempts), every attempt ahead then takes the first free worker
for a typical run, and this one starts at the next free moment. Workers are those that claimed
or heartbeat recently; with none, no time is promised and the answer says so.
"""

from __future__ import annotations

import heapq
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ..clock import isoformat, utcnow
from ..orm import (
    Attempt,
    AttemptState,
    AttemptStep,
    Competition,
    ComputeQueue,
    Phase,
    Submission,
    Worker,
)
from .queues import DEFAULT_QUEUE

#: How many of the queue's latest finished attempts the typical run time is the median of.
RECENT_RUNS = 20
#: A worker counts as serving its queue if it claimed or heartbeat within this many seconds (or
#: three leases, if longer): an idle worker says nothing to the service while it waits.
WORKER_SEEN_SECONDS = 600


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
            "message": "no worker is serving this queue" if not self.workers else None,
        }


def _in_queue(stmt: Select, queue: ComputeQueue | None, name: str) -> Select:
    """``stmt`` over attempts, kept to those of competitions whose work goes to queue ``name``."""
    stmt = stmt.join(Submission, Attempt.submission_id == Submission.id) \
        .join(Phase, Submission.phase_id == Phase.id).join(Competition, Phase.competition_id == Competition.id)
    if name == DEFAULT_QUEUE:
        default = [Competition.queue_id.is_(None)]
        if queue is not None:
            default.append(Competition.queue_id == queue.id)
        return stmt.where(or_(*default))
    return stmt.where(Competition.queue_id == queue.id)


def start_offset(ahead: int, workers: int, running_left: list[float], typical: float) -> float:
    """Seconds until a worker is free for the attempt with ``ahead`` attempts before it, given
    the seconds each running attempt still needs; every attempt ahead runs ``typical`` seconds."""
    free = sorted(running_left) + [0.0] * max(0, workers - len(running_left))
    heapq.heapify(free)
    for _ in range(ahead):
        heapq.heappush(free, heapq.heappop(free) + typical)
    return free[0]


def queue_place(session: Session, submission: Submission, lease_seconds: int) -> QueuePlace | None:
    """The place of the submission's queued attempt, or None when it has none waiting."""
    waiting = [a for a in submission.attempts if a.state == AttemptState.queued]
    if not waiting:
        return None
    attempt = min(waiting, key=lambda a: a.id)
    queue = submission.phase.competition.queue
    name = queue.name if queue is not None else DEFAULT_QUEUE
    if queue is None:
        queue = session.scalar(select(ComputeQueue).where(ComputeQueue.name == DEFAULT_QUEUE))
    queued = _in_queue(select(func.count(Attempt.id)), queue, name).where(Attempt.state == AttemptState.queued)
    total = session.scalar(queued) or 0
    ahead = session.scalar(queued.where(Attempt.id < attempt.id)) or 0
    now = utcnow()
    started = list(session.scalars(_in_queue(select(Attempt.started_at), queue, name)
                                   .where(Attempt.state == AttemptState.running)))
    seen_since = now - timedelta(seconds=max(WORKER_SEEN_SECONDS, 3 * lease_seconds))
    workers = session.scalar(select(func.count(Worker.id)).where(
        Worker.queue_id == queue.id, Worker.last_seen >= seen_since)) if queue is not None else 0
    workers = max(workers or 0, len(started))
    recent = session.execute(
        _in_queue(select(Attempt.started_at, Attempt.finished_at), queue, name)
        .where(Attempt.state == AttemptState.succeeded, Attempt.started_at.is_not(None),
               Attempt.finished_at.is_not(None))
        .order_by(Attempt.finished_at.desc()).limit(RECENT_RUNS)).all()
    typical = statistics.median((f - s).total_seconds() for s, f in recent) if recent else None
    start = finish = None
    if workers and typical is not None:
        left = [max(0.0, typical - (now - s).total_seconds()) for s in started if s is not None]
        start = now + timedelta(seconds=start_offset(ahead, workers, left, typical))
        steps = 2 if attempt.step == AttemptStep.predict else 1  # a predict step is followed by scoring
        finish = start + timedelta(seconds=typical * steps)
    return QueuePlace(name=name, position=ahead + 1, waiting=total, running=len(started), workers=workers,
                      typical_run_seconds=typical, estimated_start=start, estimated_finish=finish)
