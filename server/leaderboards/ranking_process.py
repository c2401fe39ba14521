"""A big phase's full ranking in a child process, so the service's event loop keeps the GIL.

A full rebuild reads every finished submission of the phase with its scores and ranks them in
Python: at 1,000,000 rows, half a minute in which the database thread held the interpreter's
lock about half the time while the event loop waited for its turns (bench B9: leaderboard reads'
p99 2.06x the quiet one). ``RankingProcess`` moves the read and the ranking to a child process
with a database engine of its own, at a lower CPU priority (``CHILD_NICENESS``), so it takes
neither the interpreter's lock nor a busy core from the event loops; the service's database
thread waits for the ranked entries (about one per competitor) without holding the lock, then
writes them in its own transaction as an in-thread rebuild does (``store.rebuild``), so the page
cache's invalidation is unchanged.

Consistency. The parent bumps the phase's ``leaderboard_version`` before it asks the child, which
locks the phase row until the parent commits; finishing a submission takes the same lock
(``lifecycle.finish`` → ``store.rebuild`` with ``owner``) after writing its status and scores.
So the child's read, which starts later, sees every finish that committed before the parent got
the lock, and any later finish waits and then re-ranks its owner from the entries the parent
stored. What the child cannot see is the parent's own uncommitted work: the ranking's definition
(columns, rule, primary column) travels in the ``RankingRequest``, and only a caller whose
transaction changed nothing else the ranking reads (``rebuild(..., rows_unchanged=True)``: a
leaderboard redefined, a phase's rule changed) may use the child. A team's join, which moves
submissions into the team in the same transaction, ranks in the thread.

What stays in the service's thread: SQLite (the embedded default), phases with no more finished
submissions than ``PodiumService.rebuild_in_child_process_above`` (the child's start and
connection would cost more than they save), and the ``all`` rule, where every submission is an
entry: the parent would still build and insert a row per submission, and unpickling a million
entries holds the GIL in one call, longer than any pause of the streamed read it replaces.

Failure. A child that dies (killed, out of memory) or fails (its database connection refused)
has written nothing: the rebuild ranks in the thread instead, with a warning, and the next one
starts a new child. Once the service stops, a rebuild still waiting for its child raises
``RebuildInterrupted`` and its transaction rolls back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.process import BaseProcess

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ..db import count_at_most
from ..errors import RebuildInterrupted
from ..offloop import collector_paused
from ..orm import Phase, Submission
from . import store
from .ranking import ColumnSpec, RankedEntry, build_leaderboard

log = logging.getLogger(__name__)

#: the child's scheduling priority below the service's: without it the child took a core of its
#: own from the event loops on a busy 2-core host and the reads' p99 was no better than with the
#: ranking in a thread (bench B9); at 10 it gets about a tenth of a core the loops want, all of
#: an idle one. A rebuild on a saturated host then takes longer, holding its phase's lock longer.
CHILD_NICENESS = 10

#: the child's database connections carry this name and its pid (``pg_stat_activity.application_name``)
APPLICATION_NAME = "podium leaderboard ranking"


@dataclass(frozen=True)
class RankingRequest:
    """What the child needs: where to read, and the ranking's definition as the parent's
    transaction has it (possibly not committed yet)."""

    db_url: str
    phase_id: int
    columns: tuple[ColumnSpec, ...]
    rule: str
    primary_key: str | None


@dataclass(frozen=True)
class RankingResult:
    """The child's answer: the ranked entries as plain tuples (``RankedEntry`` fields in order)."""

    child_pid: int
    submissions: int
    entries: list[tuple[int, int, str, datetime, dict[str, float | None]]]


def rank_committed(request: RankingRequest) -> RankingResult:
    """The child's work: read the phase's committed finished submissions and rank them.

    Its one reading statement starts after the parent holds the phase's lock (see the module's
    docstring); the engine is the child's own and is closed before it answers."""
    engine = create_engine(request.db_url, poolclass=NullPool,
                           connect_args={"application_name": f"{APPLICATION_NAME} (pid {os.getpid()})"})
    try:
        with collector_paused(), Session(engine) as session:
            phase = session.get(Phase, request.phase_id)
            if phase is None:
                raise LookupError(f"phase {request.phase_id} is not committed")
            submissions = store.scored_submissions(session, phase)
            ranked = build_leaderboard(submissions, request.columns, request.rule, request.primary_key)  # type: ignore[arg-type]
            entries = [(e.rank, e.submission_id, e.owner, e.created_at, e.values) for e in ranked]
    finally:
        engine.dispose()
    return RankingResult(os.getpid(), len(submissions), entries)


