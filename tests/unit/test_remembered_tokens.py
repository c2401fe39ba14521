"""Which queue a worker's token names, remembered per process (``compute.queues.RememberedTokens``):
read once, then from memory until the change feed moves; a rotation or a deletion committed in
the process ends it before the commit returns. The service tests show other processes' commits."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from podium.server import db
from podium.server.compute import queues
from podium.server.errors import NotAuthenticated
from podium.server.leaderboards.changes import ChangeFeed
from podium.server.orm import ComputeQueue


@pytest.fixture
def world(tmp_path: Path):
    """A migrated SQLite database with one queue, its engine watched by a live change feed, and
    the statements run on it."""
    url = f"sqlite:///{tmp_path / 'tokens.sqlite'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    feed = ChangeFeed()
    feed.watch(engine)
    feed.start(engine)  # SQLite: live at once
    factory = db.make_session_factory(engine)
    with factory() as session:
        queues.create_queue(session, "q1", "owner", token="first-token")
        session.commit()
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda _c, _cu, statement, *_a: statements.append(statement))
    yield factory, feed, statements
    engine.dispose()


def test_a_token_is_read_once_then_answered_from_memory_as_a_queue_of_the_session(world) -> None:
    factory, feed, statements = world
    tokens = queues.RememberedTokens(feed)
    with factory() as session:
        first = tokens.queue_for_token(session, "first-token")
    assert len(statements) == 1
    with factory() as session:
        again = tokens.queue_for_token(session, "first-token")
        assert statements[1:] == []
        assert (again.id, again.name, again.owner) == (first.id, "q1", "owner")
        assert again in session and not session.dirty
        assert [w.name for w in again.workers] == []  # its relationships load in the session
        session.commit()
    assert not [s for s in statements if not s.lstrip().startswith("SELECT")]  # nothing of it written


def test_a_rotation_or_a_deletion_committed_here_ends_the_remembered_token_at_once(world) -> None:
    factory, feed, _ = world
    tokens = queues.RememberedTokens(feed)
    with factory() as session:
        tokens.queue_for_token(session, "first-token")
    with factory() as session:
        queue = queues.find_queue(session, "q1")
        second = queues.rotate_token(queue)
        session.commit()
    with factory() as session, pytest.raises(NotAuthenticated, match="not valid"):
        tokens.queue_for_token(session, "first-token")
    with factory() as session:
        assert tokens.queue_for_token(session, second).name == "q1"
    with factory() as session:
        session.delete(queues.find_queue(session, "q1"))
        session.commit()
    with factory() as session, pytest.raises(NotAuthenticated, match="not valid"):
        tokens.queue_for_token(session, second)


def test_wrong_tokens_are_not_kept_nothing_is_while_the_feed_is_not_live_and_the_memory_is_bounded(world) -> None:
    factory, feed, statements = world
    tokens = queues.RememberedTokens(feed, size=1)
    with factory() as session:
        for wrong in ("nope", "nope"):
            with pytest.raises(NotAuthenticated, match="not valid"):
                tokens.queue_for_token(session, wrong)
        with pytest.raises(NotAuthenticated, match="Bearer"):
            tokens.queue_for_token(session, None)
    assert len(statements) == 2 and len(tokens._queues) == 0
    feed.live = False
    with factory() as session:
        tokens.queue_for_token(session, "first-token")
        tokens.queue_for_token(session, "first-token")
    assert len(statements) == 4 and len(tokens._queues) == 0
    feed.live = True
    with factory() as session:
        queues.create_queue(session, "q2", None, token="second-queue")
        session.commit()
    statements.clear()
    with factory() as session:
        tokens.queue_for_token(session, "first-token")
        tokens.queue_for_token(session, "second-queue")
        tokens.queue_for_token(session, "second-queue")
    assert len(statements) == 2 and len(tokens._queues) == 1
    with factory() as session:
        assert isinstance(tokens.queue_for_token(session, "first-token"), ComputeQueue)
    assert len(statements) == 3


def test_the_queues_have_a_counter_of_their_own() -> None:
    """A score writes the leaderboard's tables: it must not make every process read its workers'
    tokens again, and a rotation must not drop every remembered leaderboard reader. Another
    process's notification names the table its trigger fired on."""
    from types import SimpleNamespace

    from podium.server.leaderboards.changes import CHANNEL

    feed = ChangeFeed()
    feed._deliver(SimpleNamespace(channel=CHANNEL, payload="leaderboards"))
    assert (feed.generation, feed.queue_generation) == (1, 0)
    feed._deliver(SimpleNamespace(channel=CHANNEL, payload="compute_queues"))
    assert (feed.generation, feed.queue_generation) == (1, 1)
    feed.bump()  # the listener lost or regained: everything may be stale
    assert (feed.generation, feed.queue_generation) == (2, 2)


def test_what_is_remembered_is_served_until_its_counter_moves_least_recently_used_out_first() -> None:
    """``Remembered``, under the tokens and the leaderboard's readers alike."""
    from podium.server.leaderboards.changes import Remembered

    feed = ChangeFeed()
    feed.live = True
    memory: Remembered[str, str] = Remembered(feed, size=2, counter="queue_generation")
    before = memory.now()
    feed.bump(frozenset(["compute_queues"]))  # a change while "a" was being read
    memory.put("a", before, "A")
    assert memory.get("a") is None
    memory.put("a", memory.now(), "A")
    memory.put("b", memory.now(), "B")
    assert memory.get("a") == "A"  # now the most recently used
    memory.put("c", memory.now(), "C")
    assert (memory.get("a"), memory.get("b"), memory.get("c"), len(memory)) == ("A", None, "C", 2)
    feed.bump(frozenset(["phases"]))  # the other counter
    assert memory.get("a") == "A"
    feed.live = False
    assert memory.get("a") is None
    memory.put("d", memory.now(), "D")
    feed.live = True
    assert memory.get("d") is None
