"""The leaderboard read's fast path (bench B2): one Core query, no ORM objects, no Session.

Reading a phase's leaderboard is the hottest request of a running competition. Everything it
must know before answering from the page cache (does the phase exist, may this user see it,
which version of the stored ranking is current) comes from one statement, compiled once: the
phase, its competition and leaderboard, whether the caller is a listed organizer and their
registration status. A cache miss falls back to the ORM path, which builds and caches the page. The row itself is
remembered until something it depends on changes (``RememberedAccess``), so a read of a cached
page is answered from memory on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Row, bindparam, select

from ..auth.identity import Identity
from ..auth.permissions import standing
from ..db import ReadConnections
from ..orm import Competition, Leaderboard, Organizer, Participant, Phase
from .changes import ChangeFeed, Remembered
from .store import page_identity

_ACCESS = (
    select(
        Phase.id,
        Phase.leaderboard_version,
        Phase.submission_rule,
        Phase.leaderboard_visibility,
        Phase.leaderboard_id,
        Competition.published,
        Competition.organizer_group,
        Competition.registration_mode,
        Competition.participant_groups,
        Competition.updated_at,
        Leaderboard.key,
        Leaderboard.title,
        Leaderboard.hidden,
        select(Organizer.id)
        .where(Organizer.competition_id == Competition.id, Organizer.username == bindparam("username"))
        .exists()
        .label("listed_organizer"),
        select(Participant.status)
        .where(Participant.competition_id == Competition.id, Participant.username == bindparam("username"))
        .scalar_subquery()
        .label("registered_status"),
    )
    .select_from(Phase)
    .join(Competition, Competition.id == Phase.competition_id)
    .outerjoin(Leaderboard, Leaderboard.id == Phase.leaderboard_id)
    .where(Phase.id == bindparam("phase_id"))
)


@dataclass(frozen=True)
class LeaderboardAccess:
    """What one user may do with one phase's leaderboard, and the key of its cached pages."""

    can_view: bool
    can_see: bool
    manages: bool
    #: everything a page depends on besides its limit, offset and hidden columns
    page_identity: tuple


def access_of(row: Row, identity: Identity, engine: Engine) -> LeaderboardAccess:
    """What ``identity`` may do with the phase of ``row`` (an ``_ACCESS`` row read for them)."""
    facts = standing(
        identity,
        published=row.published,
        organizer_group=row.organizer_group,
        registration_mode=row.registration_mode,
        participant_groups=row.participant_groups,
        listed_organizer=bool(row.listed_organizer),
        registered_status=row.registered_status,
    )
    return LeaderboardAccess(
        can_view=facts.can_view,
        can_see=facts.sees_leaderboard(board_hidden=bool(row.hidden), visibility=row.leaderboard_visibility),
        manages=facts.manages,
        page_identity=page_identity(
            engine,
            phase_id=row.id,
            version=row.leaderboard_version,
            rule=row.submission_rule,
            leaderboard=(row.leaderboard_id, row.key, row.title),
            competition_updated_at=row.updated_at,
        ),
    )


class RememberedAccess:
    """The ``_ACCESS`` rows of recent readers, by (phase, user name), each good while the change
    feed's generation has not moved since it was read (``leaderboards.changes``): a leaderboard
    read whose page is cached then costs no database round trip and no thread.

    The row holds facts of the database only; what the hub says of the user (admin, groups)
    comes from the request's identity each time. Bounded, least recently used out first."""

    def __init__(self, reads: ReadConnections, feed: ChangeFeed, size: int = 20_000) -> None:
        self.reads = reads
        self._rows: Remembered[tuple[int, str], Row] = Remembered(feed, size)

    @property
    def size(self) -> int:
        return self._rows.size

    def remembered(self, identity: Identity, phase_id: int) -> LeaderboardAccess | None:
        """From memory alone (safe on the event loop); None when not remembered or stale."""
        row = self._rows.get((phase_id, identity.name))
        return access_of(row, identity, self.reads.engine) if row is not None else None

    def check(self, identity: Identity, phase_id: int) -> LeaderboardAccess | None:
        """From the database (one statement), remembered for the next read; None if there is no
        such phase. The generation is taken before the read, so a row read across a change is
        never served after it."""
        generation = self._rows.now()
        row = self.reads.first(_ACCESS, {"phase_id": phase_id, "username": identity.name})
        if row is None:
            return None
        self._rows.put((phase_id, identity.name), generation, row)
        return access_of(row, identity, self.reads.engine)
