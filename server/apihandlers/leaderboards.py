"""Leaderboard definitions (organizers) and each phase's ranked leaderboard (JSON or CSV)."""

from __future__ import annotations

from tornado.web import Finish

from ..auth.permissions import CompetitionRoles
from ..competitions import authoring as domain
from ..errors import NotFound, PermissionDenied
from ..leaderboards import store as leaderboard_store
from ..leaderboards.reads import LeaderboardAccess
from ..orm import Competition, Leaderboard, Phase
from ..request_bodies import LeaderboardIn, LeaderboardQuery
from .answers import leaderboard_model
from .base import APIHandler, api
from .input_limits import path_id

NOT_VISIBLE = "This leaderboard is not visible to you."


class LeaderboardListHandler(APIHandler):
    @api("List a competition's leaderboard definitions.", requires="view")
    async def get(self, competition: Competition) -> None:
        boards = [b for b in competition.leaderboards if self.caller_roles.manages or not b.hidden]
        self.write_json({"leaderboards": [leaderboard_model(b) for b in boards]})

    @api("Add a leaderboard with its columns (organizers).", requires="manage", body=LeaderboardIn, status=201)
    async def post(self, competition: Competition) -> None:
        board = domain.add_leaderboard(self.db, competition, self.body)
        self.db.commit()
        self.write_json(leaderboard_model(board), 201)


class LeaderboardHandler(APIHandler):
    @api("Read a leaderboard definition.", requires="view")
    async def get(self, leaderboard: Leaderboard) -> None:
        self.write_json(leaderboard_model(leaderboard))

    @api("Replace a leaderboard definition (organizers); its phases are re-ranked.",
         requires="manage", body=LeaderboardIn)
    async def put(self, leaderboard: Leaderboard) -> None:
        domain.replace_leaderboard(self.db, leaderboard, self.body)
        leaderboard_store.rebuild_for_leaderboard(self.db, leaderboard)
        self.db.commit()
        self.write_json(leaderboard_model(leaderboard))

    @api("Delete a leaderboard (organizers).", requires="manage", status=204)
    async def delete(self, leaderboard: Leaderboard) -> None:
        self.db.delete(leaderboard)
        self.db.commit()
        self.set_status(204)
        self.finish()


class PhaseLeaderboardHandler(APIHandler):
    @api(
        "A phase's ranked leaderboard, paginated; ?format=csv for CSV.",
        # who sees the board beyond that is the phase's leaderboard visibility (checked below)
        requires="view",
        query=LeaderboardQuery,
        produces=("application/json", "text/csv"),
    )
    async def get(self, phase: Phase) -> None:
        roles = self.caller_roles
        if not roles.can_see_leaderboard(phase):
            raise PermissionDenied(NOT_VISIBLE)
        if self.query.format == "json" and self.answers_json:
            self.finish(leaderboard_store.read_page_json(
                self.db, phase, limit=self.query.limit, offset=self.query.offset, show_hidden=roles.manages,
                me=self.user.name,
            ))
            return
        page = leaderboard_store.read_page(
            self.db, phase, limit=self.query.limit, offset=self.query.offset, show_hidden=roles.manages
        )
        if self.query.format == "csv":
            self.set_header("Content-Type", "text/csv; charset=UTF-8")
            self.set_header(
                "Content-Disposition",
                f'attachment; filename="{phase.competition.slug}-phase-{phase.id}-leaderboard.csv"',
            )
            self.finish(leaderboard_store.to_csv(page))
            return
        page["me"] = self.user.name
        self.write_json(page)

    def answer_on_loop(self, path: dict) -> bool:
        """A cached page for a reader whose access is remembered: answered from memory, on the
        loop, with no database round trip (bench B2); anything else goes to the pool."""
        if self.query.format != "json" or not self.answers_json:
            return False
        ident = path_id(path["phase"])
        access = self.podium.leaderboard_access.remembered(self.user, ident) if ident is not None else None
        return access is not None and self.finish_from_cache(access, path["phase"])

    def visible_phase(self, ref: str) -> tuple[Phase, CompetitionRoles]:
        """The phase for ``requires="view"``, after the fast path: a cached JSON page is
        answered here, before any ORM lookup, and ends the request (bench B2)."""
        if self.query.format == "json" and self.answers_json:
            ident = path_id(ref)
            access = self.podium.leaderboard_access.check(self.user, ident) if ident is not None else None
            if access is None:
                raise NotFound(f"No such phase: {ref}")
            if self.finish_from_cache(access, ref):
                raise Finish()
        return super().visible_phase(ref)

    def finish_from_cache(self, access: LeaderboardAccess, phase: str) -> bool:
        """Answer from the page cache, given the caller's access (``leaderboards.reads``); False
        when the page is not cached yet, so the full path builds it."""
        if not access.can_view:
            raise NotFound(f"No such phase: {phase}")
        if not access.can_see:
            raise PermissionDenied(NOT_VISIBLE)
        text = leaderboard_store.cached_page_json(
            access.page_identity, limit=self.query.limit, offset=self.query.offset, show_hidden=access.manages,
            me=self.user.name,
        )
        if text is None:
            return False
        self.finish(text)
        return True


default_handlers = [
    ("/competitions/{competition}/leaderboards", LeaderboardListHandler),
    ("/leaderboards/{leaderboard}", LeaderboardHandler),
    ("/phases/{phase}/leaderboard", PhaseLeaderboardHandler),
]
