"""The leaderboard read's fast path (bench B2): one Core query, no ORM objects, no Session.

Reading a phase's leaderboard is the hottest request of a running competition. Everything it
must know before answering from the page cache (does the phase exist, may this user see it,
which version of the stored ranking is current) comes from one statement, compiled once: the
phase, its competition and leaderboard, whether the caller is a listed organizer and their
registration status. A cache miss falls back to the ORM path, which builds and caches the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from ..auth.identity import Identity
from ..auth.permissions import standing
from ..db import ReadConnections
from ..orm import Competition, Leaderboard, Organizer, Participant, Phase
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


def check(reads: ReadConnections, identity: Identity, phase_id: int) -> LeaderboardAccess | None:
    """``identity``'s access to the leaderboard of phase ``phase_id``; None if there is no such phase."""
    row = reads.first(_ACCESS, {"phase_id": phase_id, "username": identity.name})
    if row is None:
        return None
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
            reads.engine,
            phase_id=row.id,
            version=row.leaderboard_version,
            rule=row.submission_rule,
            leaderboard=(row.leaderboard_id, row.key, row.title),
            competition_updated_at=row.updated_at,
        ),
    )
