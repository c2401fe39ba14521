"""The change feed's listener on a real PostgreSQL (``leaderboards.changes.ChangeFeed``): what a
process remembers is not served while another process's notification waits to be counted, on
the listener's socket or in its hands, however long the listening thread waits for its turn
(on a busy host it may wait several milliseconds for the interpreter, longer than a request)."""

from __future__ import annotations

import functools
import select
import threading
import time

import pytest
import sqlalchemy as sa
from helpers import waiting
from podium.server import db
from podium.server.leaderboards.changes import ChangeFeed, Remembered
from podium.server.orm import ComputeQueue

wait_until = functools.partial(waiting.wait_until, timeout=10, every=0.005)


class HeldListener:
    """A live feed on ``url`` whose listening thread stops, when ``hold`` is set, at the step the
    test names, as a thread waiting for the interpreter would: before it reads its socket
    (``"socket"``) or after reading it, before it counts what it read (``"counting"``)."""

    def __init__(self, url: str, step: str) -> None:
        self.engine = db.make_engine(url)
        self.feed = ChangeFeed()
        self.hold = threading.Event()
        self.release = threading.Event()
        self.reached = threading.Event()
        feed, drain, deliver = self.feed, self.feed._drain, self.feed._deliver

        def held() -> None:
            if self.hold.is_set():
                self.reached.set()
                self.release.wait(30)

        def drain_late(conn) -> None:
            held()
            drain(conn)

        def deliver_late(note) -> None:
            held()
            deliver(note)

        if step == "socket":
            feed._drain = drain_late
        else:
            feed._deliver = deliver_late
        feed.start(self.engine)
        wait_until(lambda: feed.live, "live")

    def close(self) -> None:
        self.release.set()
        self.feed.stop()
        self.engine.dispose()


@pytest.mark.one_backend  # PostgreSQL: SQLite has no listener
@pytest.mark.parametrize("step", ["socket", "counting"])
def test_a_notification_not_yet_counted_stops_what_is_remembered_being_served(db_url, step) -> None:
    listener = HeldListener(db_url, step)
    feed = listener.feed
    other = db.make_engine(db_url)  # another process's commits
    try:
        remembered: Remembered[str, str] = Remembered(feed, size=4, counter="queue_generation")
        remembered.put("token", remembered.now(), "queue q1")
        assert feed.up_to_date() and remembered.get("token") == "queue q1"

        listener.hold.set()
        with other.begin() as conn:
            conn.execute(sa.insert(ComputeQueue).values(name=f"q-held-{step}", owner="someone", token_hash=step))
        if step == "socket":
            poller = select.poll()
            poller.register(feed._socket, select.POLLIN)
            wait_until(lambda: poller.poll(0), "on the listener's socket")
        else:
            assert listener.reached.wait(10), "the listener never read the notification"
        counted = feed.queue_generation
        time.sleep(0.05)  # the held thread counts nothing meanwhile
        assert feed.queue_generation == counted  # not counted yet, as on a busy host
        assert not feed.up_to_date()
        assert remembered.get("token") is None  # the old value is not served meanwhile
        assert feed.live  # nothing was lost: remembering goes on

        listener.hold.clear()
        listener.release.set()
        wait_until(lambda: feed.queue_generation > counted, "counted")
        wait_until(feed.up_to_date, "up to date")
        assert remembered.get("token") is None  # counted: the value read before is never served again
        remembered.put("token", remembered.now(), "queue q1, read again")
        assert remembered.get("token") == "queue q1, read again"
    finally:
        other.dispose()
        listener.close()


@pytest.mark.one_backend
def test_a_feed_whose_listener_stopped_serves_nothing(db_url) -> None:
    listener = HeldListener(db_url, "socket")
    feed = listener.feed
    remembered: Remembered[str, str] = Remembered(feed, size=4)
    remembered.put("row", remembered.now(), "value")
    assert remembered.get("row") == "value"
    listener.close()
    assert not feed.up_to_date() and remembered.get("row") is None


def test_sqlite_has_no_listener_and_its_feed_is_up_to_date_once_started(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'feed.sqlite'}"
    engine = db.make_engine(url)
    feed = ChangeFeed()
    assert not feed.up_to_date()
    feed.start(engine)
    assert feed.up_to_date()
    engine.dispose()
