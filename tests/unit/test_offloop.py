"""The pieces that keep database work off the event loop (``offloop``) and tell the leaderboard's
fast path when what it remembers changed (``leaderboards.changes``), on a real SQLite file."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
import sqlalchemy as sa
from podium.server.errors import DatabaseOnEventLoop
from podium.server.leaderboards.changes import ChangeFeed
from podium.server.offloop import (
    YOUNG_GENERATION_THRESHOLD,
    DatabasePool,
    LoopGuard,
    collector_paused,
    run_without_awaiting,
    tune_collector,
)


def test_a_verb_runs_to_its_end_without_a_loop_and_one_that_awaits_is_refused_by_name() -> None:
    async def plain() -> int:
        return 7

    async def awaits() -> None:
        await asyncio.sleep(0)

    assert run_without_awaiting(plain()) == 7
    with pytest.raises(RuntimeError, match="awaits.*awaited inside the database pool"):
        run_without_awaiting(awaits())


def test_the_guard_refuses_statements_on_the_loop_thread_only(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'g.db'}")
    guard = LoopGuard(strict=True)
    guard.watch(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # no loop yet: start-up and migrations run anywhere
    guard.loop_thread = threading.get_ident()
    with engine.connect() as conn, pytest.raises(DatabaseOnEventLoop) as refused:
        conn.execute(sa.text("SELECT 2"))
    assert refused.value.statement == "SELECT 2" and refused.value.status_code == 500
    assert guard.on_loop == 1

    async def in_the_pool() -> int:
        pool = DatabasePool(2)
        try:
            guard.loop_thread = threading.get_ident()  # this coroutine's loop thread

            def query() -> int:
                with engine.connect() as conn:
                    return conn.execute(sa.text("SELECT 3")).scalar_one()

            return await pool.run(query)
        finally:
            pool.shutdown()

    assert asyncio.run(in_the_pool()) == 3 and guard.on_loop == 1
    lenient = LoopGuard(strict=False)
    lenient.watch(engine)
    lenient.loop_thread = threading.get_ident()
    guard.loop_thread = None
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 4")).scalar_one() == 4  # counted, not refused
    assert lenient.on_loop == 1
    engine.dispose()


def test_the_change_feed_moves_on_a_committed_write_of_a_watched_table_only(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE participants (id INTEGER PRIMARY KEY, status TEXT)"))
        conn.execute(sa.text("CREATE TABLE submissions (id INTEGER PRIMARY KEY)"))
    feed = ChangeFeed()
    feed.watch(engine)
    feed.start(engine)
    assert feed.live  # SQLite: one process, live at once

    start = feed.generation
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO submissions (id) VALUES (1)"))
    assert feed.generation == start  # not a watched table

    with engine.connect() as conn:
        conn.execute(sa.text("INSERT INTO participants (status) VALUES ('approved')"))
        seen_before_commit = feed.generation
        conn.rollback()
    assert seen_before_commit == start and feed.generation == start  # rolled back: nothing changed

    with engine.connect() as conn:
        conn.execute(sa.text("UPDATE participants SET status = 'denied'"))
        conn.commit()
        after_commit = feed.generation
    # once before the commit, once more when the connection went back to the pool
    assert after_commit == start + 1 and feed.generation == start + 2

    # a statement that begins with WITH may write too (a data-modifying CTE on PostgreSQL)
    with engine.begin() as conn:
        conn.execute(sa.text("WITH chosen AS (SELECT 1 AS id) "
                             "UPDATE participants SET status = 'approved' WHERE id IN (SELECT id FROM chosen)"))
    assert feed.generation == start + 4
    with engine.begin() as conn:
        conn.execute(sa.text("WITH chosen AS (SELECT 1 AS id) INSERT INTO submissions (id) SELECT id + 1 FROM chosen"))
    assert feed.generation == start + 4  # not a watched table
    feed.stop()
    engine.dispose()


def test_the_tables_a_statement_writes_are_read_from_each_write_in_it() -> None:
    from podium.server.leaderboards.changes import notifying_tables_written as written

    assert written('INSERT INTO "phases" (name) VALUES (1)') == {"phases"}
    assert written("WITH a AS (UPDATE workers SET x = 1 RETURNING id), b AS (DELETE FROM teams WHERE id IN "
                   "(SELECT id FROM a) RETURNING id) UPDATE compute_queues SET y = 2") == {"teams", "compute_queues"}
    assert written("SELECT * FROM participants FOR UPDATE SKIP LOCKED") == frozenset()
    assert written("INSERT INTO scores (value) VALUES (1) ON CONFLICT DO UPDATE SET value = 2") == frozenset()
    assert written("UPDATE submissions SET last_update = 1") == frozenset()


def test_the_collector_resumes_when_the_last_paused_section_ends() -> None:
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer section still builds
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # paused by someone else before: left as it was
    finally:
        gc.enable()


def test_the_service_examines_the_youngest_generation_less_often_and_keeps_the_older_ratios() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # Python's defaults
        tune_collector()
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)
        assert YOUNG_GENERATION_THRESHOLD > 700
    finally:
        gc.set_threshold(*before)
