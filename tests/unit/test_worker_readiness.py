"""The worker's look at itself (pure logic; the real disk and engine are tests/hostile/test_full_disk.py
and tests/hostile/test_worker_cannot_work.py): which check fails names the error, the latest finding
is kept for the consumer's cheap poll, and the wait ends when the condition clears."""

from __future__ import annotations

import threading

import pytest
from podium.worker.disk_space import DiskGuard
from podium.worker.errors import CannotWork, DiskFull, EngineDown
from podium.worker.readiness import ENGINE_DOWN, Readiness


def test_an_engine_that_does_not_answer_stops_the_worker_until_it_answers() -> None:
    alive = [False]
    readiness = Readiness(engine_alive=lambda: alive[0])
    assert readiness.ready()  # nothing looked at yet
    with pytest.raises(EngineDown, match=ENGINE_DOWN):
        readiness.check()
    assert not readiness.ready() and readiness.reason == ENGINE_DOWN
    alive[0] = True
    assert readiness.look() is None and readiness.ready()


def test_a_disk_below_its_floor_is_found_before_the_engine_is_asked(tmp_path) -> None:
    asked: list[bool] = []
    readiness = Readiness(DiskGuard([str(tmp_path)], 2**62), engine_alive=lambda: asked.append(True) or True)
    with pytest.raises(DiskFull, match=r"less than the \d+ MB this worker keeps free \(--min-free-mb\)") as e:
        readiness.check()
    assert isinstance(e.value, CannotWork) and asked == []
    assert Readiness(DiskGuard([str(tmp_path)], 0), engine_alive=lambda: True).look() is None


def test_the_wait_returns_when_the_condition_clears_or_the_worker_stops() -> None:
    looks = iter([False, True])
    readiness = Readiness(engine_alive=lambda: next(looks))
    readiness.wait_until_ready(threading.Event())  # one wait of a few seconds, then ready
    assert readiness.ready()
    stopped = threading.Event()
    stopped.set()
    Readiness(engine_alive=lambda: False).wait_until_ready(stopped)  # returns at once
