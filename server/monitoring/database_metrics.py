"""The metrics that live in the database, read at scrape time so that every replica answers the same.

``DatabaseCollector`` is a prometheus-client custom collector: nothing is counted in the process;
each scrape runs a handful of aggregate queries (submissions by status, attempts by state, each
queue's backlog, workers' last heartbeat, and the programs' run times as histograms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..orm import (
    Attempt,
    AttemptState,
    AttemptStep,
    ComputeQueue,
    DispatchOutbox,
    Submission,
    SubmissionStatus,
    Worker,
)

#: upper bounds (seconds) of the run-time histograms: from a one-second scoring script to the hour
#: a heavy prediction step may take
DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _epoch(moment: datetime) -> float:
    """A naive UTC datetime (the database's) as Unix seconds."""
    return (moment - datetime(1970, 1, 1)).total_seconds()


def submissions_by_status(session: Session) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in SubmissionStatus), 0)
    for status, n in session.execute(select(Submission.status, func.count()).group_by(Submission.status)):
        counts[status.value] = n
    return counts


def attempts_by_state(session: Session) -> dict[tuple[str, str], int]:
    counts = {(state.value, step.value): 0 for state in AttemptState for step in AttemptStep}
    rows = session.execute(
        select(Attempt.state, Attempt.step, func.count()).group_by(Attempt.state, Attempt.step)
    )
    for state, step, n in rows:
        counts[(state.value, step.value)] = n
    return counts


def queue_backlog(session: Session, now: datetime) -> dict[str, tuple[int, float]]:
    """Each queue's queued attempts and the age in seconds of its oldest one (0 when empty)."""
    backlog = {name: (0, 0.0) for name in session.scalars(select(ComputeQueue.name))}
    rows = session.execute(
        select(DispatchOutbox.queue, func.count(func.distinct(Attempt.id)), func.min(Attempt.created_at))
        .join(Attempt, Attempt.id == DispatchOutbox.attempt_id)
        .where(Attempt.state == AttemptState.queued)
        .group_by(DispatchOutbox.queue)
    )
    for name, depth, oldest in rows:
        backlog[name] = (depth, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return backlog


@dataclass(frozen=True)
class WorkerSeen:
    """What the database knows of one worker that was ever seen."""

    queue: str
    name: str
    hostname: str
    last_seen: float  # Unix seconds
    version: str
    cannot_work: str | None


def worker_heartbeats(session: Session) -> list[WorkerSeen]:
    """Every worker that was ever seen, with its last heartbeat, version and state."""
    rows = session.execute(
        select(ComputeQueue.name, Worker.name, Worker.hostname, Worker.last_seen, Worker.version, Worker.cannot_work)
        .join(ComputeQueue, ComputeQueue.id == Worker.queue_id)
        .where(Worker.last_seen.is_not(None))
        .order_by(Worker.id)
    )
    return [WorkerSeen(queue, name, hostname or "", _epoch(seen), version or "", cannot_work)
            for queue, name, hostname, seen, version, cannot_work in rows]


def run_time_histograms(session: Session) -> dict[str, tuple[list[int], int, float]]:
    """Per step: cumulative counts per bucket of the programs' run time reported by workers,
    the total count and the sum of seconds, in one pass over the finished attempts."""
    elapsed = Attempt.elapsed
    columns = [func.sum(case((elapsed <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    rows = session.execute(
        select(Attempt.step, func.count(), func.sum(elapsed), *columns)
        .where(elapsed.is_not(None))
        .group_by(Attempt.step)
    )
    result = {step.value: ([0] * len(DURATION_BUCKETS), 0, 0.0) for step in AttemptStep}
    for step, count, total, *cumulative in rows:
        result[step.value] = ([int(c or 0) for c in cumulative], count, float(total or 0.0))
    return result


class DatabaseCollector(Collector):
    """Reads the platform's state from the database on every scrape (see the module docstring)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def describe(self) -> list[Metric]:
        # no queries at registration time: the database may not be reachable yet
        return []

    def collect(self) -> Iterator[Metric]:
        with self.session_factory() as session:
            yield from self._collect(session, utcnow())

    def _collect(self, session: Session, now: datetime) -> Iterator[Metric]:
        submissions = GaugeMetricFamily(
            "podium_submissions_recorded", "Submissions in the database, by status.", labels=["status"]
        )
        for status, n in submissions_by_status(session).items():
            submissions.add_metric([status], n)
        yield submissions

        attempts = GaugeMetricFamily(
            "podium_attempts_recorded",
            "Attempts (one try of one step of a submission) in the database, by state and step.",
            labels=["state", "step"],
        )
        for (state, step), n in attempts_by_state(session).items():
            attempts.add_metric([state, step], n)
        yield attempts

        depth = GaugeMetricFamily(
            "podium_queue_attempts_waiting", "Attempts queued for a worker, per compute queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "podium_queue_oldest_waited_seconds",
            "Age in seconds of the oldest attempt still queued, per compute queue (0 when none waits).",
            labels=["queue"],
        )
        for name, (n, age) in sorted(queue_backlog(session, now).items()):
            depth.add_metric([name], n)
            oldest.add_metric([name], age)
        yield depth
        yield oldest

        seen = GaugeMetricFamily(
            "podium_worker_seen_timestamp_seconds",
            "When a worker last claimed or heartbeat (Unix seconds), per queue and worker name.",
            labels=["queue", "worker", "hostname"],
        )
        cannot = GaugeMetricFamily(
            "podium_worker_cannot_work",
            "1 while a worker takes no job because it cannot work (disk nearly full, Docker engine not "
            "answering; 'reason' says which, as its last heartbeat did), 0 while it takes jobs.",
            labels=["queue", "worker", "reason"],
        )
        info = GaugeMetricFamily(
            "podium_worker_info", "Always 1: the jupyter-podium version a worker last reported.",
            labels=["queue", "worker", "version"],
        )
        for w in worker_heartbeats(session):
            seen.add_metric([w.queue, w.name, w.hostname], w.last_seen)
            cannot.add_metric([w.queue, w.name, (w.cannot_work or "")[:200]], 1 if w.cannot_work else 0)
            info.add_metric([w.queue, w.name, w.version or "unknown"], 1)
        yield seen
        yield cannot
        yield info

        ran = HistogramMetricFamily(
            "podium_attempt_ran_seconds",
            "Seconds the programs of a finished attempt ran, as its worker reported: step "
            "'predict' is the prediction (run) step, 'score' the scoring step.",
            labels=["step"],
        )
        for step, (cumulative, count, total) in run_time_histograms(session).items():
            buckets = [(repr(b), c) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
            ran.add_metric([step], buckets + [("+Inf", count)], total)
        yield ran
