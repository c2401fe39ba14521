"""Who is in which team, and the changes to it: organizers make teams (named members, a hub group
or a CSV roster); where the competition's policy allows, participants create teams, invite and
accept until the join deadline, within the size limit.

Joining a team brings the joiner's earlier submissions in the competition with them (as Kaggle's
team merge does): the team has one leaderboard row and one quota, and a member who leaves
takes nothing of it; the submissions they made stay the team's.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..auth.permissions import CompetitionRoles
from ..clock import utcnow
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..leaderboards import store as leaderboard_store
from ..orm import Competition, Phase, Submission, Team, TeamInvitation, TeamMember, TeamPolicy
from .competitors import team_of


def policy(session: Session, competition: Competition) -> TeamPolicy:
    """The competition's team policy (organizers alone make teams, when none was set)."""
    found = session.get(TeamPolicy, competition.id)
    return found or TeamPolicy(competition_id=competition.id, participant_teams=False, max_size=0, join_deadline=None)


def set_policy(session: Session, competition: Competition, *, participant_teams: bool, max_size: int,
               join_deadline: datetime | None) -> TeamPolicy:
    row = session.get(TeamPolicy, competition.id)
    if row is None:
        row = TeamPolicy(competition_id=competition.id)
        session.add(row)
    row.participant_teams, row.max_size, row.join_deadline = participant_teams, max_size, join_deadline
    session.flush()
    return row


def _check_participants_may_change(session: Session, roles: CompetitionRoles) -> TeamPolicy:
    """Participants change teams only where the policy allows, before its join deadline."""
    rules = policy(session, roles.competition)
    if not rules.participant_teams:
        raise PermissionDenied(f"Teams in '{roles.competition.slug}' are made by its organizers.")
    if rules.join_deadline is not None and utcnow() >= rules.join_deadline:
        raise Conflict(f"Teams in '{roles.competition.slug}' closed at {rules.join_deadline.isoformat()}Z.")
    return rules


def _member_count(session: Session, team: Team) -> int:
    return session.scalar(select(func.count(TeamMember.id)).where(TeamMember.team_id == team.id)) or 0


def _lock(session: Session, team: Team) -> None:
    """Serialize joins of one team until commit (a row lock; SQLite's write lock), so two
    accepts at once cannot pass the size limit together."""
    session.execute(update(Team).where(Team.id == team.id).values(name=Team.name))


def _check_room(session: Session, team: Team, rules: TeamPolicy, joining: int = 1) -> None:
    if rules.max_size and _member_count(session, team) + joining > rules.max_size:
        raise Conflict(f"Team '{team.name}' is full: teams have at most {rules.max_size} members.")


def _check_unteamed(session: Session, competition: Competition, username: str) -> None:
    taken = session.scalar(select(Team.name).join(TeamMember, TeamMember.team_id == Team.id).where(
        TeamMember.competition_id == competition.id, TeamMember.username == username))
    if taken is not None:
        raise Conflict(f"{username} is already in team '{taken}'; they must leave it first.")


