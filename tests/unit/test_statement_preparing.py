"""PostgreSQL through psycopg 3: URLs naming psycopg2 are served by it, a statement a connection
runs ``prepare_threshold`` times is prepared on the server and stays prepared across the
rollbacks that end every read-only transaction, 0 and None never prepare, and a rollback still
rolls back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import create_pg_database, drop_pg_database
from podium.server import db

LOOKUP = sa.text("SELECT n, pg_backend_pid() AS pid FROM t WHERE n = :n")
#: LOOKUP as psycopg sends it, and as pg_prepared_statements shows it once prepared
STATEMENT = "SELECT n, pg_backend_pid() AS pid FROM t WHERE n = $1"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    url = create_pg_database()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (n int PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO t SELECT generate_series(1, 10)"))
    engine.dispose()
    try:
        yield url
    finally:
        drop_pg_database(url)


def prepared(conn: sa.Connection) -> list[str]:
    """The statements prepared in this connection's server session."""
    return list(conn.execute(sa.text("SELECT statement FROM pg_prepared_statements")).scalars())


def as_psycopg2_url(url: str) -> str:
    return url.replace(db.POSTGRESQL_DRIVER + "://", "postgresql+psycopg2://", 1)


@pytest.mark.parametrize(("given", "served"), [
    ("postgresql://u:p%40ss@db:5432/podium", "postgresql+psycopg://u:p%40ss@db:5432/podium"),
    ("postgresql+psycopg2://u@db/podium?sslmode=require", "postgresql+psycopg://u@db/podium?sslmode=require"),
    ("postgresql+psycopg://u@db/podium", "postgresql+psycopg://u@db/podium"),
    ("sqlite:////srv/podium/podium.sqlite", "sqlite:////srv/podium/podium.sqlite"),
    ("postgresql+asyncpg://u@db/podium", "postgresql+asyncpg://u@db/podium"),
])
def test_postgresql_urls_of_earlier_configurations_are_served_by_psycopg_3(given: str, served: str) -> None:
    assert db.engine_url(given) == served


def test_a_statement_run_threshold_times_is_prepared_and_stays_prepared_across_rollbacks(pg_url: str) -> None:
    """Each read below is its own transaction, ended by a rollback (as a GET's session is):
    psycopg alone would forget its counts and its prepared statements at each of them."""
    engine = db.make_engine(as_psycopg2_url(pg_url), prepare_threshold=3, pool_size=1, max_overflow=0)
    assert engine.dialect.driver == "psycopg"
    try:
        pids = set()
        for n in range(1, 4):
            with engine.connect() as conn:
                pids.add(conn.execute(LOOKUP, {"n": n}).one().pid)
        with engine.connect() as conn:
            assert STATEMENT not in prepared(conn)  # run three times: not yet
            pids.add(conn.execute(LOOKUP, {"n": 4}).one().pid)  # the fourth run prepares it
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold == 3
            assert STATEMENT in prepared(conn)
            assert conn.execute(LOOKUP, {"n": 5}).one().n == 5  # and it answers from the prepared plan
        assert len(pids) == 1  # one connection served them all (pool of one)
    finally:
        engine.dispose()


@pytest.mark.parametrize("threshold", [0, None])
def test_a_threshold_of_0_or_none_never_prepares(pg_url: str, threshold: int | None) -> None:
    engine = db.make_engine(pg_url, prepare_threshold=threshold, pool_size=1, max_overflow=0)
    try:
        for n in range(1, 8):
            with engine.connect() as conn:
                conn.execute(LOOKUP, {"n": n}).one()
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold is None
            assert prepared(conn) == []
    finally:
        engine.dispose()


def test_the_read_engine_prepares_too(pg_url: str) -> None:
    reads = db.ReadConnections(db.make_read_engine(pg_url, prepare_threshold=2))
    try:
        for n in range(1, 4):
            assert reads.first(LOOKUP, {"n": n}).n == n
        statements = reads.first(sa.text("SELECT array_agg(statement) AS s FROM pg_prepared_statements"), {}).s
        assert STATEMENT in statements
    finally:
        reads.dispose()


def test_a_rollback_that_keeps_prepared_statements_still_rolls_back(pg_url: str) -> None:
    engine = db.make_engine(pg_url, prepare_threshold=1, pool_size=1, max_overflow=0)
    factory = db.make_session_factory(engine)
    try:
        for _ in range(2):
            with factory() as session:
                session.execute(sa.text("INSERT INTO t VALUES (100)"))
                assert session.scalar(sa.text("SELECT count(*) FROM t WHERE n = 100")) == 1
                session.rollback()
                assert session.scalar(sa.text("SELECT count(*) FROM t WHERE n = 100")) == 0
            with factory() as session:  # closed without commit: the pool's reset rolls it back
                session.execute(sa.text("INSERT INTO t VALUES (100)"))
            with engine.connect() as conn:
                assert conn.scalar(sa.text("SELECT count(*) FROM t WHERE n = 100")) == 0
                assert "INSERT INTO t VALUES (100)" in prepared(conn)  # prepared (threshold 1), and kept
    finally:
        engine.dispose()


def test_a_failed_transaction_rolls_back_and_the_connection_goes_on(pg_url: str) -> None:
    """A failed statement leaves the transaction aborted: psycopg's own rollback ends it and
    forgets what was prepared, so what it remembers and what the server holds still agree."""
    engine = db.make_engine(pg_url, prepare_threshold=1, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.execute(LOOKUP, {"n": 1}).one()
            conn.execute(LOOKUP, {"n": 2}).one()
            assert prepared(conn) != []
            with pytest.raises(sa.exc.IntegrityError):
                conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        with engine.connect() as conn:
            assert conn.execute(LOOKUP, {"n": 3}).one().n == 3
            assert conn.execute(LOOKUP, {"n": 4}).one().n == 4
            assert STATEMENT in prepared(conn)
    finally:
        engine.dispose()


def test_the_service_passes_its_setting_to_both_engines(tmp_path) -> None:
    """``db_prepare_threshold`` reaches the request engine and the read engine (0: never)."""
    from podium.server.app import PodiumService

    url = create_pg_database()
    try:
        db.upgrade(url)
        for setting, on_connection in ((0, None), (7, 7)):
            app = PodiumService(data_dir=str(tmp_path), db_url=as_psycopg2_url(url), db_prepare_threshold=setting)
            app.init_db()
            try:
                for engine in (app.engine, app.reads.engine):
                    with engine.connect() as conn:
                        assert conn.connection.dbapi_connection.prepare_threshold == on_connection
            finally:
                app.database_pool.shutdown()
                app.engine.dispose()
                app.reads.dispose()
    finally:
        drop_pg_database(url)
