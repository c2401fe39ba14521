"""Leaderboard definitions (organizers) and each phase's ranked leaderboard (JSON or CSV)."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..errors import NotFound, PermissionDenied
from ..leaderboards import reads as leaderboard_access
from ..leaderboards import store as leaderboard_store
from ..orm import Leaderboard
from ..request_bodies import LeaderboardIn, LeaderboardQuery
from .answers import leaderboard_model
from .base import APIHandler, api


class LeaderboardListHandler(APIHandler):
    @api("List a competition's leaderboard definitions.")
    async def get(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        boards = [b for b in comp.leaderboards if roles.manages or not b.hidden]
        self.write_json({"leaderboards": [leaderboard_model(b) for b in boards]})

    @api("Add a leaderboard with its columns (organizers).", body=LeaderboardIn, status=201)
    async def post(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        board = domain.add_leaderboard(self.db, comp, self.body)
        self.db.commit()
        self.write_json(leaderboard_model(board), 201)


class LeaderboardHandler(APIHandler):
    def find_board(self, ref: str) -> tuple[Leaderboard, object]:
        board = self.find_by_id(Leaderboard, ref, "leaderboard")
        roles = self.roles(board.competition)
        if not roles.can_view or (board.hidden and not roles.manages):
            raise NotFound(f"No such leaderboard: {ref}")
        return board, roles

    @api("Read a leaderboard definition.")
    async def get(self, leaderboard: str) -> None:
        board, _ = self.find_board(leaderboard)
        self.write_json(leaderboard_model(board))

    @api("Replace a leaderboard definition (organizers); its phases are re-ranked.",
         body=LeaderboardIn)
    async def put(self, leaderboard: str) -> None:
        board, roles = self.find_board(leaderboard)
        roles.require_manage()
        domain.replace_leaderboard(self.db, board, self.body)
        leaderboard_store.rebuild_for_leaderboard(self.db, board)
        self.db.commit()
        self.write_json(leaderboard_model(board))

    @api("Delete a leaderboard (organizers).", status=204)
    async def delete(self, leaderboard: str) -> None:
        board, roles = self.find_board(leaderboard)
        roles.require_manage()
        self.db.delete(board)
        self.db.commit()
        self.set_status(204)
        self.finish()


class PhaseLeaderboardHandler(APIHandler):
    @api(
        "A phase's ranked leaderboard, paginated; ?format=csv for CSV.",
        query=LeaderboardQuery,
        produces=("application/json", "text/csv"),
    )
    async def get(self, phase: str) -> None:
        if self.query.format == "json" and self.answers_json and self.finish_from_cache(phase):
            return
        obj, roles = self.visible_phase(phase)
        if not roles.can_see_leaderboard(obj):
            raise PermissionDenied("This leaderboard is not visible to you.")
        if self.query.format == "json" and self.answers_json:
            self.finish(leaderboard_store.read_page_json(
                self.db, obj, limit=self.query.limit, offset=self.query.offset, show_hidden=roles.manages,
                me=self.user.name,
            ))
            return
        page = leaderboard_store.read_page(
            self.db, obj, limit=self.query.limit, offset=self.query.offset, show_hidden=roles.manages
        )
        if self.query.format == "csv":
            self.set_header("Content-Type", "text/csv; charset=UTF-8")
            self.set_header(
                "Content-Disposition",
                f'attachment; filename="{obj.competition.slug}-phase-{obj.id}-leaderboard.csv"',
            )
            self.finish(leaderboard_store.to_csv(page))
            return
        page["me"] = self.user.name
        self.write_json(page)

    def finish_from_cache(self, phase: str) -> bool:
        """Answer from the page cache after one access query (``leaderboards.reads``); False
        when the page is not cached yet, so the full path builds it."""
        access = leaderboard_access.check(self.podium.reads, self.user, int(phase)) if phase.isdigit() else None
        if access is None or not access.can_view:
            raise NotFound(f"No such phase: {phase}")
        if not access.can_see:
            raise PermissionDenied("This leaderboard is not visible to you.")
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