def _join(session: Session, team: Team, username: str) -> None:
    """Add the member and bring their earlier submissions in the competition into the team."""
    session.add(TeamMember(team_id=team.id, competition_id=team.competition_id, username=username))
    session.execute(delete(TeamInvitation).where(TeamInvitation.team_id == team.id, TeamInvitation.username == username))
    phases = select(Phase.id).where(Phase.competition_id == team.competition_id)
    moved = session.execute(
        update(Submission).where(Submission.owner == username, Submission.team_id.is_(None),
                                 Submission.phase_id.in_(phases))
        .values(team_id=team.id).execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    if moved:
        for phase in session.scalars(select(Phase).where(Phase.competition_id == team.competition_id)):
            leaderboard_store.rebuild(session, phase)


def _new_team(session: Session, competition: Competition, name: str, by: str, hub_group: str | None = None) -> Team:
    if session.scalar(select(Team.id).where(Team.competition_id == competition.id, Team.name == name)):
        raise Conflict(f"A team named '{name}' already exists in '{competition.slug}'.")
    team = Team(competition_id=competition.id, name=name, hub_group=hub_group, created_by=by)
    session.add(team)
    session.flush()
    return team


def create(session: Session, roles: CompetitionRoles, name: str, members: list[str] | None = None,
           hub_group: str | None = None) -> Team:
    """Organizers: a team of named members or of a hub group's members. Participants (where
    allowed): a team of their own, with themselves as its first member."""
    competition = roles.competition
    if roles.manages:
        for username in members or []:
            _check_unteamed(session, competition, username)
        team = _new_team(session, competition, name, roles.identity.name, hub_group)
        for username in dict.fromkeys(members or []):
            _join(session, team, username)
        return team
    if members or hub_group:
        raise PermissionDenied("Participants create a team of their own and invite the others.")
    _check_participants_may_change(session, roles)
    mine = team_of(session, competition.id, roles.identity)
    if mine is not None:
        raise Conflict(f"You are already in team '{mine.name}'; leave it first.")
    team = _new_team(session, competition, name, roles.identity.name)
    _join(session, team, roles.identity.name)
    return team


def find(session: Session, competition: Competition, team_id: int | None, ref: str) -> Team:
    """The competition's team ``team_id`` (None: a reference that is no id); 404 otherwise."""
    team = session.get(Team, team_id) if team_id is not None else None
    if team is None or team.competition_id != competition.id:
        raise NotFound(f"No such team: {ref}")
    return team


def invite(session: Session, roles: CompetitionRoles, team: Team, username: str) -> TeamInvitation:
    """A member invites another participant (until the join deadline, while there is room)."""
    rules = _check_participants_may_change(session, roles)
    if not session.scalar(select(TeamMember.id).where(TeamMember.team_id == team.id,
                                                       TeamMember.username == roles.identity.name)):
        raise PermissionDenied(f"Only members of team '{team.name}' may invite to it.")
    _check_unteamed(session, roles.competition, username)
    _check_room(session, team, rules)
    existing = session.scalar(select(TeamInvitation).where(TeamInvitation.team_id == team.id,
                                                           TeamInvitation.username == username))
    if existing is not None:
        return existing
    invitation = TeamInvitation(team_id=team.id, username=username, invited_by=roles.identity.name)
    session.add(invitation)
    session.flush()
    return invitation


def accept(session: Session, roles: CompetitionRoles, team: Team) -> Team:
    """The invited participant joins; their submissions so far become the team's."""
    rules = _check_participants_may_change(session, roles)
    me = roles.identity.name
    if not session.scalar(select(TeamInvitation.id).where(TeamInvitation.team_id == team.id,
                                                          TeamInvitation.username == me)):
        raise PermissionDenied(f"You have no invitation to team '{team.name}'.")
    mine = team_of(session, roles.competition.id, roles.identity)
    if mine is not None:
        raise Conflict(f"You are already in team '{mine.name}'; leave it first.")
    _lock(session, team)
    _check_room(session, team, rules)
    _join(session, team, me)
    return team


def decline(session: Session, roles: CompetitionRoles, team: Team) -> None:
    """The invited participant says no (or a member withdraws nothing: only the invitee declines)."""
    session.execute(delete(TeamInvitation).where(TeamInvitation.team_id == team.id,
                                                 TeamInvitation.username == roles.identity.name))


def leave(session: Session, roles: CompetitionRoles) -> Team:
    """A member leaves (where participants manage teams, before the deadline). The team keeps
    its submissions and its quota; the leaver starts again alone with nothing of either."""
    _check_participants_may_change(session, roles)
    row = session.scalar(select(TeamMember).where(TeamMember.competition_id == roles.competition.id,
                                                  TeamMember.username == roles.identity.name))
    if row is None:
        group_team = team_of(session, roles.competition.id, roles.identity)
        if group_team is not None:
            raise Conflict(f"Team '{group_team.name}' is the hub group '{group_team.hub_group}'; "
                           "ask the organizers to take you out of it.")
        raise Conflict("You are not in a team.")
    team = row.team
    session.delete(row)
    session.flush()
    return team


def remove_member(session: Session, team: Team, username: str) -> None:
    """Organizers take a member out of a team (any time): the submissions stay the team's."""
    row = session.scalar(select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.username == username))
    if row is None:
        raise NotFound(f"{username} is not a member of team '{team.name}'.")
    session.delete(row)
    session.flush()


def add_member(session: Session, competition: Competition, team: Team, username: str) -> None:
    """Organizers put a participant in a team (no size limit or deadline for them)."""
    _check_unteamed(session, competition, username)
    _join(session, team, username)


def delete_team(session: Session, team: Team) -> None:
    """Organizers delete a team that never submitted (a team's submissions are its history)."""
    if session.scalar(select(func.count(Submission.id)).where(Submission.team_id == team.id)):
        raise Conflict(f"Team '{team.name}' has submissions; remove its members instead.")
    session.delete(team)
    session.flush()


def import_roster(session: Session, roles: CompetitionRoles, text: str) -> list[Team]:
    """Organizers: teams from a CSV of ``team,username`` lines (a header line is allowed).
    Every problem is reported with its line, and nothing is changed unless all lines are good."""
    competition = roles.competition
    wanted: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    problems = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or (number == 1 and [c.lower() for c in cells[:2]] == ["team", "username"]):
            continue
        if len(cells) != 2 or not all(cells):
            problems.append({"location": f"line {number}", "message": "expected two cells: team,username"})
            continue
        name, username = cells
        if username in seen:
            problems.append({"location": f"line {number}",
                             "message": f"{username} is already on line {seen[username]}"})
            continue
        seen[username] = number
        wanted.setdefault(name, []).append(username)
    for username, number in seen.items():
        try:
            _check_unteamed(session, competition, username)
        except Conflict as e:
            problems.append({"location": f"line {number}", "message": e.message})
    if problems:
        raise ValidationFailed("The team roster has problems: " + "; ".join(
            f"{p['location']}: {p['message']}" for p in problems), problems)
    teams = []
    for name, usernames in wanted.items():
        team = session.scalar(select(Team).where(Team.competition_id == competition.id, Team.name == name))
        if team is None:
            team = _new_team(session, competition, name, roles.identity.name)
        for username in usernames:
            _join(session, team, username)
        teams.append(team)
    return teams
