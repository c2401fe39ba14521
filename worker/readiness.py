"""Whether this worker can take a job now, and telling the service so.

A worker that cannot work (its disk nearly full under its work and run directories, or its
Docker engine not answering) must not claim attempts only to fail them: it takes no message from
the broker (other workers of the queue take them), leaves an attempt it already took unclaimed
(the service publishes it again; nothing is charged to the participant), and says why in its
status reports (``POST /worker/status``, every few seconds, busy or idle), which the service shows
on its queue page and in ``/metrics``. It takes jobs again as soon as the condition clears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .client import ServiceClient
from .disk_space import DISK_RETRY_SECONDS, DiskGuard
from .errors import CannotWork, DiskFull, EngineDown, ProtocolError

log = logging.getLogger("podium.worker")

#: what a worker reports while its Docker engine does not answer
ENGINE_DOWN = "the Docker engine does not answer"


class Readiness:
    """The worker's checks of itself: free disk (``disk``) and a live engine (``engine_alive``:
    True when the engine answers; None for an executor without one). ``reason`` is the latest
    finding, None while the worker can work."""

    def __init__(self, disk: DiskGuard | None = None, engine_alive: Callable[[], bool] | None = None) -> None:
        self.disk, self.engine_alive = disk, engine_alive
        self.reason: str | None = None
        self._lock = threading.Lock()

    def look(self, prune: bool = True) -> str | None:
        """Check now; None when a job may be taken, else why not (also kept in ``reason``).
        ``prune``: free room by pruning the dataset cache first (never beside a running job)."""
        with self._lock:
            problem = self._problem(prune)
            self.reason = problem
            return problem

    def _problem(self, prune: bool) -> str | None:
        if self.disk is not None:
            short = self.disk.shortage(prune=prune)
            if short is not None:
                return short
        if self.engine_alive is not None and not self.engine_alive():
            return ENGINE_DOWN
        return None

    def check(self) -> None:
        """Raise ``CannotWork`` (``DiskFull`` or ``EngineDown``) when no job may be taken."""
        problem = self.look()
        if problem is None:
            return
        raise EngineDown(problem) if problem == ENGINE_DOWN else DiskFull(problem)

    def ready(self) -> bool:
        """Whether the latest look found nothing wrong (no new look: cheap enough to poll)."""
        return self.reason is None

    def wait_until_ready(self, stop: threading.Event) -> None:
        """Return once a job may be taken, or when ``stop`` is set; logs when the worker stops and
        starts taking jobs again."""
        stopped = False
        while not stop.is_set():
            problem = self.look()
            if problem is None:
                if stopped:
                    log.info("the worker can work again: taking jobs again")
                return
            if not stopped:
                log.warning("taking no job: %s", problem)
                stopped = True
            stop.wait(DISK_RETRY_SECONDS)


class StatusReporter:
    """A thread that tells the service, every ``interval`` seconds, that this worker is alive,
    its version and why it cannot work (if so), looking at itself afresh (without pruning) each
    time; a service it cannot reach is tried again at the next report."""

    def __init__(self, client: ServiceClient, readiness: Readiness, hostname: str, interval: float) -> None:
        self.client, self.readiness, self.hostname, self.interval = client, readiness, hostname, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podium-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval + 5)

    def report_once(self) -> str | None:
        """Look, report, and return what was reported (None: the worker can work)."""
        reason = self.readiness.look(prune=False)
        try:
            self.client.status(self.hostname, reason)
        except ProtocolError as e:
            log.debug("status report not delivered: %s", e)
        return reason

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.report_once()
            except Exception:  # a report never ends the worker
                log.exception("status report failed")
            self._stop.wait(self.interval)


__all__ = ["ENGINE_DOWN", "CannotWork", "Readiness", "StatusReporter"]
