"""``me``: my roles, my competitions and my remaining quota per phase."""

from __future__ import annotations

from sqlalchemy import or_, select

from ..auth.permissions import can_create_competitions
from ..classroom import deadlines
from ..orm import Competition, Organizer, Participant
from ..submissions import lifecycle as domain
from ..teams import competitors
from .base import APIHandler, api


class MeHandler(APIHandler):
    @api("Who I am to Podium: roles, competitions, and remaining quota in their current phases.",
         requires="user")
    async def get(self) -> None:
        user = self.user
        organizing = select(Organizer.competition_id).where(Organizer.username == user.name)
        joined = select(Participant.competition_id).where(Participant.username == user.name)
        conditions = [Competition.id.in_(organizing), Competition.id.in_(joined)]
        if user.groups:
            conditions.append(Competition.organizer_group.in_(sorted(user.groups)))
        candidates = list(self.db.scalars(select(Competition).where(or_(*conditions))))
        # roster competitions: any whose participant groups meet mine (JSON column, filtered here)
        roster = self.db.scalars(
            select(Competition).where(
                Competition.registration_mode == "groups", Competition.published.is_(True)
            )
        )
        seen = {c.id for c in candidates}
        candidates += [
            c for c in roster if c.id not in seen and set(c.participant_groups or ()) & user.groups
        ]
        competitions = []
        for comp in sorted(candidates, key=lambda c: c.id):
            roles = self.roles(comp)
            if not roles.can_view:
                continue
            entry = {
                "id": comp.id,
                "slug": comp.slug,
                "title": comp.title,
                "organizer": roles.manages,
                "participant": roles.participant_status.value if roles.participant_status else None,
                "phases": [],
            }
            if roles.is_participant or roles.manages:
                who = competitors.competitor(self.db, comp.id, user)
                entry["team"] = who.team_name
                for phase in comp.phases:
                    entry["phases"].append(
                        {
                            "id": phase.id,
                            "name": phase.name,
                            "quota": domain.quota(self.db, phase, user.name, team_id=who.team_id).as_json(),
                            "deadline": deadlines.deadline_for(self.db, phase, user.name, who.teams).as_json(),
                        }
                    )
            competitions.append(entry)
        self.write_json(
            {
                "name": user.name,
                "admin": user.admin,
                "groups": sorted(user.groups),
                "can_create_competitions": can_create_competitions(user, self.podium.creator_group),
                "competitions": competitions,
            }
        )


default_handlers = [("/me", MeHandler)]
