"""Whether the parts the service depends on answer: the database, the broker and the storage.

Each check runs in a thread of its own pool with a time limit, so a hung part answers "down"
in seconds instead of hanging the probe. Anyone may call the probe, so probes arriving together
share one run, and an answer is reused for ``CACHE_SECONDS``: a flood of probes does not become a
flood of database and broker connections. The answer names each part and, when it is down, only
the class of the error (the details, which may name hosts or users, go to the service's log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..storage import Storage

log = logging.getLogger("podium.health")
PROBE_KEY = "_podium/health-probe"
CHECK_TIMEOUT = 5.0
CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class PartState:
    """One part's answer to its check."""

    ok: bool
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"ok": True} if self.ok else {"ok": False, "error": self.error}


def check_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def check_broker(connect: Callable[[], object]) -> None:
    """``connect`` gives a kombu connection with the service's own broker settings."""
    with connect() as conn:  # type: ignore[attr-defined]
        conn.connect()


def check_storage(storage: Storage) -> None:
    """A small write and its read back: the service needs both from its storage."""
    storage.put(PROBE_KEY, b"ok")
    if storage.stat(PROBE_KEY) is None:
        raise FileNotFoundError("the probe object just written is missing")


class HealthChecks:
    """Runs every part's check at once and reports each part's state."""

    def __init__(self, checks: dict[str, Callable[[], None]], timeout: float = CHECK_TIMEOUT,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.checks = checks
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="podium-health")
        self._running: asyncio.Future[dict[str, PartState]] | None = None
        self._answer: tuple[float, dict[str, PartState]] | None = None

    async def run(self) -> dict[str, PartState]:
        """Every part's state: the last answer if it is recent, else a run shared by every
        probe that arrives while it lasts."""
        loop = asyncio.get_running_loop()
        if self._answer is not None and loop.time() - self._answer[0] < self.cache_seconds:
            return self._answer[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._check_all())
            self._running.add_done_callback(self._finished)
        # shielded: a probe that hangs up does not cancel the run the others wait for
        return await asyncio.shield(self._running)

    def _finished(self, running: asyncio.Future[dict[str, PartState]]) -> None:
        self._running = None
        if not running.cancelled() and running.exception() is None:
            self._answer = (asyncio.get_running_loop().time(), running.result())

    async def _check_all(self) -> dict[str, PartState]:
        loop = asyncio.get_running_loop()
        names = list(self.checks)
        futures = [loop.run_in_executor(self.pool, self.checks[name]) for name in names]
        done = await asyncio.gather(
            *(asyncio.wait_for(f, self.timeout) for f in futures), return_exceptions=True
        )
        states = {}
        for name, outcome in zip(names, done, strict=True):
            if isinstance(outcome, BaseException):
                kind = "Timeout" if isinstance(outcome, TimeoutError) else type(outcome).__name__
                log.warning("health: %s is down: %s: %s", name, kind, outcome)
                states[name] = PartState(False, kind)
            else:
                states[name] = PartState(True)
        return states

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
