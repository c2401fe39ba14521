"""Exporting any competition as a Codabench v2 bundle that Codabench and Podium both accept.

Standard Codabench keys carry everything Codabench knows. What only Podium has (task and page
keys, per-phase leaderboard visibility and submission rule, ``avg_rank`` columns, hub groups) is
written as extra keys Codabench ignores and Podium reads back, so importing the export gives an
equal competition.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import yaml
from sqlalchemy.orm import Session

from ..orm import Artifact, Competition, Leaderboard, RegistrationMode
from ..request_bodies import BootstrapIn
from ..storage.base import Storage

RULES_BACK = {"selected": "Add", "last": "Force_Last", "best": "Force_Best", "all": "Force_Latest_Multiple"}


def _bootstrap(board: Leaderboard) -> dict[str, Any]:
    """Podium's ``bootstrap`` key, written only when it differs from the defaults (a bundle for
    Codabench then carries nothing Codabench does not know)."""
    settings = {"resamples": board.bootstrap_resamples, "level": board.bootstrap_level, "seed": board.bootstrap_seed}
    return {} if settings == BootstrapIn().model_dump() else {"bootstrap": settings}


def _when(moment) -> str | None:
    return moment.isoformat() + "Z" if moment is not None else None


def export_bundle(session: Session, storage: Storage, competition: Competition) -> bytes:
    """The competition as a zip: ``competition.yaml``, pages, programs and data."""
    files = _BundleFiles(session, storage)
    pages = _pages(competition, files)
    tasks, task_index = _tasks(competition, files)
    boards = _leaderboards(competition)
    phases = _phases(competition, files, task_index)
    data = _competition_yaml(competition, files, pages, tasks, phases, boards)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("competition.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        for name, content in files.contents.items():
            zf.writestr(name, content)
    return buffer.getvalue()


class _BundleFiles:
    """The files that go into the bundle beside ``competition.yaml``, by their path in the zip."""

    def __init__(self, session: Session, storage: Storage) -> None:
        self.session = session
        self.storage = storage
        self.contents: dict[str, bytes] = {}

    def add(self, name: str, content: bytes) -> str:
        """Put ``content`` in the bundle as ``name``; returns the name."""
        self.contents[name] = content
        return name

    def artifact(self, artifact_id: int | None, folder: str) -> str | None:
        """Copy a stored program or dataset in as ``<folder>.zip``; None when there is none."""
        if not artifact_id:
            return None
        artifact = self.session.get(Artifact, artifact_id)
        with self.storage.open(artifact.storage_key) as f:
            return self.add(f"{folder}.zip", f.read())


def _pages(competition: Competition, files: _BundleFiles) -> list[dict[str, Any]]:
    """Each page as a Markdown file in ``pages/``."""
    return [{"title": page.title, "file": files.add(f"pages/{page.key}.md", page.content.encode()), "key": page.key}
            for page in competition.pages]


def _tasks(competition: Competition, files: _BundleFiles) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The tasks with their programs and data, and each task's Codabench index by its id."""
    task_index = {}
    tasks = []
    for i, task in enumerate(competition.tasks):
        task_index[task.id] = i
        entry: dict[str, Any] = {"index": i, "key": task.key, "name": task.name, "description": task.description}
        for field in ("scoring_program", "ingestion_program", "input_data", "reference_data"):
            path = files.artifact(getattr(task, f"{field}_id"), f"tasks/{task.key}/{field}")
            if path:
                entry[field] = path
        if task.ingestion_only_during_scoring:
            entry["ingestion_only_during_scoring"] = True
        tasks.append(entry)
    return tasks, task_index


