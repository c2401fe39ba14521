"""Competitions: list, create, read, update, publish, delete."""

from __future__ import annotations

from sqlalchemy import or_, select

from ..auth.permissions import can_create_competitions
from ..competitions import authoring as domain
from ..errors import PermissionDenied
from ..orm import Competition, Organizer, Participant
from ..request_bodies import CompetitionIn, CompetitionUpdate, PageQuery
from .answers import competition_model
from .base import APIHandler, api


class CompetitionListHandler(APIHandler):
    @api("List the competitions I may see (published and listed, or mine).", query=PageQuery)
    async def get(self) -> None:
        user = self.user
        stmt = select(Competition)
        if not user.admin:
            mine = select(Organizer.competition_id).where(Organizer.username == user.name)
            joined = select(Participant.competition_id).where(Participant.username == user.name)
            conditions = [
                Competition.published.is_(True) & Competition.listed.is_(True),
                Competition.id.in_(mine),
                Competition.published.is_(True) & Competition.id.in_(joined),
            ]
            if user.groups:
                conditions.append(Competition.organizer_group.in_(sorted(user.groups)))
            stmt = stmt.where(or_(*conditions))
        rows = self.db.scalars(
            stmt.order_by(Competition.id.desc()).limit(self.query.limit).offset(self.query.offset)
        ).all()
        self.write_json(
            {"competitions": [competition_model(c, self.roles(c), full=False) for c in rows]}
        )

    @api("Create a competition, with its pages, tasks, leaderboards and phases at once.",
         body=CompetitionIn, status=201)
    async def post(self) -> None:
        if not can_create_competitions(self.user, self.podium.creator_group):
            raise PermissionDenied(
                f"Only hub admins and members of the hub group '{self.podium.creator_group}' "
                "may create competitions."
            )
        competition = domain.create_competition(
            self.db, self.user, self.body, self.podium.default_quotas
        )
        self.db.commit()
        self.write_json(competition_model(competition, self.roles(competition)), 201)


class CompetitionHandler(APIHandler):
    @api("Read a competition (by id or slug).")
    async def get(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        self.write_json(competition_model(comp, roles))

    @api("Change a competition's settings (organizers).", body=CompetitionUpdate)
    async def patch(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        domain.update_competition(self.db, comp, self.body)
        self.db.commit()
        self.write_json(competition_model(comp, roles))

    @api("Delete a competition and everything in it (organizers).", status=204)
    async def delete(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        domain.delete_competition(self.db, comp)
        self.db.commit()
        self.set_status(204)
        self.finish()


class PublishHandler(APIHandler):
    @api("Publish a competition (organizers); it must have phases with tasks.")
    async def post(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        domain.publish(comp, True)
        self.db.commit()
        self.write_json(competition_model(comp, roles))

    @api("Unpublish a competition (organizers).")
    async def delete(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        domain.publish(comp, False)
        self.db.commit()
        self.write_json(competition_model(comp, roles))


default_handlers = [
    ("/competitions", CompetitionListHandler),
    ("/competitions/{competition}", CompetitionHandler),
    ("/competitions/{competition}/publish", PublishHandler),
]
