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

from ..orm import Artifact, Competition, RegistrationMode
from ..storage.base import Storage

RULES_BACK = {"selected": "Add", "last": "Force_Last", "best": "Force_Best", "all": "Force_Latest_Multiple"}


def _when(moment) -> str | None:
    return moment.isoformat() + "Z" if moment is not None else None


def export_bundle(session: Session, storage: Storage, competition: Competition) -> bytes:
    """The competition as a zip: ``competition.yaml``, pages, programs and data."""
    files: dict[str, bytes] = {}

    def artifact_file(artifact_id: int | None, folder: str) -> str | None:
        if not artifact_id:
            return None
        artifact = session.get(Artifact, artifact_id)
        name = f"{folder}.zip"
        with storage.open(artifact.storage_key) as f:
            files[name] = f.read()
        return name

    pages = []
    for page in competition.pages:
        name = f"pages/{page.key}.md"
        files[name] = page.content.encode()
        pages.append({"title": page.title, "file": name, "key": page.key})
    task_index = {}
    tasks = []
    for i, task in enumerate(competition.tasks):
        task_index[task.id] = i
        entry: dict[str, Any] = {"index": i, "key": task.key, "name": task.name, "description": task.description}
        for field in ("scoring_program", "ingestion_program", "input_data", "reference_data"):
            path = artifact_file(getattr(task, f"{field}_id"), f"tasks/{task.key}/{field}")
            if path:
                entry[field] = path
        if task.ingestion_only_during_scoring:
            entry["ingestion_only_during_scoring"] = True
        tasks.append(entry)
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
            if c.computation:
                column["computation"] = "avg" if c.computation == "mean" else c.computation
                column["computation_indexes"] = [column_index[k] for k in c.computation_keys]
            columns.append(column)
        boards.append({"index": board.index, "key": board.key, "title": board.title, "hidden": board.hidden,
                       "submission_rule": RULES_BACK[rule], "primary_column": board.primary_column_key,
                       "columns": columns})
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
            "auto_migrate_to_this_phase": phase.auto_migrate,
            # Podium's own keys, ignored by Codabench
            "submission_rule": phase.submission_rule.value,
            "leaderboard_visibility": phase.leaderboard_visibility.value,
            "count_failed_submissions": phase.count_failed_submissions,
            "max_submission_size": phase.max_submission_size,
            "leaderboard": phase.leaderboard.key if phase.leaderboard else None,
        }
        for field in ("public_data", "starting_kit"):
            path = artifact_file(getattr(phase, f"{field}_id"), f"phases/{phase.index}/{field}")
            if path:
                entry[field] = path
        phases.append(entry)
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
        files["terms.md"] = competition.terms.encode()
        data["terms"] = "terms.md"
    if competition.participant_groups:
        data["participant_groups"] = list(competition.participant_groups)
    if competition.organizer_group:
        data["organizer_group"] = competition.organizer_group
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("competition.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _parallel(competition: Competition) -> bool:
    phases = sorted(competition.phases, key=lambda p: p.index)
    return any(prev.end is None or cur.start < prev.end for prev, cur in zip(phases, phases[1:], strict=False))
