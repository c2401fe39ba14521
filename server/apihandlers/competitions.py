"""Competitions: list, create, read, update, publish, delete."""

from __future__ import annotations

from sqlalchemy import or_, select

from ..competitions import authoring as domain
from ..orm import Competition, Organizer, Participant
from ..request_bodies import CompetitionIn, CompetitionUpdate, PageQuery
from .answers import competition_model
from .base import APIHandler, api


class CompetitionListHandler(APIHandler):
    @api("List the competitions I may see (published and listed, or mine).", requires="user", query=PageQuery)
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
         requires="create", body=CompetitionIn, status=201)
    async def post(self) -> None:
        competition = domain.create_competition(
            self.db, self.user, self.body, self.podium.default_quotas
        )
        self.db.commit()
        self.write_json(competition_model(competition, self.roles(competition)), 201)


class CompetitionHandler(APIHandler):
    @api("Read a competition (by id or slug).", requires="view")
    async def get(self, competition: Competition) -> None:
        self.write_json(competition_model(competition, self.caller_roles))

    @api("Change a competition's settings (organizers).", requires="manage", body=CompetitionUpdate)
    async def patch(self, competition: Competition) -> None:
        domain.update_competition(self.db, self.user, competition, self.body)
        self.db.commit()
        self.write_json(competition_model(competition, self.caller_roles))

    @api("Delete a competition and everything in it (organizers).", requires="manage", status=204)
    async def delete(self, competition: Competition) -> None:
        domain.delete_competition(self.db, competition)
        self.db.commit()
        self.set_status(204)
        self.finish()


class PublishHandler(APIHandler):
    @api("Publish a competition (organizers); it must have phases with tasks.", requires="manage")
    async def post(self, competition: Competition) -> None:
        domain.publish(competition, True)
        self.db.commit()
        self.write_json(competition_model(competition, self.caller_roles))

    @api("Unpublish a competition (organizers).", requires="manage")
    async def delete(self, competition: Competition) -> None:
        domain.publish(competition, False)
        self.db.commit()
        self.write_json(competition_model(competition, self.caller_roles))


default_handlers = [
    ("/competitions", CompetitionListHandler),
    ("/competitions/{competition}", CompetitionHandler),
    ("/competitions/{competition}/publish", PublishHandler),
]