def _leaderboards(competition: Competition) -> list[dict[str, Any]]:
    """Every leaderboard with its columns; computed columns name their inputs by column index."""
    boards = []
    for board in competition.leaderboards:
        column_index = {c.key: c.index for c in board.columns}
        rule = next((p.submission_rule.value for p in competition.phases if p.leaderboard_id == board.id), "best")
        columns = []
        for c in board.columns:
            column: dict[str, Any] = {"title": c.title, "key": c.key, "index": c.index, "sorting": c.sorting,
                                      "hidden": c.hidden}
            if c.precision is not None:
                column["precision"] = c.precision
            else:  # Codabench shows 2 decimals without a precision; Podium reads this key back
                column["full_precision"] = True
            if c.computation:
                column["computation"] = "avg" if c.computation == "mean" else c.computation
                column["computation_indexes"] = [column_index[k] for k in c.computation_keys]
            columns.append(column)
        boards.append({"index": board.index, "key": board.key, "title": board.title, "hidden": board.hidden,
                       "submission_rule": RULES_BACK[rule], "primary_column": board.primary_column_key,
                       "columns": columns, **_bootstrap(board)})
    return boards


def _phases(competition: Competition, files: _BundleFiles, task_index: dict[int, int]) -> list[dict[str, Any]]:
    """Every phase, with Podium's own settings as extra keys and its public data as files."""
    phases = []
    for phase in competition.phases:
        entry = {
            "index": phase.index, "name": phase.name, "description": phase.description,
            "start": _when(phase.start), "end": _when(phase.end),
            "max_submissions_per_day": phase.max_submissions_per_day, "max_submissions": phase.max_submissions,
            "execution_time_limit": phase.execution_time_limit,
            "tasks": [task_index[t.id] for t in phase.tasks],
            "hide_output": phase.hide_output, "hide_prediction_output": phase.hide_prediction_output,
            "hide_score_output": phase.hide_score_output,
            "show_scoring_output": phase.show_scoring_output,
            "auto_migrate_to_this_phase": phase.auto_migrate,
            # Podium's own keys, ignored by Codabench
            "submission_rule": phase.submission_rule.value,
            "leaderboard_visibility": phase.leaderboard_visibility.value,
            "count_failed_submissions": phase.count_failed_submissions,
            "accepts_notebooks": phase.accepts_notebooks,
            "max_submission_size": phase.max_submission_size,
            "code_reveal": phase.code_reveal,
            "code_reveal_top": phase.code_reveal_top,
            "leaderboard": phase.leaderboard.key if phase.leaderboard else None,
        }
        for field in ("public_data", "starting_kit"):
            path = files.artifact(getattr(phase, f"{field}_id"), f"phases/{phase.index}/{field}")
            if path:
                entry[field] = path
        phases.append(entry)
    return phases


def _competition_yaml(competition: Competition, files: _BundleFiles, pages: list, tasks: list, phases: list,
                      boards: list) -> dict[str, Any]:
    """The ``competition.yaml`` document: the competition's fields around its parts (terms as a file)."""
    data: dict[str, Any] = {
        "version": 2,
        "title": competition.title,
        "slug": competition.slug,
        "description": competition.description,
        "docker_image": competition.docker_image,
        "registration_auto_approve": competition.registration_mode == RegistrationMode.open,
        "registration_mode": competition.registration_mode.value,
        "enable_detailed_results": competition.enable_detailed_results,
        "make_programs_available": competition.make_programs_available,
        "pages": pages,
        "tasks": tasks,
        "phases": phases,
        "leaderboards": boards,
        "parallel_phases": _parallel(competition),
    }
    if competition.fact_sheet:
        data["fact_sheet"] = competition.fact_sheet
    if competition.terms:
        data["terms"] = files.add("terms.md", competition.terms.encode())
    if competition.participant_groups:
        data["participant_groups"] = list(competition.participant_groups)
    if competition.organizer_group:
        data["organizer_group"] = competition.organizer_group
    return data


def _parallel(competition: Competition) -> bool:
    """Whether any phase starts before the previous one ends (Codabench's ``parallel_phases``)."""
    phases = sorted(competition.phases, key=lambda p: p.index)
    return any(prev.end is None or cur.start < prev.end for prev, cur in zip(phases, phases[1:], strict=False))
