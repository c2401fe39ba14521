"""A competition's phases: dates, quotas, time limits, tasks and leaderboard rules."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..competitions import environment
from ..leaderboards import store as leaderboard_store
from ..orm import Competition, Phase
from ..request_bodies import PhaseIn, PhaseUpdate
from .answers import phase_model
from .base import APIHandler, api


class PhaseListHandler(APIHandler):
    @api("List a competition's phases with their status (previous, current, next).", requires="view")
    async def get(self, competition: Competition) -> None:
        self.write_json({"phases": [phase_model(p, self.caller_roles) for p in competition.phases]})

    @api("Add a phase (organizers).", requires="manage", body=PhaseIn, status=201)
    async def post(self, competition: Competition) -> None:
        phase = domain.add_phase(self.db, self.user, competition, self.body, self.podium.default_quotas)
        domain.check_phase_order(competition)
        self.db.commit()
        self.write_json(phase_model(phase, self.caller_roles), 201)


class PhaseHandler(APIHandler):
    @api("Read a phase.", requires="view")
    async def get(self, phase: Phase) -> None:
        self.write_json(phase_model(phase, self.caller_roles))

    @api("Change a phase (organizers); the leaderboard is re-ranked.", requires="manage", body=PhaseUpdate)
    async def patch(self, phase: Phase) -> None:
        domain.update_phase(self.db, self.user, phase, self.body)
        leaderboard_store.rebuild(self.db, phase, rows_unchanged=True)  # only its fields changed
        self.db.commit()
        self.write_json(phase_model(phase, self.caller_roles))

    @api("Delete a phase without submissions (organizers).", requires="manage", status=204)
    async def delete(self, phase: Phase) -> None:
        domain.delete_phase(self.db, phase)
        self.db.commit()
        self.set_status(204)
        self.finish()


class PhaseEnvironmentHandler(APIHandler):
    @api("The phase's runtime image with its Python version and packages (what scoring runs in).",
         requires="view")
    async def get(self, phase: Phase) -> None:
        named = environment.phase_image(phase)
        self.write_json(environment.image_environment(named))  # verbs run in the database pool: blocking is fine


class PhaseScoringKitHandler(APIHandler):
    @api("The phase's public scoring kit: download URLs of its scoring program and public reference split, "
         "the image and limits, to score on one's own machine with `podium check`.", requires="participate")
    async def get(self, phase: Phase) -> None:
        task = self.get_query_argument("task", None)
        self.write_json(environment.scoring_kit(self.db, self.podium.storage, phase,
                                                self.podium.download_url_expiry, task))


default_handlers = [
    ("/competitions/{competition}/phases", PhaseListHandler),
    ("/phases/{phase}", PhaseHandler),
    ("/phases/{phase}/environment", PhaseEnvironmentHandler),
    ("/phases/{phase}/scoring-kit", PhaseScoringKitHandler),
]
