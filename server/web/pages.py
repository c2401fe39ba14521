"""The browser pages, each an API verb rendered as HTML (see ``base.PageMixin``).

Participants: the competition list, a competition (its pages, phases and data), a phase's
leaderboard (and its CSV), my submissions, one submission with its log and detailed results.
Organizers: a competition's registrations and a phase's submissions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..apihandlers.competitions import CompetitionHandler, CompetitionListHandler
from ..apihandlers.datasets import DatasetHandler
from ..apihandlers.leaderboards import PhaseLeaderboardHandler
from ..apihandlers.participants import ParticipantListHandler
from ..apihandlers.submissions import (
    MySubmissionsHandler,
    OutputsHandler,
    PhaseSubmissionsHandler,
    SubmissionHandler,
)
from ..apihandlers.teams import my_team_model
from ..errors import Conflict, NotFound
from ..orm import Artifact, Competition, Phase, Submission
from ..submissions import visible_files
from .base import PageMixin
from .security import DETAILED_RESULTS_CSP


class HomePage(PageMixin, CompetitionListHandler):
    template = "home.html"


class CompetitionPage(PageMixin, CompetitionHandler):
    template = "competition.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        pages = data["pages"]
        wanted = self.get_query_argument("page", None)
        current = next((p for p in pages if p["key"] == wanted), pages[0] if pages else None)
        role = data["my_role"]
        open_phase = next((p for p in data["phases"] if p["status"] == "current"), None)
        approved = role["participant"] == "approved"
        return {"current_page": current, "may_download": role["organizer"] or approved,
                "submit_phase": open_phase if approved else None,
                "my_team": my_team_model(self, self.caller_roles.competition) if approved else None}


class LeaderboardPage(PageMixin, PhaseLeaderboardHandler):
    template = "leaderboard.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"phase": self.db.get(Phase, data["phase"])}


class LeaderboardCsv(PageMixin, PhaseLeaderboardHandler):
    """The API's CSV answer, for a link a logged-in browser can follow (the API wants a token)."""

    def query_arguments(self) -> dict[str, str]:
        return {**super().query_arguments(), "format": "csv"}


class MySubmissionsPage(PageMixin, MySubmissionsHandler):
    template = "my_submissions.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        ids = {s["phase"] for s in data["submissions"]}
        phases = self.db.scalars(select(Phase).where(Phase.id.in_(ids))).all() if ids else []
        return {"phases": {p.id: p for p in phases}}


class SubmissionPage(PageMixin, SubmissionHandler):
    template = "submission.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        submission = self.db.get(Submission, data["id"])
        phase = submission.phase
        manages = self.caller_roles.manages
        cells, problem = self._executed_notebook(submission, manages)
        return {
            "phase": phase,
            "manages": manages,
            "detailed": any(f.role == "detailed_results" for f in submission.files)
            and visible_files.may_download(phase, "detailed_results", manages),
            "notebook_cells": cells,
            "notebook_problem": problem,
        }

    def _executed_notebook(self, submission: Submission, manages: bool) -> tuple[list[dict[str, Any]] | None, str]:
        """The executed notebook's cells, sanitized (``notebook_view``), when there is one this
        caller may see; else None, with why it is not shown when there is one."""
        # markupsafe and the sanitizer: imported only when a page shows a notebook
        from . import notebook_view

        artifact = executed_notebook_of(submission, manages)
        if artifact is None:
            return None, ""
        if (artifact.size or 0) > notebook_view.MAX_NOTEBOOK_BYTES:
            return [], "The executed notebook is too large to show here; download it."
        with self.podium.storage.open(artifact.storage_key) as handle:
            data = handle.read(notebook_view.MAX_NOTEBOOK_BYTES + 1)
        try:
            return notebook_view.notebook_cells(data), ""
        except notebook_view.NotebookUnreadable as e:
            return [], f"Not shown: {e}."


def executed_notebook_of(submission: Submission, manages: bool) -> Artifact | None:
    """The latest ready executed notebook of ``submission`` its caller may see, or None."""
    if not visible_files.may_download(submission.phase, "executed_notebook", manages):
        return None
    ready = [f.artifact for f in submission.files
             if f.role == "executed_notebook" and f.artifact.state.value == "ready"]
    return max(ready, key=lambda a: a.id) if ready else None


class ExecutedNotebookDownload(PageMixin, OutputsHandler):
    """The executed notebook as a file to save (never shown inline: it is participant output)."""

    def write_json(self, obj: Any, status: int = 200) -> None:
        submission = self.db.get(Submission, obj["submission"])
        artifact = executed_notebook_of(submission, self.caller_roles.manages)
        if artifact is None:
            raise NotFound(f"Submission {obj['submission']} has no executed notebook (yet).")
        with self.podium.storage.open(artifact.storage_key) as handle:
            data = handle.read()
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="submission-{submission.id}-executed.ipynb"')
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.finish(data)


class DetailedResultsPage(PageMixin, OutputsHandler):
    """The scoring program's ``detailed_results.html``, served under a sandboxing CSP: its scripts
    run in an opaque origin (no cookies, no same-origin requests), and the submission page shows
    it in an ``<iframe sandbox="allow-scripts">`` as well."""

    def write_json(self, obj: Any, status: int = 200) -> None:
        ready = [f for f in obj["files"] if f["role"] == "detailed_results" and f["state"] == "ready"]
        if not ready:
            raise NotFound(f"Submission {obj['submission']} has no detailed results (yet).")
        artifact = self.db.get(Artifact, ready[-1]["id"])
        with self.podium.storage.open(artifact.storage_key) as handle:
            html = handle.read()
        self.set_header("Content-Security-Policy", DETAILED_RESULTS_CSP)
        self.finish(html)


class DatasetDownload(PageMixin, DatasetHandler):
    """Follows the API's short-lived signed URL, after the API's own permission checks."""

    def write_json(self, obj: Any, status: int = 200) -> None:
        if "download_url" not in obj:
            raise Conflict(f"'{obj['name']}' has not finished uploading.")
        self.redirect(obj["download_url"])


class ParticipantsPage(PageMixin, ParticipantListHandler):
    template = "participants.html"

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"competition": self.caller_roles.competition}


class PhaseSubmissionsPage(PageMixin, PhaseSubmissionsHandler):
    """Everyone's submissions in a phase: the API's organizer listing (``?all=true``)."""

    template = "phase_submissions.html"

    def query_arguments(self) -> dict[str, str]:
        return {**super().query_arguments(), "all": "true"}

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        phase = self.db.get(Phase, int(self.path_kwargs["phase"]))
        return {"phase": phase, "competition": self.db.get(Competition, phase.competition_id)}
