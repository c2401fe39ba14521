"""A competition's phases: dates, quotas, time limits, tasks and leaderboard rules."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..leaderboards import store as leaderboard_store
from ..request_bodies import PhaseIn, PhaseUpdate
from .answers import phase_model
from .base import APIHandler, api


class PhaseListHandler(APIHandler):
    @api("List a competition's phases with their status (previous, current, next).")
    async def get(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        self.write_json({"phases": [phase_model(p, roles) for p in comp.phases]})

    @api("Add a phase (organizers).", body=PhaseIn, status=201)
    async def post(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        phase = domain.add_phase(self.db, self.user, comp, self.body, self.podium.default_quotas)
        domain.check_phase_order(comp)
        self.db.commit()
        self.write_json(phase_model(phase, roles), 201)


class PhaseHandler(APIHandler):
    @api("Read a phase.")
    async def get(self, phase: str) -> None:
        obj, roles = self.visible_phase(phase)
        self.write_json(phase_model(obj, roles))

    @api("Change a phase (organizers); the leaderboard is re-ranked.", body=PhaseUpdate)
    async def patch(self, phase: str) -> None:
        obj, roles = self.visible_phase(phase)
        roles.require_manage()
        domain.update_phase(self.db, self.user, obj, self.body)
        leaderboard_store.rebuild(self.db, obj)
        self.db.commit()
        self.write_json(phase_model(obj, roles))

    @api("Delete a phase without submissions (organizers).", status=204)
    async def delete(self, phase: str) -> None:
        obj, roles = self.visible_phase(phase)
        roles.require_manage()
        domain.delete_phase(self.db, obj)
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    ("/competitions/{competition}/phases", PhaseListHandler),
    ("/phases/{phase}", PhaseHandler),
]
