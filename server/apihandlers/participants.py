"""Registration and participant management; a competition's organizers."""

from __future__ import annotations

from sqlalchemy import select

from ..competitions import participation as participation
from ..orm import Competition, Participant, ParticipantStatus
from ..request_bodies import DecisionIn, OrganizerIn, ParticipantQuery
from . import paging
from .answers import participant_model
from .base import APIHandler, api


class RegisterHandler(APIHandler):
    @api("Register for a competition: approved at once when registration is open, pending "
         "when it needs approval, refused for non-members of a group-restricted competition.",
         requires="view")  # who may register is the competition's registration mode (participation)
    async def post(self, competition: Competition) -> None:
        participant = participation.register(self.db, self.caller_roles)
        self.db.commit()
        if participant is None:
            self.write_json({"username": self.user.name, "status": "approved", "via_group": True})
        else:
            self.write_json(participant_model(participant))


class ParticipantListHandler(APIHandler):
    @api("List registrations, oldest first (organizers). Page on with the answer's `next` as "
         "`?after=`; `total` is exact up to 10,000, beyond which it says 10,000 with "
         "`total_is_lower_bound`.", requires="manage", query=ParticipantQuery,
         responses={200: paging.ANSWER})
    async def get(self, competition: Competition) -> None:
        q: ParticipantQuery = self.query
        conditions = [Participant.competition_id == competition.id]
        rows, next_cursor = paging.page(self.db, select(Participant).where(*conditions), Participant.id,
                                        limit=q.limit, offset=q.offset, cursor=q.after, descending=False)
        body = paging.answer(
            "participants", [participant_model(p) for p in rows], limit=q.limit, offset=q.offset,
            cursor_name="after", cursor=q.after, next_cursor=next_cursor,
            total=paging.capped_total(self.db, Participant.id, conditions, shown=paging.shown_in_all(
                rows, offset=q.offset, cursor=q.after, next_cursor=next_cursor)),
        )
        body["participant_groups"] = list(competition.participant_groups or [])
        self.write_json(body)


class DecisionHandler(APIHandler):
    @api("Approve or deny a registration (organizers).", requires="manage", body=DecisionIn)
    async def post(self, competition: Competition, username: str, decision: str) -> None:
        status = ParticipantStatus.approved if decision == "approve" else ParticipantStatus.denied
        participant = participation.decide(self.db, competition, username, status, self.user.name)
        self.db.commit()
        self.write_json(participant_model(participant))


class OrganizerListHandler(APIHandler):
    @api("List organizers (organizers).", requires="manage")
    async def get(self, competition: Competition) -> None:
        self.write_json(
            {
                "organizers": sorted(o.username for o in competition.organizers),
                "organizer_group": competition.organizer_group,
            }
        )

    @api("Add an organizer (organizers).", requires="manage", body=OrganizerIn, status=201)
    async def post(self, competition: Competition) -> None:
        participation.add_organizer(self.db, competition, self.body.username)
        self.db.commit()
        self.write_json({"organizers": sorted(o.username for o in competition.organizers)}, 201)


class OrganizerHandler(APIHandler):
    @api("Remove an organizer (organizers; the last one stays).", requires="manage", status=204)
    async def delete(self, competition: Competition, username: str) -> None:
        participation.remove_organizer(competition, username)
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    ("/competitions/{competition}/register", RegisterHandler),
    ("/competitions/{competition}/participants", ParticipantListHandler),
    ("/competitions/{competition}/participants/{username}/{decision:approve|deny}", DecisionHandler),
    ("/competitions/{competition}/organizers", OrganizerListHandler),
    ("/competitions/{competition}/organizers/{username}", OrganizerHandler),
]
