"""When what the leaderboard's fast path remembers may have changed: a generation counter.

The fast path (``leaderboards.reads``) keeps, per phase and user, the row that says who may see
the phase's leaderboard and which version of its ranking is current. A remembered row is good
while ``ChangeFeed.generation`` has not moved since it was read. The counter moves:

* in this process, when a transaction that wrote one of ``WATCHED`` commits: before the commit
  (nothing remembered before it is served after it) and again when its connection goes back to
  the pool (what a reader fetched while the commit was on its way is dropped too), before the
  request that committed answers anyone;
* from other processes and replicas on PostgreSQL, when a notification arrives on ``CHANNEL``:
  statement triggers on the watched tables (migrations 0013 and 0022) send one in the writing transaction,
  delivered at its commit. A read asks ``up_to_date()`` first, which also says no while a
  notification waits on the listener's socket or is being handed on: on a busy host the
  listening thread may wait several milliseconds for its turn at the interpreter, and a read in
  that time would otherwise serve what the notification says has changed. The window left is
  PostgreSQL's delivery to the listener's socket, well under a millisecond on one network; while
  the listener is not connected (or the triggers are missing) nothing is remembered and every
  read checks the database, as before.

A second counter, ``queue_generation``, moves the same way for ``QUEUES`` (``compute_queues``,
migration 0023; the notification's payload names the table): which queue a worker's token names
(``compute.queues.RememberedTokens``).

The same listener also hands on ``SUBMISSIONS_CHANNEL``: whose submissions changed, for the
pages of "my submissions" (``submissions.listing_cache``).

SQLite serves one process, whose own commits are all it needs to see.
"""

from __future__ import annotations

import functools
import logging
import re
import select
import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, event

from ..lru import LeastRecentlyUsed

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: the tables whose rows decide a leaderboard read's access and current version (``generation``)
WATCHED = ("competitions", "phases", "leaderboards", "leaderboard_columns", "organizers", "participants",
           "teams", "team_members")
