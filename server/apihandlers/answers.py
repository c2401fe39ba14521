"""The JSON shapes the API answers with, one ``*_model()`` per resource.

What a model shows depends on who asks: reference data, scoring programs and hidden columns are
shown to organizers only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import object_session

from ..auth.permissions import CompetitionRoles
from ..classroom import deadlines, reveal
from ..clock import isoformat, utcnow
from ..competitions.environment import phase_image
from ..orm import Artifact, Competition, Leaderboard, Page, Participant, Phase, Submission, Task
from ..teams import competitors


def phase_status(phase: Phase, now: datetime | None = None) -> str:
    """``next`` before it starts, ``current`` while open, ``previous`` once ended."""
    now = now or utcnow()
    if now < phase.start:
        return "next"
    if phase.end is not None and now >= phase.end:
        return "previous"
    return "current"


def artifact_model(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "kind": artifact.kind.value,
        "name": artifact.name,
        "state": artifact.state.value,
        "size": artifact.size,
        "sha256": artifact.sha256,
        "competition": artifact.competition_id,
        "created_at": isoformat(artifact.created_at),
    }


def page_model(page: Page) -> dict[str, Any]:
    return {"id": page.id, "key": page.key, "title": page.title, "index": page.index, "content": page.content}


def task_model(task: Task, roles: CompetitionRoles) -> dict[str, Any]:
    model: dict[str, Any] = {
        "id": task.id,
        "key": task.key,
        "name": task.name,
        "description": task.description,
    }
    if roles.manages:
        model.update(
            scoring_program=task.scoring_program_id,
            ingestion_program=task.ingestion_program_id,
            input_data=task.input_data_id,
            reference_data=task.reference_data_id,
            public_reference_data=task.public_reference_data_id,
            ingestion_only_during_scoring=task.ingestion_only_during_scoring,
        )
    return model


def leaderboard_model(board: Leaderboard) -> dict[str, Any]:
    return {
        "id": board.id,
        "key": board.key,
        "title": board.title,
        "index": board.index,
        "primary_column": board.primary_column_key,
        "hidden": board.hidden,
        "bootstrap": {"resamples": board.bootstrap_resamples, "level": board.bootstrap_level,
                      "seed": board.bootstrap_seed},
        "columns": [
            {
                "key": c.key,
                "title": c.title,
                "index": c.index,
                "sorting": c.sorting,
                "precision": c.precision,
                "hidden": c.hidden,
                "computation": c.computation,
                "computation_keys": list(c.computation_keys or []),
            }
            for c in board.columns
        ],
    }


def phase_model(phase: Phase, roles: CompetitionRoles | None = None) -> dict[str, Any]:
    return {
        "id": phase.id,
        "competition": phase.competition_id,
        "index": phase.index,
        "name": phase.name,
        "description": phase.description,
        "start": isoformat(phase.start),
        "end": isoformat(phase.end),
        "status": phase_status(phase),
        "max_submissions_per_day": phase.max_submissions_per_day,
        "max_submissions": phase.max_submissions,
        "execution_time_limit": phase.execution_time_limit,
        "max_submission_size": phase.max_submission_size,
        "count_failed_submissions": phase.count_failed_submissions,
        "hide_output": phase.hide_output,
        "hide_prediction_output": phase.hide_prediction_output,
        "hide_score_output": phase.hide_score_output,
        "show_scoring_output": phase.show_scoring_output,
        "accepts_notebooks": phase.accepts_notebooks,
        "leaderboard_visibility": phase.leaderboard_visibility.value,
        "submission_rule": phase.submission_rule.value,
        "leaderboard": phase.leaderboard.key if phase.leaderboard else None,
        "tasks": [t.key for t in phase.tasks],
        "public_data": phase.public_data_id,
        "starting_kit": phase.starting_kit_id,
        "auto_migrate": phase.auto_migrate,
        "code_reveal": phase.code_reveal,
        "code_reveal_top": phase.code_reveal_top,
        "docker_image": phase_image(phase),
        "public_scoring": any(t.public_reference_data_id and t.scoring_program_id for t in phase.tasks),
        **classroom_phase_fields(phase, roles),
    }


def classroom_phase_fields(phase: Phase, roles: CompetitionRoles | None) -> dict[str, Any]:
    """The late policy, selection, reveal and (for a participant) their own deadline; the private
    board's keys and the grade mapping for organizers only."""
    fields: dict[str, Any] = {
        "grace_seconds": phase.grace_seconds or 0,
        "late_penalty_kind": phase.late_penalty_kind.value if phase.late_penalty_kind else "none",
        "late_penalty_value": phase.late_penalty_value or 0.0,
        "max_selected": phase.max_selected or 0,
        "private_board": reveal.has_private_board(phase),
        "revealed": reveal.is_revealed(phase),
        "reveal_at": isoformat(phase.reveal_at),
    }
    if roles is not None and roles.manages:
        fields.update(private_scores=dict(phase.private_scores or {}), grade_mapping=dict(phase.grade_mapping or {}))
    session = object_session(phase)
    identity = roles.identity if roles is not None else None
    if session is not None:
        teams = competitors.competitor(session, phase.competition_id, identity).teams \
            if identity is not None and deadlines.has_team_extensions(session, phase) else ()
        fields["my_deadline"] = deadlines.deadline_for(session, phase, identity.name if identity else None,
                                                       teams).as_json()
    return fields


