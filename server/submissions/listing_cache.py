"""Pages of "my submissions" kept in memory until a submission they list changes (bench B8).

A participant opens their submissions far more often than one of them changes; building a page
(the rows, their phases, scores and roles, the capped count, 50 models) costs some milliseconds
and a handful of database round trips, and answering it from memory costs none. A page depends on:

* who asks (name, hub groups, admin) and the query (limit, offset, cursor): the cache key;
* the rows of the caller's own submissions and of their teams', with their scores: each change
  to them is counted under its *key*, ``o:<owner>`` or ``t:<team id>``;
* what the competitions around them say (phases, leaderboards, roles, teams): the change feed's
  generation (``leaderboards.changes``);
* the clock, for a phase whose private board is revealed at a date: a page lists such a phase
  only until that date.

Every change takes the next number of one sequence. A page remembers the number read *before*
its queries, and is served while none of its keys changed after it and the feed's generation is
the one read with it; so a page built from rows read across a change is never served.

Where changes come from:

* **This process's commits.** The session's flushes name the owners and teams of the
  ``Submission`` and ``Score`` rows they write (``track``); a bulk UPDATE or DELETE of those
  tables through the session, whose rows it cannot name, changes every key. They are applied
  right after the commit, before the request that committed answers anyone.
* **Other processes and replicas** (PostgreSQL): statement triggers (migration 0022) notify
  ``podium_submissions`` with each key a statement touched, delivered at its commit to every
  listening process (``ChangeFeed``). A page is not served while a notification waits to be
  handed on (``ChangeFeed.up_to_date``); the window is PostgreSQL's delivery to the listener,
  well under a millisecond on one network, as for the leaderboard's fast path.

Nothing is remembered while the feed is not live (its listener reconnecting) nor on SQLite,
whose single process reads the database every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.util import identity_key

from ..clock import utcnow
from ..leaderboards.changes import ChangeFeed
from ..orm import Score, Submission

#: the payload that says "every key changed" (a TRUNCATE, a bulk statement, a lost listener)
EVERYONE = "*"
_TOUCHED = "podium_submission_keys"


def owner_key(owner: str) -> str:
    return f"o:{owner}"


def team_key(team_id: int) -> str:
    return f"t:{team_id}"


@dataclass(frozen=True)
class CachedList:
    text: str
    keys: frozenset[str]
    sequence: int
    generation: int
    #: the first reveal date of a phase it lists (None: the page never goes stale by itself)
    good_until: datetime | None


class SubmissionPages:
    """The cache of list pages and the per-key change counters it is checked against."""

    def __init__(self, feed: ChangeFeed, enabled: bool, max_bytes: int = 8 * 1024 * 1024,
                 max_keys: int = 200_000) -> None:
        self.feed = feed
        self.enabled = enabled
        self.max_bytes, self.max_keys = max_bytes, max_keys
        self._lock = threading.Lock()
        self._sequence = 0
        self._everyone = 0  # the sequence number of the last change to every key
        self._changed: dict[str, int] = {}
        self._pages: OrderedDict[tuple, CachedList] = OrderedDict()
        self._bytes = 0

    # --- changes ------------------------------------------------------------------------------

    def changed(self, keys: Iterable[str]) -> None:
        """Note a change to ``keys`` (``EVERYONE`` among them: to every key)."""
        with self._lock:
            self._sequence += 1
            for key in keys:
                if key == EVERYONE:
                    self._everyone = self._sequence
                else:
                    self._changed[key] = self._sequence
            if len(self._changed) > self.max_keys:  # bounded: forgetting the keys changes them all
                self._changed.clear()
                self._everyone = self._sequence

    def notified(self, payload: str) -> None:
        """A ``podium_submissions`` notification from another process (or this one's own)."""
        self.changed([payload])

    def snapshot(self) -> tuple[int, int]:
        """(sequence, feed generation), read before the queries of a page to remember."""
        with self._lock:
            return self._sequence, self.feed.generation

    # --- pages --------------------------------------------------------------------------------

    def get(self, key: tuple) -> str | None:
        """The page's text if it is remembered and nothing it lists changed since it was read."""
        if not (self.enabled and self.feed.up_to_date()):
            return None
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            fresh = (page.generation == self.feed.generation and self._everyone <= page.sequence
                     and all(self._changed.get(k, 0) <= page.sequence for k in page.keys)
                     and (page.good_until is None or utcnow() < page.good_until))
            if not fresh:
                self._drop(key)
                return None
            self._pages.move_to_end(key)
            return page.text

    def put(self, key: tuple, text: str, keys: Iterable[str], snapshot: tuple[int, int],
            good_until: datetime | None) -> None:
        if not (self.enabled and self.feed.live) or len(text) > self.max_bytes // 8:
            return
        sequence, generation = snapshot
        with self._lock:
            self._drop(key)
            self._pages[key] = CachedList(text, frozenset(keys), sequence, generation, good_until)
            self._bytes += len(text)
            while self._bytes > self.max_bytes and self._pages:
                self._drop(next(iter(self._pages)))

    def _drop(self, key: tuple) -> None:
        page = self._pages.pop(key, None)
        if page is not None:
            self._bytes -= len(page.text)

    # --- this process's writes ------------------------------------------------------------------

    def track(self, session_factory: sessionmaker[Session]) -> None:
        """Note the keys of the submissions and scores each committed transaction wrote."""
        event.listen(session_factory, "after_flush", self._flushed)
        event.listen(session_factory, "do_orm_execute", self._bulk)
        event.listen(session_factory, "after_commit", self._committed)
        event.listen(session_factory, "after_transaction_end", self._ended)

    @staticmethod
    def _flushed(session: Session, _context: Any) -> None:
        touched: set[str] = session.info.setdefault(_TOUCHED, set())
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, Submission):
                touched.update(_submission_keys(obj))
            elif isinstance(obj, Score):
                owner = session.identity_map.get(identity_key(Submission, obj.submission_id))
                touched.update(_submission_keys(owner) if owner is not None else (EVERYONE,))

    @staticmethod
    def _bulk(state: ORMExecuteState) -> None:
        if (state.is_insert or state.is_update or state.is_delete) and state.bind_mapper is not None \
                and state.bind_mapper.class_ in (Submission, Score):
            state.session.info.setdefault(_TOUCHED, set()).add(EVERYONE)

    def _committed(self, session: Session) -> None:
        touched = session.info.pop(_TOUCHED, None)
        if touched:
            self.changed(touched)

    @staticmethod
    def _ended(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # rolled back (or committed, already applied): forget
            session.info.pop(_TOUCHED, None)


def note_written(session: Session, owner: str | None, team_id: int | None) -> None:
    """Note a submission row that a Core statement wrote in the session's transaction (no flush
    names it): the pages of its owner and of its team change when the transaction commits."""
    touched: set[str] = session.info.setdefault(_TOUCHED, set())
    if owner:
        touched.add(owner_key(owner))
    if team_id is not None:
        touched.add(team_key(team_id))


def _submission_keys(submission: Submission) -> set[str]:
    """The keys of a submission row as written: its owner and its team, before and after."""
    keys = {owner_key(submission.owner)} if submission.owner else set()
    history = inspect(submission).attrs.team_id.history
    for team in (*history.added, *history.unchanged, *history.deleted):
        if team is not None:
            keys.add(team_key(team))
    owners = inspect(submission).attrs.owner.history
    keys.update(owner_key(o) for o in owners.deleted if o)
    return keys