#: the table that says which queue a worker's token names (``queue_generation``, migration 0023;
#: ``compute.queues.RememberedTokens``): a counter of its own, so that scores, which write the
#: leaderboard's tables, do not make every process read its workers' tokens again
QUEUES = "compute_queues"
#: the tables with a ``podium_changes`` trigger (migrations 0013, 0022 and 0023)
NOTIFYING = (*WATCHED, QUEUES)
CHANNEL = "podium_changes"
#: whose submissions changed, one notification per key (``submissions.listing_cache``, migration 0022)
SUBMISSIONS_CHANNEL = "podium_submissions"
#: the statement triggers that send it: insert, update, delete and truncate of submissions and scores
SUBMISSION_TRIGGERS = 8
_WRITE = re.compile(r'\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
#: the first four letters of a statement that may write (a WITH may hold an INSERT, UPDATE or DELETE)
_MAY_WRITE = frozenset(("INSE", "UPDA", "DELE", "WITH"))
_CHANGED, _BUMP_ON_CHECKIN = "podium_changed", "podium_bump_on_checkin"


@functools.lru_cache(maxsize=1024)
def notifying_tables_written(statement: str) -> frozenset[str]:
    """The tables of ``NOTIFYING`` that ``statement`` may write: the target of each INSERT, UPDATE
    or DELETE in it, those of its data-modifying CTEs too (a word UPDATE elsewhere, as in FOR
    UPDATE, names no such table). Remembered per statement text: the same few statements run
    again and again."""
    return frozenset(table.lower() for table in _WRITE.findall(statement)) & frozenset(NOTIFYING)


class ChangeFeed:
    """The generation counters, whether remembering is safe (``live``) and whether what is
    remembered may be served now (``up_to_date``)."""

    def __init__(self) -> None:
        self.generation = 0
        self.queue_generation = 0
        #: told each ``SUBMISSIONS_CHANNEL`` payload (``submissions.listing_cache.SubmissionPages``)
        self.on_submissions: Callable[[str], None] | None = None
        self.live = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        #: the listening connection's socket while it is connected (PostgreSQL), else None
        self._socket: int | None = None
        #: True from the moment the listener sees its socket readable until what it read is handed on
        self._draining = False

    def bump(self, tables: frozenset[str] | None = None) -> None:
        """Move the counter of each table in ``tables`` (None: every counter)."""
        with self._lock:
            if tables is None or tables - {QUEUES}:
                self.generation += 1
            if tables is None or QUEUES in tables:
                self.queue_generation += 1

    def up_to_date(self) -> bool:
        """May what is remembered be served now: live, and no notification waiting to be handed
        on (on the listener's socket, or read from it and not yet counted). Safe on any thread."""
        if not self.live:
            return False
        if self._listener is None:  # SQLite: one process, whose own commits move the counters
            return True
        # the socket before the flag: the listener raises the flag before it reads the socket,
        # so a notification is seen in one or the other until its counter has moved
        return not (self._readable() or self._draining)

    def _readable(self) -> bool:
        socket = self._socket
        if socket is None:
            return True
        poller = select.poll()  # one per call: a poll object may not be used by two threads at once
        try:
            poller.register(socket, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):  # the connection closed under us: its listener is going down
            return True

    # --- this process's writes ---------------------------------------------------------------

    def watch(self, engine: Engine) -> None:
        """Move the counters when a transaction on ``engine`` that wrote a watched table commits."""
        event.listen(engine, "before_cursor_execute", self._note_write)
        event.listen(engine, "commit", self._committing)
        event.listen(engine, "rollback", self._rolled_back)
        event.listen(engine, "checkin", self._checked_in)

    def _note_write(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement[:4].upper() in _MAY_WRITE:
            tables = notifying_tables_written(statement)
            if tables:
                conn.info.setdefault(_CHANGED, set()).update(tables)

    @staticmethod
    def _rolled_back(conn: Any) -> None:
        """Forget the transaction's writes; a connection that died mid-transaction (a killed
        backend) has no ``info`` to read and nothing to forget: its record goes with it."""
        if not conn.invalidated:
            conn.info.pop(_CHANGED, None)

    def _committing(self, conn: Any) -> None:
        tables = conn.info.pop(_CHANGED, None)
        if tables:
            conn.info[_BUMP_ON_CHECKIN] = tables = frozenset(tables)
            self.bump(tables)

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        tables = record.info.pop(_BUMP_ON_CHECKIN, None)
        if tables:
            self.bump(tables)

    # --- other processes' writes (PostgreSQL) ------------------------------------------------

    def start(self, engine: Engine) -> None:
        """SQLite: live at once (one process). PostgreSQL: listen for ``CHANNEL`` in a thread."""
        if engine.dialect.name != "postgresql":
            self.live = True
            return
        self._listener = threading.Thread(target=self._listen_forever, args=(engine,), daemon=True,
                                          name="podium-changes")
        self._listener.start()

    def stop(self) -> None:
        """Stop remembering and listening (the listener closes its connection within a second)."""
        self._stop.set()
        self.live = False
        if self._listener is not None:
            self._listener.join(2)

    def _listen_forever(self, engine: Engine) -> None:
        warned = False
        while not self._stop.is_set():
            try:
                self._listen(engine)
            except Exception as e:  # noqa: BLE001 - any failure: stop remembering, reconnect
                if not warned:
                    log.warning("Leaderboard change notifications lost (%s); reads check the database until "
                                "they are back", e)
                    warned = True
            self.live = False
            self.bump()
            self._stop.wait(1.0)

    def _deliver(self, note: Any) -> None:
        """One notification (a psycopg ``Notify``: ``channel``, ``payload``) from the listener."""
        if note.channel == CHANNEL:
            self.bump(frozenset([note.payload]))  # the trigger's payload: the table written
        elif note.channel == SUBMISSIONS_CHANNEL and self.on_submissions is not None:
            self.on_submissions(note.payload)

    def _listen(self, engine: Engine) -> None:
        """Check the triggers, LISTEN on both channels and deliver what arrives until stopped.

        The thread waits for its socket itself (at most a second, so the stop flag is read every
        second) and raises ``_draining`` before psycopg reads it: from the notification's arrival
        until its counter has moved, ``up_to_date`` says no, on whichever thread asks.
        """
        proxied = engine.raw_connection()
        proxied.detach()  # a connection of its own, never handed to a request
        conn = proxied.dbapi_connection
        try:
            conn.rollback()  # psycopg changes autocommit only outside a transaction: end any the pool left
            conn.autocommit = True
            triggers, owner_triggers = conn.execute(
                "SELECT count(*) FILTER (WHERE tgname LIKE 'podium\\_changes\\_%'), "
                "count(*) FILTER (WHERE tgname LIKE 'podium\\_owner\\_changes\\_%') FROM pg_trigger").fetchone()
            if triggers < len(NOTIFYING) or owner_triggers < SUBMISSION_TRIGGERS:
                raise RuntimeError(f"{triggers + owner_triggers} of the {len(NOTIFYING) + SUBMISSION_TRIGGERS} "
                                   "change triggers exist (run the migrations: podium service --upgrade-db)")
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {SUBMISSIONS_CHANNEL}")
            self._socket = conn.fileno()
            waiting = select.poll()
            waiting.register(self._socket, select.POLLIN)
            self._drain(conn)  # what arrived during the LISTENs (the bump below covers it as well)
            self.bump()
            self.live = True
            while not self._stop.is_set():
                if waiting.poll(1000):
                    self._drain(conn)
        finally:
            self.live = False
            self._socket = None
            conn.close()

    def _drain(self, conn: Any) -> None:
        """Hand on every notification psycopg can read now, ``_draining`` raised meanwhile."""
        self._draining = True
        try:
            for note in conn.notifies(timeout=0):
                self._deliver(note)
        finally:
            self._draining = False


class Remembered(Generic[K, V]):
    """Values read from the database, by key, each good while one of the feed's counters
    (``counter``: ``generation`` or ``queue_generation``) has not moved since it was read.
    Nothing is kept or served while the feed is not live. Bounded, least recently used out
    first. Take ``now()`` before the read a value comes from, and ``put`` it with that: a value
    read across a change is then never served after it."""

    def __init__(self, feed: ChangeFeed, size: int, counter: str = "generation") -> None:
        self.feed = feed
        self.counter = counter
        self._values: LeastRecentlyUsed[K, tuple[int, V]] = LeastRecentlyUsed(size)

    @property
    def size(self) -> int:
        return self._values.size

    def __len__(self) -> int:
        return len(self._values)

    def now(self) -> int:
        """The counter, to take before reading a value to ``put``."""
        return getattr(self.feed, self.counter)

    def get(self, key: K) -> V | None:
        """The value remembered for ``key`` if it is still good (safe on the event loop)."""
        if not self.feed.up_to_date():
            return None
        found = self._values.get(key)
        return found[1] if found is not None and found[0] == self.now() else None

    def put(self, key: K, generation: int, value: V) -> None:
        """Remember ``value``, read after the counter was ``generation``."""
        if self.feed.live:
            self._values.put(key, (generation, value))