def competition_model(competition: Competition, roles: CompetitionRoles, full: bool = True) -> dict[str, Any]:
    model: dict[str, Any] = {
        "id": competition.id,
        "slug": competition.slug,
        "title": competition.title,
        "description": competition.description,
        "published": competition.published,
        "listed": competition.listed,
        "registration_mode": competition.registration_mode.value,
        "participant_groups": list(competition.participant_groups or []),
        "docker_image": competition.docker_image,
        "created_by": competition.created_by,
        "created_at": isoformat(competition.created_at),
        "my_role": {
            "organizer": roles.manages,
            "participant": roles.participant_status.value if roles.participant_status else None,
        },
    }
    if full:
        model.update(
            terms=competition.terms,
            enable_detailed_results=competition.enable_detailed_results,
            queue=competition.queue.name if competition.queue else None,
            fact_sheet=competition.fact_sheet or {},
            pages=[page_model(p) for p in competition.pages],
            phases=[phase_model(p, roles) for p in competition.phases],
            tasks=[task_model(t, roles) for t in competition.tasks],
            leaderboards=[
                leaderboard_model(b) for b in competition.leaderboards if roles.manages or not b.hidden
            ],
        )
        if roles.manages:
            model.update(
                organizer_group=competition.organizer_group,
                organizers=sorted(o.username for o in competition.organizers),
                make_programs_available=competition.make_programs_available,
            )
    return model


def participant_model(participant: Participant) -> dict[str, Any]:
    return {
        "username": participant.username,
        "status": participant.status.value,
        "registered_at": isoformat(participant.created_at),
        "decided_by": participant.decided_by,
    }


def _visible_scores(submission: Submission, roles: CompetitionRoles) -> dict[str, float]:
    """The scores the caller may see: never a private board's keys before its reveal."""
    hidden = reveal.hidden_keys(submission.phase, roles.manages)
    return {s.column_key: s.value for s in submission.scores if s.column_key not in hidden}


def submission_model(submission: Submission, roles: CompetitionRoles, detail: bool = False) -> dict[str, Any]:
    phase = submission.phase
    hide_scores = not roles.manages and not roles.can_see_leaderboard(phase)
    model: dict[str, Any] = {
        "id": submission.id,
        "phase": submission.phase_id,
        "competition": phase.competition_id,
        "owner": submission.owner,
        "team": submission.team_id,
        "status": submission.status.value,
        "description": submission.description,
        "created_at": isoformat(submission.created_at),
        "submitted_at": isoformat(submission.submitted_at),
        "started_at": isoformat(submission.started_at),
        "finished_at": isoformat(submission.finished_at),
        "size": submission.size,
        "sha256": submission.sha256,
        "is_public": submission.is_public,
        "reveal_chosen": submission.reveal_chosen,
        "selected": submission.selected,
        "counts_toward_quota": submission.counts_toward_quota,
        "dry_run": submission.is_dry_run,
        "failure_reason": submission.failure_reason,
        "parent": submission.parent_id,
        "migrated_from": submission.migrated_from_id,
        "fact_sheet": submission.fact_sheet_answers or {},
        "scores": None if hide_scores else _visible_scores(submission, roles),
        "late_seconds": submission.late_seconds,
        "late_penalty": submission.late_penalty,
    }
    if detail:
        model["log_tail"] = "" if phase.hide_output and not roles.manages else submission.log_tail
        model["attempts"] = [
            {
                "step": a.step.value,
                "number": a.number,
                "state": a.state.value,
                "started_at": isoformat(a.started_at),
                "finished_at": isoformat(a.finished_at),
                "exit_code": a.exit_code,
            }
            for a in submission.attempts
        ]
    return model
