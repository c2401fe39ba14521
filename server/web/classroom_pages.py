"""A class's pages: my final selection (with its fallback and deadline) and the revealed private
board with each participant's shake-up; each the API verb of the same name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..apihandlers.classroom import PrivateLeaderboardHandler, SelectionHandler
from ..apihandlers.submissions import SelectHandler
from ..classroom import deadlines
from ..orm import Phase, Submission, SubmissionStatus
from ..teams import competitors
from .base import ActionMixin, PageMixin


class SelectionPage(PageMixin, SelectionHandler):
    template = "selection.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        phase = self.db.get(Phase, data["phase"])
        who = self.competitor(phase)
        mine = self.db.scalars(select(Submission).where(  # the team's, in a team: it selects as one
            Submission.phase_id == phase.id, competitors.rows_of(who.key, phase.competition_id),
            Submission.parent_id.is_(None),
            Submission.status == SubmissionStatus.finished, Submission.is_dry_run.is_(False),
        ).order_by(Submission.id.desc())).all()
        board = phase.leaderboard
        column = board.primary_column if board is not None else None
        return {"phase": phase, "mine": mine, "column": column,
                "deadline": deadlines.deadline_for(self.db, phase, self.user.name, who.teams).as_json()}


class SelectAction(ActionMixin, SelectHandler):
    pass


class PrivateLeaderboardPage(PageMixin, PrivateLeaderboardHandler):
    template = "private_leaderboard.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"phase": self.db.get(Phase, data["phase"])}
