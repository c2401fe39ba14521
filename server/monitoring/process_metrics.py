"""The metrics only this process knows: HTTP request latency by route, and event-loop lag.

Each replica reports its own (Prometheus tells replicas apart by their ``instance`` label); what
lives in the database is read at scrape time instead (``database_metrics``). Everything is kept in
a registry of the service's own, not prometheus-client's global one, so two services in one
process (the tests) do not mix their numbers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily
from tornado.web import RequestHandler

#: seconds; a JSON answer takes milliseconds, an upload through the service can take minutes
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
UNMATCHED = "unmatched"
_PARAM_PATTERN = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_UNNAMED_GROUP = re.compile(r"\((?!\?)[^)]*\)")


def route_template(pattern: str) -> str:
    """A Tornado URL pattern back to its template: ``/x/(?P<phase>[^/]+)$`` → ``/x/{phase}``."""
    template = _PARAM_PATTERN.sub(lambda m: "{" + m.group(1) + "}", pattern)
    template = _UNNAMED_GROUP.sub("{path}", template).replace(".*", "{path}")
    return template.rstrip("$").replace("/?", "/").replace("\\", "")


class LoopLagMonitor:
    """A timer that asks to run every ``interval`` seconds and records how late it actually ran:
    the time the event loop was busy with something else (a slow handler, a blocking call)."""

    def __init__(self, histogram: Histogram, interval: float = 0.1) -> None:
        self.histogram = histogram
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_event_loop()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        assert self._loop is not None
        due = self._loop.time() + self.interval
        self._handle = self._loop.call_at(due, self._tick, due)

    def _tick(self, due: float) -> None:
        assert self._loop is not None
        self.histogram.observe(max(0.0, self._loop.time() - due))
        self._schedule()


class StatementsOnLoop:
    """``podium_database_statements_on_loop_total``: statements that ran on the event loop's
    thread (``offloop.LoopGuard``); anything but 0 is a path that blocks every request."""

    def __init__(self, guard: Any) -> None:
        self.guard = guard

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "podium_database_statements_on_loop",
            "Database statements this process ran on its event loop's thread, blocking every request "
            "meanwhile (0 unless a path skipped the database pool).",
            value=self.guard.on_loop,
        )


class LeaderboardRebuilds:
    """``podium_leaderboard_rebuilds_total{where}``: leaderboards ranked again from every
    submission, in a child process or in the service's thread (``leaderboards.ranking_process``),
    and ``podium_leaderboard_child_rankings_failed_total``: children that died or failed, whose
    rebuild then ranked in the thread."""

    def __init__(self, ranking_process: Any) -> None:
        self.ranking_process = ranking_process

    def collect(self) -> Iterator[CounterMetricFamily]:
        rebuilds = CounterMetricFamily(
            "podium_leaderboard_rebuilds",
            "Leaderboards this process ranked again from every submission of their phase, by where "
            "the ranking ran: 'process' (a child process, for big phases) or 'thread' (a database thread).",
            labels=["where"],
        )
        for where, count in sorted(self.ranking_process.counts.items()):
            rebuilds.add_metric([where], count)
        yield rebuilds
        yield CounterMetricFamily(
            "podium_leaderboard_child_rankings_failed",
            "Child processes that died or failed while ranking a leaderboard; each of those "
            "rebuilds ranked in a database thread instead.",
            value=self.ranking_process.failures,
        )


class ProcessMetrics:
    """This process's registry: request latency, loop lag, and the standard ``process_*`` metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "podium_http_request_served_seconds",
            "Seconds this process took to answer an HTTP request, by method, route template "
            "(not the raw path) and status code.",
            ["method", "route", "code"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "podium_event_loop_lagged_seconds",
            "Seconds a timer of this process's event loop ran later than asked: time the loop "
            "spent blocked on something else.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self.lag_monitor = LoopLagMonitor(self.loop_lag)
        #: handler class → its route template, the ``route`` label of request latency
        self.routes: dict[type, str] = {}

    def name_routes(self, handlers: list[tuple]) -> None:
        """Learn each handler class's route template from the application's URL table."""
        for pattern, handler, *_ in handlers:
            self.routes.setdefault(handler, route_template(pattern))

    def observe_request(self, handler: RequestHandler) -> None:
        route = self.routes.get(type(handler), UNMATCHED)
        self.requests.labels(handler.request.method, route, str(handler.get_status())).observe(
            handler.request.request_time()
        )
