"""Who competes: a participant alone or their team. The one place that answers, for a caller,
whose quota a new submission uses, whose leaderboard row it ranks in, and what they may see.

A team's leaderboard row is keyed ``team/<name>``: JupyterHub user names never contain ``/``,
so the key cannot be a user's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, or_, select
from sqlalchemy.orm import Session

from ..auth.identity import Identity
from ..orm import Submission, Team, TeamMember

TEAM_PREFIX = "team/"


@dataclass(frozen=True)
class Competitor:
    """The caller as the leaderboard and the quota see them: ``team`` is None for someone alone."""

    username: str
    team_id: int | None = None
    team_name: str | None = None

    @property
    def key(self) -> str:
        """The leaderboard row's owner, and the quota lock's name."""
        return self.username if self.team_name is None else TEAM_PREFIX + self.team_name

    @property
    def lock_name(self) -> str:
        return quota_lock_name(self.username, self.team_id)

    @property
    def teams(self) -> tuple[str, ...]:
        """The team names whose deadline extensions apply to the caller (``classroom.deadlines``)."""
        return () if self.team_name is None else (self.team_name,)


def quota_lock_name(owner: str, team_id: int | None) -> str:
    """The ``quota_locks`` name of a participant alone, or of their team (shared by its members)."""
    return owner if team_id is None else f"{TEAM_PREFIX}{team_id}"


def team_of(session: Session, competition_id: int, identity: Identity) -> Team | None:
    """The caller's team in a competition: their membership row, else a team made from one of
    their hub groups (the lowest id, if several). One query: it runs on every submit."""
    member = Team.id.in_(select(TeamMember.team_id).where(TeamMember.competition_id == competition_id,
                                                          TeamMember.username == identity.name))
    mine = or_(member, Team.hub_group.in_(sorted(identity.groups))) if identity.groups else member
    return session.scalar(
        select(Team).where(Team.competition_id == competition_id, mine)
        .order_by(case((member, 0), else_=1), Team.id).limit(1)
    )


def competitor(session: Session, competition_id: int, identity: Identity) -> Competitor:
    team = team_of(session, competition_id, identity)
    if team is None:
        return Competitor(identity.name)
    return Competitor(identity.name, team.id, team.name)


def visible_to(who: Competitor) -> list[ColumnElement[bool]]:
    """The submissions ``who`` sees as their own, as disjoint conditions (``paging.branch_page``
    reads each from its own index): those they made alone (not those they made for a team they
    left), and their team's."""
    alone = and_(Submission.owner == who.username, Submission.team_id.is_(None))
    return [alone] if who.team_id is None else [alone, Submission.team_id == who.team_id]


def teams_everywhere(session: Session, identity: Identity) -> list[int]:
    """The ids of every team of the caller's: recorded memberships, and hub-group teams of their groups."""
    teams = select(TeamMember.team_id).where(TeamMember.username == identity.name)
    if identity.groups:
        teams = teams.union(select(Team.id).where(Team.hub_group.in_(sorted(identity.groups))))
    return sorted(session.scalars(teams))


def visible_everywhere(identity: Identity, teams: list[int]) -> list[ColumnElement[bool]]:
    """``visible_to`` across competitions, as disjoint conditions: what the caller made alone, and
    each of their ``teams``' (``teams_everywhere``)."""
    alone = and_(Submission.owner == identity.name, Submission.team_id.is_(None))
    return [alone, *(Submission.team_id == team for team in teams)]


def of_submission(session: Session, submission: Submission) -> Competitor:
    """Who made ``submission`` as the leaderboard sees them: its team, or its owner alone (for an
    organizer acting on it: the window and the selection are that competitor's)."""
    if submission.team_id is None:
        return Competitor(submission.owner)
    return Competitor(submission.owner, submission.team_id,
                      session.scalar(select(Team.name).where(Team.id == submission.team_id)))


def members_by_team(session: Session, competition_id: int) -> dict[str, str]:
    """``{username: team name}`` of the teams' recorded members (hub-group teams' members are the
    hub's to tell: ``Team.hub_group``)."""
    return dict(session.execute(select(TeamMember.username, Team.name).join(Team, Team.id == TeamMember.team_id)
                                .where(TeamMember.competition_id == competition_id)).all())


def sees(who: Competitor, submission: Submission) -> bool:
    """The Python twin of ``visible_to``, for one submission at hand."""
    if submission.team_id is not None:
        return submission.team_id == who.team_id
    return submission.owner == who.username


def row_key(owner: str, team_name: str | None) -> str:
    """The leaderboard owner of a submission made by ``owner`` for ``team_name`` (or alone)."""
    return owner if team_name is None else TEAM_PREFIX + team_name


def submission_key(session: Session, submission: Submission) -> str:
    """The leaderboard owner of one submission."""
    if submission.team_id is None:
        return submission.owner
    return row_key(submission.owner, session.scalar(select(Team.name).where(Team.id == submission.team_id)))


def rows_of(key: str, competition_id: int):
    """The WHERE clause of the submissions ranked under leaderboard owner ``key``."""
    if key.startswith(TEAM_PREFIX):
        team = select(Team.id).where(Team.competition_id == competition_id, Team.name == key[len(TEAM_PREFIX):])
        return Submission.team_id == team.scalar_subquery()
    return and_(Submission.owner == key, Submission.team_id.is_(None))


def team_named(key: str) -> str | None:
    """The team's name in a leaderboard owner key, None for a participant alone."""
    return key[len(TEAM_PREFIX):] if key.startswith(TEAM_PREFIX) else None