def _child_started() -> None:
    """Run by each child as it starts: below the service's CPU priority (``CHILD_NICENESS``)."""
    os.nice(CHILD_NICENESS)


class RankingProcess:
    """The child processes that rank big phases for one service process.

    A child is spawned per rebuild and exits after it: it gives back the memory of a million rows
    at once, and no idle child holds 50 MB beside each service process between rebuilds, which
    are rare (a leaderboard redefined); its start (about a second, importing the ORM) is small
    beside the rebuild it serves. ``counts`` and ``failures`` feed ``/metrics``
    (``podium_leaderboard_rebuilds_total``)."""

    def __init__(self, above: int) -> None:
        #: phases with more finished submissions than this rank in a child; 0: never
        self.above = above
        self.counts = {"process": 0, "thread": 0}
        self.failures = 0
        self.last_child_pid: int | None = None
        self._children: set[BaseProcess] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def rank(self, session: Session, phase_id: int, columns: Sequence[ColumnSpec], rule: str,
             primary_key: str | None, *, rows_unchanged: bool) -> list[RankedEntry] | None:
        """The phase's full ranking from a child, or None when the caller's thread ranks it
        (a small phase, SQLite, the ``all`` rule, rows changed in the caller's transaction, or a
        child that failed). Called with the phase's lock held (its version bumped)."""
        if not (rows_unchanged and self._worth_a_child(session, phase_id, rule)):
            self._count("thread")
            return None
        request = RankingRequest(session.get_bind().url.render_as_string(hide_password=False), phase_id,
                                 tuple(columns), rule, primary_key)
        started = time.perf_counter()
        try:
            result = self._start(request).result()  # this thread waits without the GIL
        # the child could not start (OSError), died (BrokenProcessPool) or failed (a database error)
        except (Exception, CancelledError) as e:
            if self._stopped:
                raise RebuildInterrupted() from e
            with self._lock:
                self.failures += 1
            log.warning("Ranking phase %d in a child process failed (%s: %s); ranking it in the service's "
                        "thread instead", phase_id, type(e).__name__, e)
            self._count("thread")
            return None
        self._count("process")
        self.last_child_pid = result.child_pid
        log.info("Phase %d: %d submissions ranked in child process %d in %.1f s (%d entries)", phase_id,
                 result.submissions, result.child_pid, time.perf_counter() - started, len(result.entries))
        return [RankedEntry(*entry) for entry in result.entries]

    def _worth_a_child(self, session: Session, phase_id: int, rule: str) -> bool:
        if self.above <= 0 or rule == "all" or session.get_bind().dialect.name != "postgresql":
            return False
        # at most ``above + 1`` index entries, not the phase
        big = count_at_most(Submission.id, store.ranked_conditions(phase_id), self.above + 1)
        return (session.scalar(big) or 0) > self.above

    def _count(self, where: str) -> None:
        with self._lock:
            self.counts[where] += 1

    def _start(self, request: RankingRequest) -> Future[RankingResult]:
        """A new child ranking ``request``; it exits when done (its pool is shut down at once)."""
        with self._lock:
            if self._stopped:
                raise RebuildInterrupted()
            # spawn, not fork: a forked copy of a threaded service could inherit a lock another thread held
            pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"), _child_started)
            future = pool.submit(rank_committed, request)
            children = set(pool._processes.values())  # started by submit; no public handle before Python 3.14
            pool.shutdown(wait=False)
            self._children |= children
        future.add_done_callback(lambda _: self._forget(children))
        return future

    def _forget(self, children: set[BaseProcess]) -> None:
        with self._lock:
            self._children -= children

    def stop(self) -> None:
        """End the children (the service stops): a rebuild waiting for one raises ``RebuildInterrupted``."""
        with self._lock:
            self._stopped = True
            children, self._children = self._children, set()
        for child in children:
            child.terminate()
