"""Creating and changing competitions and their pages, tasks, leaderboards and phases.

Every function works inside the caller's transaction and either applies the whole change or
raises before the caller commits, so a failed request leaves nothing partial behind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import artifacts
from ..auth.identity import Identity
from ..clock import utcnow
from ..compute.queue_access import check_queue_for_competition
from ..errors import Conflict, NotFound, ValidationFailed
from ..orm import (
    ArtifactKind,
    Competition,
    ComputeQueue,
    LatePenaltyKind,
    Leaderboard,
    LeaderboardColumn,
    LeaderboardVisibility,
    Organizer,
    Page,
    Phase,
    PhaseTask,
    RegistrationMode,
    Submission,
    SubmissionRule,
    Task,
)
from ..request_bodies import (
    CompetitionIn,
    CompetitionUpdate,
    LeaderboardIn,
    PageIn,
    PageUpdate,
    PhaseIn,
    PhaseUpdate,
    TaskIn,
    TaskUpdate,
)

PROGRAM_KINDS = {
    "scoring_program": {ArtifactKind.scoring_program},
    "ingestion_program": {ArtifactKind.ingestion_program},
    "input_data": {ArtifactKind.input_data},
    "reference_data": {ArtifactKind.reference_data},
    "public_reference_data": {ArtifactKind.public_reference_data},
}

SCALAR_FIELDS = (
    "title",
    "description",
    "participant_groups",
    "organizer_group",
    "docker_image",
    "listed",
    "terms",
    "enable_detailed_results",
    "make_programs_available",
    "fact_sheet",
)


def _invalid(location: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{location}: {message}", [{"location": location, "message": message}])


def _at(where: str, name: str) -> str:
    """``phases[0]`` + ``end`` → ``phases[0].end``; a top-level body gives ``end``."""
    return f"{where}.{name}" if where else name


def _queue(session: Session, identity: Identity, name: str | None) -> ComputeQueue | None:
    """The queue a competition names, which the organizer naming it must be allowed to use."""
    if name is None:
        return None
    queue = session.scalar(select(ComputeQueue).where(ComputeQueue.name == name))
    if queue is None:
        raise _invalid("queue", f"no compute queue named '{name}'")
    check_queue_for_competition(identity, queue)
    return queue


def create_competition(
    session: Session, identity: Identity, body: CompetitionIn, defaults: dict[str, int]
) -> Competition:
    """A competition with everything the body describes; its creator is its first organizer."""
    if session.scalar(select(Competition.id).where(Competition.slug == body.slug)):
        raise Conflict(f"The slug '{body.slug}' is taken; choose another.")
    competition = Competition(
        slug=body.slug,
        title=body.title,
        created_by=identity.name,
        registration_mode=RegistrationMode(body.registration_mode or "open"),
    )
    dumped = body.model_dump()
    for name in SCALAR_FIELDS:
        value = dumped.get(name)
        if value is not None:
            setattr(competition, name, value)
    competition.queue = _queue(session, identity, body.queue)
    competition.organizers.append(Organizer(username=identity.name))
    session.add(competition)
    session.flush()
    for i, page in enumerate(body.pages):
        add_page(session, competition, page, default_index=i)
    for task in body.tasks:
        add_task(session, identity, competition, task, where="tasks")
    for i, board in enumerate(body.leaderboards):
        add_leaderboard(session, competition, board, default_index=i)
    for i, phase in enumerate(body.phases):
        add_phase(session, identity, competition, phase, defaults, default_index=i, where=f"phases[{i}]")
    check_phase_order(competition)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"The slug '{body.slug}' is taken; choose another.") from None
    return competition


def update_competition(session: Session, identity: Identity, competition: Competition, body: CompetitionUpdate) -> None:
    fields = body.model_dump(exclude_unset=True)
    for name in SCALAR_FIELDS:
        if name in fields:
            setattr(competition, name, fields[name])
    if "registration_mode" in fields and fields["registration_mode"] is not None:
        competition.registration_mode = RegistrationMode(fields["registration_mode"])
    if "queue" in fields and fields["queue"] != (competition.queue.name if competition.queue else None):
        # only a change is checked: a co-organizer may edit the rest of a competition whose queue
        # another organizer chose
        competition.queue = _queue(session, identity, fields["queue"])
    if competition.registration_mode == RegistrationMode.groups and not competition.participant_groups:
        raise _invalid("participant_groups", "registration_mode 'groups' needs at least one hub group")
    competition.updated_at = utcnow()


def publish(competition: Competition, published: bool = True) -> None:
    """Open the competition to participants; refuses one that could not take a submission."""
    if published:
        problems = []
        if not competition.phases:
            problems.append({"location": "phases", "message": "a published competition needs a phase"})
        for i, phase in enumerate(competition.phases):
            if not phase.phase_tasks:
                problems.append({"location": f"phases[{i}].tasks", "message": "a phase needs a task"})
        if problems:
            raise ValidationFailed(
                "The competition cannot be published yet: "
                + "; ".join(f"{p['location']}: {p['message']}" for p in problems),
                problems,
            )
    competition.published = published
    competition.updated_at = utcnow()


def delete_competition(session: Session, competition: Competition) -> None:
    session.delete(competition)


# --- pages -----------------------------------------------------------------------------------


def add_page(session: Session, competition: Competition, body: PageIn, default_index: int | None = None) -> Page:
    if any(p.key == body.key for p in competition.pages):
        raise Conflict(f"A page with key '{body.key}' already exists.")
    index = body.index if body.index is not None else (
        default_index if default_index is not None else len(competition.pages)
    )
    page = Page(key=body.key, title=body.title, content=body.content, index=index)
    competition.pages.append(page)
    session.flush()
    return page


def update_page(page: Page, body: PageUpdate) -> None:
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(page, name, value)


# --- tasks -----------------------------------------------------------------------------------


def _set_task_programs(
    session: Session, identity: Identity, competition: Competition, task: Task, fields: dict[str, Any], where: str
) -> None:
    for name, kinds in PROGRAM_KINDS.items():
        if name in fields:
            artifact = artifacts.resolve(
                session, identity, fields[name], competition, kinds, _at(where, name)
            )
            setattr(task, f"{name}_id", artifact.id if artifact else None)


def add_task(session: Session, identity: Identity, competition: Competition, body: TaskIn, where: str = "body") -> Task:
    if any(t.key == body.key for t in competition.tasks):
        raise Conflict(f"A task with key '{body.key}' already exists.")
    task = Task(
        key=body.key,
        name=body.name,
        description=body.description,
        ingestion_only_during_scoring=body.ingestion_only_during_scoring,
    )
    competition.tasks.append(task)
    _set_task_programs(session, identity, competition, task, body.model_dump(), f"{where}[{body.key}]" if where else body.key)
    session.flush()
    return task


def update_task(session: Session, identity: Identity, task: Task, body: TaskUpdate) -> None:
    fields = body.model_dump(exclude_unset=True)
    for name in ("name", "description", "ingestion_only_during_scoring"):
        if fields.get(name) is not None:
            setattr(task, name, fields[name])
    _set_task_programs(session, identity, task.competition, task, fields, "")


def delete_task(session: Session, task: Task) -> None:
    used = session.scalar(select(func.count(PhaseTask.id)).where(PhaseTask.task_id == task.id))
    if used:
        raise Conflict(f"Task '{task.key}' is used by {used} phase(s); remove it from them first.")
    session.delete(task)


# --- leaderboards ----------------------------------------------------------------------------


def _columns(body: LeaderboardIn) -> list[LeaderboardColumn]:
    return [
        LeaderboardColumn(
            key=c.key,
            title=c.title or c.key,
            index=c.index if c.index is not None else i,
            sorting=c.sorting,
            precision=c.precision,
            hidden=c.hidden,
            computation=c.computation,
            computation_keys=list(c.computation_keys),
        )
        for i, c in enumerate(body.columns)
    ]


def add_leaderboard(
    session: Session, competition: Competition, body: LeaderboardIn, default_index: int | None = None
) -> Leaderboard:
    if any(b.key == body.key for b in competition.leaderboards):
        raise Conflict(f"A leaderboard with key '{body.key}' already exists.")
    board = Leaderboard(
        key=body.key,
        title=body.title,
        index=body.index if body.index is not None else (default_index or len(competition.leaderboards)),
        primary_column_key=body.primary_column,
        hidden=body.hidden,
        columns=_columns(body),
        bootstrap_resamples=body.bootstrap.resamples,
        bootstrap_level=body.bootstrap.level,
        bootstrap_seed=body.bootstrap.seed,
    )
    competition.leaderboards.append(board)
    session.flush()
    return board


def replace_leaderboard(session: Session, board: Leaderboard, body: LeaderboardIn) -> None:
    """Replace a leaderboard's definition; its phases' rankings are rebuilt by the caller."""
    if body.key != board.key and any(b.key == body.key for b in board.competition.leaderboards):
        raise Conflict(f"A leaderboard with key '{body.key}' already exists.")
    board.key, board.title, board.hidden = body.key, body.title, body.hidden
    board.primary_column_key = body.primary_column
    board.bootstrap_resamples = body.bootstrap.resamples
    board.bootstrap_level, board.bootstrap_seed = body.bootstrap.level, body.bootstrap.seed
    if body.index is not None:
        board.index = body.index
    board.columns.clear()
    session.flush()
    board.columns.extend(_columns(body))
    session.flush()


# --- phases ----------------------------------------------------------------------------------


PHASE_SCALARS = (
    "description",
    "start",
    "end",
    "max_submissions_per_day",
    "max_submissions",
    "execution_time_limit",
    "max_submission_size",
    "count_failed_submissions",
    "hide_output",
    "hide_prediction_output",
    "hide_score_output",
    "show_scoring_output",
    "docker_image",
    "accepts_notebooks",
    "name",
    "index",
    "auto_migrate",
    "code_reveal",
    "code_reveal_top",
    "grace_seconds",
    "late_penalty_value",
    "max_selected",
    "reveal_at",
)


def _apply_phase_fields(
    session: Session, identity: Identity, competition: Competition, phase: Phase, fields: dict[str, Any], where: str
) -> None:
    for name in PHASE_SCALARS:
        if name in fields and (fields[name] is not None or name in ("end", "reveal_at", "docker_image")):
            setattr(phase, name, fields[name])
    if fields.get("leaderboard_visibility"):
        phase.leaderboard_visibility = LeaderboardVisibility(fields["leaderboard_visibility"])
    if fields.get("submission_rule"):
        phase.submission_rule = SubmissionRule(fields["submission_rule"])
    if fields.get("late_penalty_kind"):
        phase.late_penalty_kind = LatePenaltyKind(fields["late_penalty_kind"])
    if "leaderboard" in fields:
        key = fields["leaderboard"]
        board = next((b for b in competition.leaderboards if b.key == key), None)
        if key is not None and board is None:
            raise _invalid(_at(where, "leaderboard"), f"no leaderboard with key '{key}'")
        phase.leaderboard = board
    for name, kind in (("public_data", ArtifactKind.public_data), ("starting_kit", ArtifactKind.starting_kit)):
        if name in fields:
            artifact = artifacts.resolve(session, identity, fields[name], competition, {kind}, _at(where, name))
            setattr(phase, f"{name}_id", artifact.id if artifact else None)
    if fields.get("tasks") is not None:
        by_key = {t.key: t for t in competition.tasks}
        missing = [k for k in fields["tasks"] if k not in by_key]
        if missing:
            raise _invalid(_at(where, "tasks"), f"no task with key {', '.join(repr(k) for k in missing)}")
        if len(set(fields["tasks"])) != len(fields["tasks"]):
            raise _invalid(_at(where, "tasks"), "a task is listed twice")
        phase.phase_tasks.clear()
        session.flush()
        phase.phase_tasks.extend(PhaseTask(task=by_key[k], index=i) for i, k in enumerate(fields["tasks"]))
    _apply_classroom_fields(phase, fields)
    if phase.end is not None and phase.end <= phase.start:
        raise _invalid(
            _at(where, "end"), f"must be after start ({phase.end.isoformat()}Z <= {phase.start.isoformat()}Z)"
        )


def _apply_classroom_fields(phase: Phase, fields: dict[str, Any]) -> None:
    """The private board's keys and the grade mapping, checked against the phase's leaderboard."""
    from ..classroom import deadlines, grades, reveal

    if fields.get("private_scores") is not None:
        reveal.check_mapping(phase, fields["private_scores"])
        phase.private_scores = dict(fields["private_scores"])
    if fields.get("grade_mapping") is not None:
        grades.check_mapping(fields["grade_mapping"])
        phase.grade_mapping = dict(fields["grade_mapping"])
    deadlines.check_policy(phase.late_penalty_kind.value if phase.late_penalty_kind else "none",
                           phase.late_penalty_value or 0.0)


def add_phase(
    session: Session,
    identity: Identity,
    competition: Competition,
    body: PhaseIn,
    defaults: dict[str, int],
    default_index: int | None = None,
    where: str = "body",
) -> Phase:
    phase = Phase(
        name=body.name,
        start=body.start,
        index=default_index if default_index is not None else len(competition.phases),
        max_submissions_per_day=defaults.get("max_submissions_per_day", 5),
        max_submissions=defaults.get("max_submissions", 100),
        execution_time_limit=defaults.get("execution_time_limit", 600),
    )
    competition.phases.append(phase)
    if competition.leaderboards and body.leaderboard is None:
        phase.leaderboard = competition.leaderboards[0]
    _apply_phase_fields(session, identity, competition, phase, body.model_dump(exclude_unset=True), where)
    session.flush()
    return phase


def update_phase(session: Session, identity: Identity, phase: Phase, body: PhaseUpdate) -> None:
    _apply_phase_fields(session, identity, phase.competition, phase, body.model_dump(exclude_unset=True), "")
    check_phase_order(phase.competition)


def delete_phase(session: Session, phase: Phase) -> None:
    count = session.scalar(select(func.count(Submission.id)).where(Submission.phase_id == phase.id))
    if count:
        raise Conflict(f"Phase '{phase.name}' has {count} submission(s) and cannot be deleted.")
    session.delete(phase)


def check_phase_order(competition: Competition) -> None:
    """Phases are sequential: each starts no earlier than the previous one (CodaLab's rule)."""
    phases = sorted(competition.phases, key=lambda p: p.index)
    for prev, (i, cur) in zip(phases, enumerate(phases[1:], start=1), strict=False):
        if cur.start < prev.start:
            raise _invalid(
                f"phases[{i}].start",
                f"must not be before the previous phase's start ({cur.start.isoformat()}Z < "
                f"{prev.start.isoformat()}Z)",
            )


def find_page(competition: Competition, key: str) -> Page:
    page = next((p for p in competition.pages if p.key == key or str(p.id) == key), None)
    if page is None:
        raise NotFound(f"No such page: {key}")
    return page
