"""The pieces behind live logs and queue estimates that need no hub: the heartbeat's optional
``log_tail`` on both sides of the protocol, the bounded live tail an executor feeds, the queue
simulation behind an estimated start, and how ``podium logs --follow`` prints only what is new."""

from __future__ import annotations

import io
import threading

import pytest
from podium.hub.participant_cli import unseen
from podium.server.compute.waiting import start_offset
from podium.server.errors import ValidationFailed
from podium.server.request_bodies import parse
from podium.worker.executors.base import CappedLog, LiveTail
from podium.worker.protocol import LIVE_LOG_CHARS, HeartbeatRequest


def test_a_heartbeat_with_or_without_the_live_log_is_valid_and_the_tail_is_bounded() -> None:
    assert parse(HeartbeatRequest, {"worker": "w-1"}) == {"worker": "w-1"}  # an older worker's
    assert parse(HeartbeatRequest, {"worker": "w-1", "log_tail": "tick 1\n"})["log_tail"] == "tick 1\n"
    with pytest.raises(ValidationFailed, match="log_tail"):
        parse(HeartbeatRequest, {"worker": "w-1", "log_tail": "x" * (LIVE_LOG_CHARS + 1)})


def test_the_live_tail_keeps_the_last_bytes_and_says_when_it_changed() -> None:
    live = LiveTail(size=10)
    out, err = CappedLog(live=live), CappedLog(live=live)
    assert live.take() is None
    out.pump(io.BytesIO(b"0123456789abc")).join()
    assert live.take() == "3456789abc"
    assert live.take() is None  # nothing new since
    err.feed(b"!")
    assert live.take() == "456789abc!"  # stdout and stderr, in the order they came
    assert out.text() == "0123456789abc" and err.text() == "!"  # the final log is unchanged


def test_the_live_tail_is_safe_to_read_while_it_is_fed() -> None:
    live = LiveTail(size=100)
    feeder = threading.Thread(target=lambda: [live.feed(b"line\n") for _ in range(10000)])
    feeder.start()
    while feeder.is_alive():
        text = live.take()
        assert text is None or len(text) <= 100
    feeder.join()


@pytest.mark.parametrize(("ahead", "workers", "running_left", "typical", "expected"), [
    (0, 1, [], 10.0, 0.0),             # an idle worker: now
    (0, 1, [4.0], 10.0, 4.0),          # when the running one ends
    (1, 1, [4.0], 10.0, 14.0),         # then one whole run ahead
    (2, 2, [4.0, 6.0], 10.0, 14.0),    # two workers: the earliest free one each time
    (3, 2, [], 10.0, 10.0),            # two idle workers, three ahead
    (0, 1, [0.0, 3.0], 5.0, 0.0),      # more running than workers seen: the running count wins
])
def test_the_estimated_start_simulates_the_queues_workers(ahead, workers, running_left, typical, expected) -> None:
    assert start_offset(ahead, workers, running_left, typical) == expected


@pytest.mark.parametrize(("shown", "current", "new"), [
    ("", "tick 0\n", "tick 0\n"),
    ("tick 0\n", "tick 0\ntick 1\n", "tick 1\n"),
    ("a\nb\nc\n", "b\nc\nd\n", "d\n"),          # the tail window moved on
    ("a\nb\n", "a\nb\n", ""),
    ("old\n", "entirely new\n", "entirely new\n"),
])
def test_follow_prints_only_what_it_has_not_shown(shown: str, current: str, new: str) -> None:
    assert unseen(shown, current) == new
