"""The monitoring's parts that need no service: route templates from Tornado patterns (latency
is labelled by route, never by raw path), the loop-lag timer catching a blocked event loop, and
the health checks' answers, time limit and shared runs."""

from __future__ import annotations

import asyncio
import time

import pytest
from podium.server.monitoring.health import HealthChecks
from podium.server.monitoring.process_metrics import ProcessMetrics, route_template
from podium.server.routes import build_handlers, template_to_pattern


@pytest.mark.parametrize("template", [
    "/services/podium/api/v1/phases/{phase}/submissions",
    "/services/podium/competitions/{competition}/participants/{username}/{decision:approve|deny}",
    "/services/podium/metrics",
])
def test_route_template_undoes_the_pattern(template):
    expected = template.replace("{decision:approve|deny}", "{decision}")
    assert route_template(template_to_pattern(template)) == expected


def test_every_route_is_named_without_regex_left_over():
    metrics = ProcessMetrics()
    handlers = build_handlers("/services/podium/")
    metrics.name_routes(handlers)
    names = set(metrics.routes.values())
    assert "/services/podium/api/v1/submissions/{submission}/uploaded" in names
    assert "/services/podium/storage/{path}" in names
    assert "/services/podium/api/v1/{path}" in names  # the API's JSON 404
    assert not [n for n in names if any(ch in n for ch in "()?[]^$+*\\")], names


def test_loop_lag_measures_a_blocked_loop():
    metrics = ProcessMetrics()
    metrics.lag_monitor.interval = 0.05

    async def block_then_wait() -> None:
        metrics.lag_monitor.start()
        await asyncio.sleep(0.1)
        time.sleep(0.4)  # a handler that blocks the loop
        await asyncio.sleep(0.1)
        metrics.lag_monitor.stop()

    asyncio.run(block_then_wait())
    count = metrics.registry.get_sample_value("podium_event_loop_lagged_seconds_count")
    worst = metrics.registry.get_sample_value("podium_event_loop_lagged_seconds_bucket", {"le": "0.25"})
    assert count >= 3
    assert worst < count  # one tick came more than 0.25 s late: the blocked one


class CountingCheck:
    """A check that takes ``seconds`` in its thread and then fails with ``error`` or passes."""

    def __init__(self, seconds: float = 0.0, error: Exception | None = None) -> None:
        self.seconds, self.error, self.calls = seconds, error, 0

    def __call__(self) -> None:
        self.calls += 1
        time.sleep(self.seconds)
        if self.error is not None:
            raise self.error


def test_health_names_the_failing_and_the_hung_part_by_error_class_only():
    checks = {"database": CountingCheck(), "broker": CountingCheck(error=ConnectionRefusedError("amqp://u:secret@h")),
              "storage": CountingCheck(seconds=1.0)}
    health = HealthChecks(checks, timeout=0.3, cache_seconds=0)
    try:
        states = asyncio.run(health.run())
    finally:
        health.close()
    assert {name: state.to_json() for name, state in states.items()} == {
        "database": {"ok": True},
        "broker": {"ok": False, "error": "ConnectionRefusedError"},
        "storage": {"ok": False, "error": "Timeout"},
    }


def test_probes_arriving_together_share_one_run_and_a_recent_answer_is_reused():
    check = CountingCheck(seconds=0.2)
    health = HealthChecks({"database": check}, cache_seconds=0.5)

    async def probes() -> None:
        answers = await asyncio.gather(*(health.run() for _ in range(20)))
        assert all(a["database"].ok for a in answers)
        assert check.calls == 1  # twenty probes, one check
        await health.run()
        assert check.calls == 1  # answered from the recent run
        await asyncio.sleep(0.6)
        await health.run()
        assert check.calls == 2  # too old: checked again

    try:
        asyncio.run(probes())
    finally:
        health.close()
