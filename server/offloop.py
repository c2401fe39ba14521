"""Database work off the event loop: a bounded thread pool, and a guard that catches what is not.

The service keeps SQLAlchemy's synchronous sessions (one per request) and runs every API verb's
database work in ``DatabasePool``, a fixed number of threads, while the event loop only accepts
connections, authenticates (the hub client is asynchronous) and writes answers. A slow query (a
CSV export, a 1,000,000-row rebuild) then holds one thread, not every request. ``LoopGuard``
watches each engine: a statement run on the loop's thread is a bug this design exists to rule
out, refused loudly in the tests (``PodiumService.refuse_database_on_loop``) and logged and
counted in production (``podium_database_statements_on_loop_total``).

Why threads and not SQLAlchemy's asyncio extension: every domain module takes a ``Session`` and
calls it synchronously; asyncio would mean an ``await`` at each of several hundred calls and
lazy loads that fail at run time where one was missed. A pool gives the same guarantee with the
domain code unchanged; ``apihandlers.base.api`` applies it to every verb at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, event

from .errors import DatabaseOnEventLoop

log = logging.getLogger(__name__)

T = TypeVar("T")


class DatabasePool:
    """The threads that run request handlers' database work: bounded, so a burst of slow requests
    queues here instead of opening more connections than the database pool holds."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="podium-db")

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` in one of the pool's threads; the loop serves other requests meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def run_without_awaiting(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a verb's coroutine to its end in the calling (pool) thread.

    A verb run in the pool does its blocking work directly (it is already off the loop), so it
    has nothing to await; one that awaits is refused here, by name, rather than being driven by
    an event loop it does not belong to."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError(
        f"{coroutine.__qualname__} awaited inside the database pool; a verb does its blocking "
        "work directly there (it runs off the event loop already)"
    )


class LoopGuard:
    """Watches engines for statements run on the event loop's thread.

    ``loop_thread`` is set when the service's loop starts (``PodiumService.start_background``);
    before that (start-up, migrations) nothing is checked. ``strict`` raises
    ``DatabaseOnEventLoop``; otherwise the statement runs, counted in ``on_loop`` and logged once
    per statement text."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.loop_thread: int | None = None
        self.on_loop = 0
        self._logged: set[str] = set()

    def watch(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._check)

    def _check(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() != self.loop_thread:
            return
        self.on_loop += 1
        if statement not in self._logged and len(self._logged) < 100:
            self._logged.add(statement)
            log.warning("A database statement ran on the event loop (it blocks every request): %.120s", statement)
        if self.strict:
            raise DatabaseOnEventLoop(statement)


#: net allocations of tracked objects after which the collector examines its youngest generation
#: (Python's default is 700). A request makes thousands (rows, ORM objects, their state), so at
#: 700 a pass came every few requests: 13% of a service process's CPU under bench B4, 2% at 10,000.
#: Reference counting frees almost all of them anyway; only cycles wait for a pass
YOUNG_GENERATION_THRESHOLD = 10_000


def tune_collector() -> None:
    """Examine the youngest generation every ``YOUNG_GENERATION_THRESHOLD`` allocations; the
    older generations keep their ratios."""
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


_paused = 0
_resume = True
_paused_lock = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a database thread builds a million objects.

    Each full pass of the collector walks every object of the process with every thread stopped,
    the event loop's too: during a 1,000,000-row leaderboard rebuild those passes took up to a
    second each on a 2-core host (bench B9). Reference counting still frees what is not a cycle;
    the collector resumes when the last paused section ends. Reentrant across threads."""
    global _paused, _resume
    with _paused_lock:
        if _paused == 0:
            _resume = gc.isenabled()  # one paused by someone else stays paused
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()
