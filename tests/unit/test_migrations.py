"""`podium db upgrade` creates the schema on an empty PostgreSQL and an empty SQLite database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import create_pg_database, drop_pg_database
from podium.server import db
from podium.server.errors import SchemaOutOfDate
from podium.server.orm import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
    else:
        url = create_pg_database()
        try:
            yield url
        finally:
            drop_pg_database(url)


def test_podium_db_upgrade_creates_every_table(empty_db: str, tmp_path: Path) -> None:
    podium = Path(sys.executable).parent / "podium"
    out = subprocess.run(
        [str(podium), "db", "upgrade", f"--db-url={empty_db}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert db.head_revision() in out.stdout
    engine = db.make_engine(empty_db)
    tables = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert db.current_revision(engine) == db.head_revision()
    db.check_schema(engine)
    # running it again is a no-op
    again = subprocess.run(
        [str(podium), "db", "upgrade", f"--db-url={empty_db}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    engine.dispose()


def test_migrations_match_the_models(empty_db: str) -> None:
    """Autogenerate finds nothing to do: the migrations create exactly what orm.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db.upgrade(empty_db)
    engine = db.make_engine(empty_db)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_service_refuses_an_empty_database(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(SchemaOutOfDate, match="podium db upgrade"):
        db.check_schema(engine)


def test_read_connections_survive_a_killed_connection_and_see_every_commit() -> None:
    """The leaderboard's fast reads keep one autocommit connection per thread without pinging
    it: when PostgreSQL drops that connection (a restart, an idle timeout), the next read
    retries on a fresh one instead of failing the request; and no read sees a stale snapshot."""
    url = create_pg_database()
    reads = db.ReadConnections(db.make_read_engine(url))
    writer = sa.create_engine(url)
    try:
        with writer.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (n int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        count = sa.text("SELECT count(*) AS n, pg_backend_pid() AS pid FROM t")
        first = reads.first(count, {})
        assert first.n == 1
        with writer.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (2)"))
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first.pid})
        again = reads.first(count, {})
        assert again.n == 2 and again.pid != first.pid
        assert reads.first(count, {}).pid == again.pid  # the new connection is kept
    finally:
        reads.dispose()
        writer.dispose()
        drop_pg_database(url)


def test_a_pooled_connection_dropped_while_idle_is_replaced_before_use() -> None:
    """Pooled connections idle longer than ``ping_after_idle`` are pinged on checkout: one that
    PostgreSQL dropped meanwhile is replaced, and the request using the pool never sees it."""
    import time

    url = create_pg_database()
    engine = db.make_engine(url, ping_after_idle=0.05, pool_size=1, max_overflow=0)
    killer = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        time.sleep(0.2)  # idle longer than ping_after_idle
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()
        killer.dispose()
        drop_pg_database(url)


def test_the_head_read_without_alembic_is_alembics(empty_db: str) -> None:
    """The service's start-up check reads revision ids without importing Alembic (bench B7):
    it must name the head Alembic names, and the database's revision as Alembic reads it."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert db.head_revision() == ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()
    engine = db.make_engine(empty_db)
    assert db.current_revision(engine) is None
    db.upgrade(empty_db, "0006")
    with engine.connect() as conn:
        assert db.current_revision(engine) == MigrationContext.configure(conn).get_current_revision() == "0006"
    with pytest.raises(SchemaOutOfDate, match="at schema revision 0006"):
        db.check_schema(engine)
    engine.dispose()
