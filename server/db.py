"""Database engines, sessions and schema migrations (Alembic) for PostgreSQL and SQLite.

PostgreSQL is served by psycopg 3 whatever driver a URL names (``engine_url``): it prepares a
statement on the server once a connection has run it ``prepare_threshold`` times, so the service's
hot lookups (a claim's ten-table join costs 1-2 ms to plan) are planned once per connection.

Alembic is imported only to migrate: the check at every service start reads the revision ids
without it (about 11 MB less in the service, bench B7).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Row,
    Select,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from .errors import SchemaOutOfDate

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

ALEMBIC_DIR = os.path.join(os.path.dirname(__file__), "alembic")


#: a pooled PostgreSQL connection idle longer than this is pinged before it is handed out
IDLE_PING_SECONDS = 2.0
#: executions of one statement on one connection after which psycopg prepares it (its default)
PREPARE_THRESHOLD = 5
#: the SQLAlchemy driver name of psycopg 3
POSTGRESQL_DRIVER = "postgresql+psycopg"
#: the PostgreSQL URL schemes earlier configurations carry: SQLAlchemy's default and psycopg2
_OTHER_POSTGRESQL_SCHEMES = re.compile(r"^postgresql(?:\+psycopg2)?://")


def engine_url(url: str) -> str:
    """``url`` with its PostgreSQL driver set to psycopg 3.

    ``postgresql://`` (whose default driver depends on the SQLAlchemy version) and
    ``postgresql+psycopg2://`` (what Podium's configurations and docs said before it moved to
    psycopg 3) name the same database; any other URL comes back unchanged. Only the scheme is
    rewritten, so the rest of the URL (a password with escapes, query options) stays as written.
    """
    return _OTHER_POSTGRESQL_SCHEMES.sub(POSTGRESQL_DRIVER + "://", url, count=1)


def make_engine(url: str, *, ping_after_idle: float | None = IDLE_PING_SECONDS,
                prepare_threshold: int | None = PREPARE_THRESHOLD, **kwargs) -> Engine:
    """An engine with the settings each backend needs to be safe under concurrent writers.

    A PostgreSQL URL is served by psycopg 3 (``engine_url``), which prepares a statement once a
    connection has run it ``prepare_threshold`` times; 0 or None never prepares (for PgBouncer
    in transaction mode, which may hand the next statement to another server connection).

    PostgreSQL connections are checked (``SELECT 1``) when they come out of the pool after
    ``ping_after_idle`` seconds unused, the time in which a database restart or an idle timeout
    can have dropped them, rather than on every checkout (``pool_pre_ping``): under load a
    connection goes back out within milliseconds and the ping was a round trip per request
    (5-9% of the service's time in the B4 and B6 profiles). A connection that dies while in
    use fails that request and SQLAlchemy then invalidates the whole pool.
    """
    url = engine_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    psycopg = url.startswith(POSTGRESQL_DRIVER + "://")
    if psycopg:
        # psycopg reads 0 as "prepare at the first execution": here 0 means never, as None does
        kwargs["connect_args"] = {"prepare_threshold": prepare_threshold or None, **kwargs.get("connect_args", {})}
    engine = create_engine(url, **kwargs)
    if psycopg and prepare_threshold:
        _keep_prepared_statements_across_rollbacks(engine)
    if ping_after_idle is not None and not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine, ping_after_idle)
    return engine


def _keep_prepared_statements_across_rollbacks(engine: Engine) -> None:
    """End a healthy transaction with a ROLLBACK that leaves the connection's prepared statements.

    psycopg forgets a connection's prepared statements (and its counts of executions) at every
    ``rollback()`` and deallocates them on the server. SQLAlchemy rolls back every transaction
    that does not commit: each read-only request's session, and the pool's reset of a returned
    connection. So a statement would stay prepared only until the connection served its next
    GET, and in a service answering reads between claims a lookup would seldom reach
    ``prepare_threshold`` at all. PostgreSQL itself keeps prepared statements across a ROLLBACK
    (they belong to the session, not to the transaction). So a transaction in which nothing
    failed (libpq status INTRANS) is rolled back with a plain ROLLBACK sent through libpq, and
    psycopg's record of what is prepared stays true. A failed transaction (INERROR), or a
    ROLLBACK that does not succeed (a dropped connection), takes psycopg's own path, which
    forgets everything and raises what it must.
    """
    from psycopg import pq

    psycopg_rollback = engine.dialect.do_rollback

    def do_rollback(connection: Any) -> None:
        # the pool passes its proxy of the connection; psycopg's own is behind it
        conn = getattr(connection, "dbapi_connection", connection)
        if conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            if conn.pgconn.exec_(b"ROLLBACK").status == pq.ExecStatus.COMMAND_OK:
                return
        psycopg_rollback(connection)

    # this engine's own dialect instance (the pool resets through it too), not the class
    engine.dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _ping_idle_connections(engine: Engine, after: float) -> None:
    @event.listens_for(engine, "checkin")
    def _stamp(_dbapi_connection, record) -> None:
        record.info["podium_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("podium_idle_since")
        if idle_since is None or time.monotonic() - idle_since < after:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            raise DisconnectionError(f"a pooled connection was dead: {e}") from e
        if not alive:
            raise DisconnectionError("a pooled connection was dead")


def make_read_engine(url: str, *, prepare_threshold: int | None = PREPARE_THRESHOLD) -> Engine:
    """An engine for hot single-statement reads (the leaderboard's access check, bench B2).

    Autocommit, so a read is one round trip instead of BEGIN, SELECT and ROLLBACK and there is
    nothing to reset between reads, and no pre-ping: a connection found dead raises with
    ``connection_invalidated`` and ``ReadConnections`` retries once on a fresh one. Its
    statements are prepared as ``make_engine``'s are.
    """
    if url.startswith("sqlite"):
        return make_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    return make_engine(url, ping_after_idle=None, prepare_threshold=prepare_threshold, isolation_level="AUTOCOMMIT",
                       pool_reset_on_return=None, pool_size=5, max_overflow=10)


class ReadConnections:
    """One long-lived autocommit connection per thread for hot single-statement reads.

    The service answers requests on one event loop thread and these reads are synchronous, so a
    thread's connection is never shared; keeping it saves the pool checkout and return on every
    request. Each statement is its own transaction (autocommit), so reads always see the latest
    commit.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._opened: set[Connection] = set()
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = self.engine.connect()
            with self._lock:
                self._opened.add(conn)
        return conn

    def _drop(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            self._opened.discard(conn)
        conn.close()

    def first(self, statement: Executable, params: dict) -> Row | None:
        """The first row of one read-only statement, retried once on a fresh connection if this
        thread's was dead (the database restarted since its last use)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return conn.execute(statement, params).first()
            except DBAPIError as e:
                self._drop(conn)
                if attempt == 2 or not e.connection_invalidated:
                    raise
        return None  # unreachable: the loop returns or raises

    def dispose(self) -> None:
        """Close every thread's connection (call once the threads stopped reading) and the pool."""
        with self._lock:
            opened, self._opened = self._opened, set()
        for conn in opened:
            conn.close()
        self.engine.dispose()


def count_at_most(id_column: Any, conditions: Any, cap: int) -> Select:
    """``SELECT count(*)`` of the rows matching ``conditions``, reading at most ``cap`` of them
    (one index range, however many match): the lists' capped totals, and whether a phase is big."""
    found = select(id_column).where(*conditions).limit(cap).subquery()
    return select(func.count()).select_from(found)


def make_session_factory(engine: Engine, info: dict | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; each starts with a copy of ``info`` in ``Session.info`` (the
    service puts there what domain code may use beside the database, e.g. its ranking process)."""
    return sessionmaker(engine, expire_on_commit=False, info=info)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", ALEMBIC_DIR)
    cfg.set_main_option("sqlalchemy.url", engine_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


# the ``revision = '0007'`` and ``down_revision = '0006'`` (or a tuple, for a merge) lines
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def head_revision() -> str:
    """The id of the newest migration: the one no other migration revises (what Alembic's
    ``get_current_head`` answers, read from the version files' two assignments)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (Path(ALEMBIC_DIR) / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf8")))
        if "revision" in found:
            revisions.update(re.findall(r"['\"]([^'\"]+)['\"]", found["revision"]))
            revised.update(re.findall(r"['\"]([^'\"]+)['\"]", found.get("down_revision", "")))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"The migrations in {ALEMBIC_DIR} have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's ``alembic_version`` row), None when empty."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = sorted(conn.scalars(text("SELECT version_num FROM alembic_version")))
    return ",".join(versions) or None


def check_schema(engine: Engine) -> None:
    """Refuse to serve on a schema that does not match this code, with the fix in the message."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaOutOfDate(engine.url.render_as_string(hide_password=True), current, head)
