"""Teams: the policy, the list, one's own team, invitations, and the organizers' roster."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..clock import isoformat
from ..orm import Competition, Team, TeamInvitation, TeamPolicy
from ..request_bodies import InvitationIn, TeamIn, TeamPolicyIn, TeamRosterIn
from ..teams import competitors, membership
from .base import APIHandler, api
from .input_limits import path_id


def policy_model(rules: TeamPolicy) -> dict[str, Any]:
    return {
        "participant_teams": rules.participant_teams,
        "max_size": rules.max_size or None,
        "join_deadline": isoformat(rules.join_deadline),
    }


def team_model(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "hub_group": team.hub_group,
        "members": [m.username for m in team.members],
        "invited": [i.username for i in team.invitations],
        "created_by": team.created_by,
        "created_at": isoformat(team.created_at),
    }


def my_team_model(handler: APIHandler, competition: Competition) -> dict[str, Any]:
    """The caller's team (or none), the invitations waiting for them, and the rules."""
    team = competitors.team_of(handler.db, competition.id, handler.user)
    invitations = handler.db.execute(
        select(Team.id, Team.name, TeamInvitation.invited_by)
        .join(TeamInvitation, TeamInvitation.team_id == Team.id)
        .where(Team.competition_id == competition.id, TeamInvitation.username == handler.user.name)
        .order_by(TeamInvitation.id)
    ).all()
    return {
        "team": None if team is None else team_model(team),
        "invitations": [{"team": i.id, "name": i.name, "invited_by": i.invited_by} for i in invitations],
        "policy": policy_model(membership.policy(handler.db, competition)),
    }


class TeamPolicyHandler(APIHandler):
    @api("Read the competition's team rules: whether participants make teams, the size limit, "
         "the join deadline.", requires="view")
    async def get(self, competition: Competition) -> None:
        self.write_json(policy_model(membership.policy(self.db, competition)))

    @api("Set the team rules (organizers).", requires="manage", body=TeamPolicyIn)
    async def put(self, competition: Competition) -> None:
        b: TeamPolicyIn = self.body
        rules = membership.set_policy(self.db, competition, participant_teams=b.participant_teams,
                                      max_size=b.max_size, join_deadline=b.join_deadline)
        self.db.commit()
        self.write_json(policy_model(rules))


class TeamListHandler(APIHandler):
    @api("List the competition's teams with their members (approved participants and organizers).",
         requires="participate")
    async def get(self, competition: Competition) -> None:
        teams = self.db.scalars(select(Team).where(Team.competition_id == competition.id).order_by(Team.id))
        self.write_json({"teams": [team_model(t) for t in teams]})

    @api("Create a team. Participants (where the rules allow, before the join deadline) make a team "
         "of their own; organizers may list its members or name a hub group whose members are the team.",
         requires="participate", body=TeamIn, status=201)
    async def post(self, competition: Competition) -> None:
        b: TeamIn = self.body
        team = membership.create(self.db, self.caller_roles, b.name, b.members, b.hub_group)
        self.db.commit()
        self.write_json(team_model(team), 201)


class TeamRosterHandler(APIHandler):
    @api("Make teams from a CSV of `team,username` lines (organizers); all lines or none.",
         requires="manage", body=TeamRosterIn)
    async def post(self, competition: Competition) -> None:
        teams = membership.import_roster(self.db, self.caller_roles, self.body.csv)
        self.db.commit()
        self.write_json({"teams": [team_model(t) for t in teams]})


class MyTeamHandler(APIHandler):
    @api("My team in the competition, the invitations waiting for me, and the team rules.",
         requires="participate")
    async def get(self, competition: Competition) -> None:
        self.write_json(my_team_model(self, competition))

    @api("Leave my team (where participants manage teams, before the join deadline): the team "
         "keeps its submissions and quota.", requires="participate")
    async def delete(self, competition: Competition) -> None:
        membership.leave(self.db, self.caller_roles)
        self.db.commit()
        self.write_json(my_team_model(self, competition))


class TeamHandler(APIHandler):
    @api("Delete a team that never submitted (organizers).", requires="manage", status=204)
    async def delete(self, competition: Competition, team_id: str) -> None:
        membership.delete_team(self.db, membership.find(self.db, competition, path_id(team_id), team_id))
        self.db.commit()
        self.set_status(204)
        self.finish()


class InvitationsHandler(APIHandler):
    @api("Invite a participant to my team (members; where the rules allow).", requires="participate",
         body=InvitationIn, status=201)
    async def post(self, competition: Competition, team_id: str) -> None:
        team = membership.find(self.db, competition, path_id(team_id), team_id)
        membership.invite(self.db, self.caller_roles, team, self.body.username)
        self.db.commit()
        self.write_json(team_model(team), 201)


class InvitationAnswerHandler(APIHandler):
    @api("Accept or decline an invitation to a team (the invited participant). Accepting brings "
         "my submissions so far into the team.", requires="participate")
    async def post(self, competition: Competition, team_id: str, answer: str) -> None:
        team = membership.find(self.db, competition, path_id(team_id), team_id)
        if answer == "accept":
            membership.accept(self.db, self.caller_roles, team)
        else:
            membership.decline(self.db, self.caller_roles, team)
        self.db.commit()
        self.write_json(my_team_model(self, competition))


class TeamMembersHandler(APIHandler):
    @api("Add a participant to a team (organizers; no size limit or deadline).", requires="manage",
         body=InvitationIn, status=201)
    async def post(self, competition: Competition, team_id: str) -> None:
        team = membership.find(self.db, competition, path_id(team_id), team_id)
        membership.add_member(self.db, competition, team, self.body.username)
        self.db.commit()
        self.db.refresh(team)
        self.write_json(team_model(team), 201)


class TeamMemberHandler(APIHandler):
    @api("Take a member out of a team (organizers): the team keeps its submissions and quota.",
         requires="manage")
    async def delete(self, competition: Competition, team_id: str, username: str) -> None:
        team = membership.find(self.db, competition, path_id(team_id), team_id)
        membership.remove_member(self.db, team, username)
        self.db.commit()
        self.db.refresh(team)
        self.write_json(team_model(team))


default_handlers = [
    ("/competitions/{competition}/team-policy", TeamPolicyHandler),
    ("/competitions/{competition}/teams", TeamListHandler),
    ("/competitions/{competition}/teams/roster", TeamRosterHandler),
    ("/competitions/{competition}/my-team", MyTeamHandler),
    ("/competitions/{competition}/teams/{team_id}", TeamHandler),
    ("/competitions/{competition}/teams/{team_id}/invitations", InvitationsHandler),
    ("/competitions/{competition}/teams/{team_id}/{answer:accept|decline}", InvitationAnswerHandler),
    ("/competitions/{competition}/teams/{team_id}/members", TeamMembersHandler),
    ("/competitions/{competition}/teams/{team_id}/members/{username}", TeamMemberHandler),
]
