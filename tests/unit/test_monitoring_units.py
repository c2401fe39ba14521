"""The per-process metrics' pure parts: route templates from Tornado patterns (so latency is
labelled by route, never by raw path), and the loop-lag timer measuring a blocked event loop."""

from __future__ import annotations

import asyncio
import time

import pytest
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
