"""What a claim answers: the job spec (``podium.worker.protocol.JobSpec``) with signed URLs for
exactly the objects the attempt's step may read and write.

The prediction step sees the submission, the ingestion program and the input data, never the
reference data; the scoring step sees the predictions (or the submission, when it is the
result), the scoring program and the reference data. Output slots are pending artifacts whose
signed PUT URLs carry their size caps.

A claim is on the path from a submission to its worker (bench B6), so what it reads and writes
are Core statements on the tables, built once at import: loading a ten-table join as objects,
and building statements of this size per request, cost more Python than their round trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Row,
    String,
    bindparam,
    cast,
    func,
    insert,
    inspect,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ...worker.protocol import (
    BootstrapSettings,
    JobInput,
    JobInputs,
    JobOutputs,
    JobSpec,
    OutputSlot,
)
from ..competitions.environment import named_image
from ..orm import (
    Artifact,
    ArtifactKind,
    ArtifactState,
    Attempt,
    AttemptStep,
    Competition,
    Leaderboard,
    LeaderboardColumn,
    Phase,
    PhaseTask,
    Submission,
    SubmissionFile,
    Task,
)
from ..storage.base import Storage
from .limits import Limits

#: the tables a claim reads and writes with Core statements
ARTIFACTS, ATTEMPTS, SUBMISSIONS, FILES = (Artifact.__table__, Attempt.__table__, Submission.__table__,
                                           SubmissionFile.__table__)
PHASES, PHASE_TASKS, TASKS, COMPETITIONS = Phase.__table__, PhaseTask.__table__, Task.__table__, Competition.__table__
LEADERBOARDS, COLUMNS = Leaderboard.__table__, LeaderboardColumn.__table__
#: the objects an attempt writes, by output slot name
OUTPUT_FILES = {"output": "output.zip", "log": "log.txt", "detailed_results": "detailed_results.html",
                "notebook": "executed.ipynb"}


def output_key(submission_id: int, attempt_id: int, name: str) -> str:
    """Where an attempt's output slot ``name`` is stored."""
    return f"runs/{submission_id}/{attempt_id}/{OUTPUT_FILES[name]}"


def attempt_of_output(key: str) -> int | None:
    """The attempt whose output slot is stored under ``key`` (``output_key``'s inverse), or None."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "runs" and parts[2].isascii() and parts[2].isdigit():
        return int(parts[2])
    return None


def phase_tasks(session: Session, phase: Phase) -> list[Task]:
    """The phase's tasks in order, with their rows in one query (``Phase.tasks`` alone loads the
    links, then each task by a query of its own)."""
    if "phase_tasks" in inspect(phase).unloaded:
        links = session.scalars(select(PhaseTask).where(PhaseTask.phase_id == phase.id)
                                .options(joinedload(PhaseTask.task)).order_by(PhaseTask.index)).all()
        set_committed_value(phase, "phase_tasks", list(links))
    return phase.tasks


def task_of(session: Session, submission: Submission) -> Task | None:
    """The task a submission runs: its own, else its phase's first."""
    if submission.task_id is not None:
        return session.get(Task, submission.task_id)
    tasks = phase_tasks(session, submission.phase)
    return tasks[0] if tasks else None


#: the task a submission runs: its own, else its phase's first
_TASK_ID = func.coalesce(
    SUBMISSIONS.c.task_id,
    select(PHASE_TASKS.c.task_id).where(PHASE_TASKS.c.phase_id == SUBMISSIONS.c.phase_id)
    .order_by(PHASE_TASKS.c.index, PHASE_TASKS.c.id).limit(1).scalar_subquery())
#: what a claim reads about its attempt (``claim_context``); the claim's statements are built
#: once, here: building a statement of this size cost more Python than executing it
_CLAIM_CONTEXT = (
    select(
        ATTEMPTS.c.id, ATTEMPTS.c.state, ATTEMPTS.c.step, ATTEMPTS.c.number, ATTEMPTS.c.submission_id,
        SUBMISSIONS.c.status, SUBMISSIONS.c.parent_id, SUBMISSIONS.c.owner, SUBMISSIONS.c.team_id,
        SUBMISSIONS.c.started_at, PHASES.c.competition_id, PHASES.c.execution_time_limit,
        PHASES.c.accepts_notebooks, PHASES.c.private_scores, PHASES.c.leaderboard_id,
        PHASES.c.docker_image.label("phase_image"), COMPETITIONS.c.docker_image.label("competition_image"),
        COMPETITIONS.c.queue_id, LEADERBOARDS.c.bootstrap_resamples, LEADERBOARDS.c.bootstrap_level,
        LEADERBOARDS.c.bootstrap_seed, TASKS.c.id.label("task_id"), TASKS.c.scoring_program_id,
        TASKS.c.ingestion_program_id, TASKS.c.input_data_id, TASKS.c.reference_data_id,
        TASKS.c.ingestion_only_during_scoring,
    )
    .select_from(ATTEMPTS)
    .join(SUBMISSIONS, SUBMISSIONS.c.id == ATTEMPTS.c.submission_id)
    .join(PHASES, PHASES.c.id == SUBMISSIONS.c.phase_id)
    .join(COMPETITIONS, COMPETITIONS.c.id == PHASES.c.competition_id)
    .outerjoin(LEADERBOARDS, LEADERBOARDS.c.id == PHASES.c.leaderboard_id)
    .outerjoin(TASKS, TASKS.c.id == _TASK_ID)
    .where(ATTEMPTS.c.id == bindparam("attempt_id"))
)
_INPUT_COLUMNS = (ARTIFACTS.c.id, ARTIFACTS.c.state, ARTIFACTS.c.storage_key, ARTIFACTS.c.sha256, ARTIFACTS.c.size)
#: the submission's upload and prediction outputs a step may read
_SUBMISSION_INPUTS = (
    select(FILES.c.role, FILES.c.id, *_INPUT_COLUMNS).join(ARTIFACTS, ARTIFACTS.c.id == FILES.c.artifact_id)
    .where(FILES.c.submission_id == bindparam("r_submission"), FILES.c.role.in_(("submission", "prediction_output")))
)
#: the role of a leaderboard column's row among what a claim reads (``JOB_READS``)
_SCORE_KEY = "score key"
#: everything a claim reads besides its context, in one round trip: the task's programs and data
#: (no role, file id 0), the submission's files, and the keys of the leaderboard's columns a
#: scoring program writes (not the computed ones), as rows of role ``_SCORE_KEY`` with the key in
#: ``storage_key``, the column's index in ``file_id`` and its id in ``id``
JOB_READS = union_all(
    select(cast(null(), String).label("role"), literal(0).label("file_id"), *_INPUT_COLUMNS)
    .where(ARTIFACTS.c.id.in_(bindparam("r_task_artifacts", expanding=True))),
    _SUBMISSION_INPUTS,
    select(literal(_SCORE_KEY), COLUMNS.c.index, COLUMNS.c.id, null(), COLUMNS.c.key, null(), null())
    .where(COLUMNS.c.leaderboard_id == bindparam("r_leaderboard"), COLUMNS.c.computation.is_(None)),
)
_EXISTING_OUTPUTS = select(ARTIFACTS.c.storage_key).where(ARTIFACTS.c.storage_key.in_(bindparam("keys", expanding=True)))
_NEW_OUTPUTS = insert(ARTIFACTS)


def claim_context(session: Session, attempt_id: int) -> Row | None:
    """Everything a claim reads about its attempt, in one row of columns: the attempt, its
    submission, phase, competition (its queue and image), leaderboard (its bootstrap settings)
    and the task the submission runs (its own, else the phase's first). Columns, not objects:
    loading the claim's join as objects cost it more Python than the round trip (bench B6).
    The claim's statements run on the session's connection, in its transaction."""
    return session.connection().execute(_CLAIM_CONTEXT, {"attempt_id": attempt_id}).first()


class _Input(NamedTuple):
    """An object a step may read: the submission file's role and id (None and 0 for a task's)."""

    role: str | None
    file_id: int
    id: int
    state: ArtifactState
    storage_key: str
    sha256: str | None
    size: int | None


class JobReads(NamedTuple):
    """What a claim reads besides its context (``JOB_READS``)."""

    task: dict[int, _Input]  # the task's objects by id
    submission: list[_Input]  # the submission's upload and prediction outputs, oldest first
    score_keys: list[str]  # the keys a scoring program writes, in the leaderboard's order


def job_reads_params(claim: Row) -> dict[str, Any]:
    """The parameters of ``JOB_READS`` for the attempt of ``claim``: named apart from any column
    of the tables a claim's writes UPDATE (``attempts._writes_in_one`` carries these reads, and
    there a parameter named like a column of the UPDATE's table would be SET on it)."""
    wanted = [i for i in (claim.scoring_program_id, claim.ingestion_program_id, claim.input_data_id,
                          claim.reference_data_id) if i]
    return {"r_submission": claim.submission_id, "r_task_artifacts": wanted, "r_leaderboard": claim.leaderboard_id}


def _readable(session: Session, claim: Row) -> JobReads:
    """The task's objects, the submission's files and the leaderboard's score keys, in one read."""
    return job_reads_from(session.connection().execute(JOB_READS, job_reads_params(claim)))


def job_reads_from(rows: Iterable[Sequence[Any]]) -> JobReads:
    """``JOB_READS``' rows (each a row's first seven columns) as what the job spec is made from."""
    task: dict[int, _Input] = {}
    submission: list[_Input] = []
    columns: list[_Input] = []
    for row in rows:
        found = _Input(*row)
        if found.role is None:
            task[found.id] = found
        elif found.role == _SCORE_KEY:
            columns.append(found)
        else:
            submission.append(found)
    submission.sort(key=lambda f: f.file_id)
    return JobReads(task, submission, [c.storage_key for c in sorted(columns, key=lambda c: (c.file_id, c.id))])


def _visible_inputs(storage: Storage, claim: Row, expiry: int, task: dict[int, _Input],
                    submission: list[_Input]) -> JobInputs:
    """The inputs this step may see, as signed GET URLs of the objects that are ready."""

    def signed(found: _Input | None) -> JobInput | None:
        if found is None or found.state != ArtifactState.ready:
            return None
        return JobInput(url=storage.signed_url(found.storage_key, "GET", expires_in=expiry), sha256=found.sha256,
                        size=found.size)

    def of_task(artifact_id: int | None) -> _Input | None:
        return task.get(artifact_id) if artifact_id else None

    upload = next((f for f in submission if f.role == "submission"), None)
    inputs: dict[str, JobInput | None] = {}
    if claim.step == AttemptStep.predict:
        inputs["submission"] = signed(upload)
        inputs["ingestion_program"] = signed(of_task(claim.ingestion_program_id))
        inputs["input_data"] = signed(of_task(claim.input_data_id))
    else:
        predictions = [f for f in submission if f.role == "prediction_output"]
        if predictions:
            inputs["predictions"] = signed(predictions[-1])  # the latest prediction step's
        else:
            inputs["submission"] = signed(upload)
            inputs["input_data"] = signed(of_task(claim.input_data_id))
        inputs["scoring_program"] = signed(of_task(claim.scoring_program_id))
        inputs["reference_data"] = signed(of_task(claim.reference_data_id))
        if claim.ingestion_only_during_scoring and claim.ingestion_program_id:
            inputs["ingestion_program"] = signed(of_task(claim.ingestion_program_id))
            inputs["submission"] = signed(upload)
    return JobInputs(**{k: v for k, v in inputs.items() if v is not None})  # type: ignore[typeddict-item]


def _output_slots(session: Session, storage: Storage, claim: Row, sizes: dict[str, int],
                  expiry: int, may_exist: bool = True) -> JobOutputs:
    """Signed PUT URLs for the attempt's outputs, with their pending artifacts (the new rows go
    out in one INSERT, in the claim's transaction). Rows an earlier holder's claim made are
    looked for in one read, only when there may be some (``may_exist``)."""
    keys = {name: output_key(claim.submission_id, claim.id, name) for name in sizes}
    db = session.connection()
    existing = set(db.scalars(_EXISTING_OUTPUTS, {"keys": list(keys.values())})) if may_exist else set()
    slots: dict[str, OutputSlot] = {}
    new_rows = []
    for name, key in keys.items():
        filename, max_size = OUTPUT_FILES[name], sizes[name]
        if key not in existing:
            new_rows.append({
                "kind": ArtifactKind.log if filename.startswith("log") else ArtifactKind.output,
                "name": filename, "storage_key": key, "state": ArtifactState.pending, "max_size": max_size,
                "created_by": "worker", "competition_id": claim.competition_id,
            })
        slots[name] = OutputSlot(url=storage.signed_url(key, "PUT", expires_in=expiry, max_size=max_size),
                                 max_size=max_size)
    if new_rows:
        # nothing in this request reads the new rows back: one Core INSERT, without the ORM's
        # flush reading back each row's id (RETURNING), which cost a claim more than its round trip
        db.execute(_NEW_OUTPUTS, new_rows)
    if headers := storage.upload_headers():
        for slot in slots.values():
            slot["headers"] = headers
    return JobOutputs(**slots)  # type: ignore[typeddict-item]


def job_spec(session: Session, storage: Storage, claim: Row, limits: Limits,
             outputs_may_exist: bool = True, reads: JobReads | None = None) -> JobSpec:
    """Everything the worker needs for the attempt of ``claim`` (``claim_context``'s row), with
    signed URLs for exactly what it may touch. ``outputs_may_exist`` is false when no earlier
    claim made the attempt's output slots; ``reads``: ``JOB_READS`` already made (the claim's
    writes carry it on PostgreSQL), else it is read here."""
    expiry = max(limits.url_expiry, claim.execution_time_limit * 3)
    if reads is None:
        reads = _readable(session, claim)
    inputs = _visible_inputs(storage, claim, expiry, reads.task, reads.submission)
    names = ["output", "log"] + (["detailed_results"] if claim.step == AttemptStep.score else [])
    if claim.accepts_notebooks:
        names.append("notebook")
    outputs = _output_slots(
        session, storage, claim,
        {name: limits.max_log_bytes if name == "log" else limits.max_output_bytes for name in names}, expiry,
        may_exist=outputs_may_exist,
    )
    board = claim.leaderboard_id is not None
    return JobSpec(
        attempt=claim.id,
        submission=claim.submission_id,
        step=claim.step.value,
        number=claim.number,
        lease_seconds=limits.lease_seconds,
        time_limit=claim.execution_time_limit,
        image=named_image(claim.phase_image, claim.competition_image),
        ingestion_only_during_scoring=bool(claim.task_id and claim.ingestion_only_during_scoring),
        inputs=inputs,
        outputs=outputs,
        score_keys=(reads.score_keys + list(claim.private_scores or ()) if board else []),
        bootstrap=BootstrapSettings(resamples=claim.bootstrap_resamples, level=claim.bootstrap_level,
                                    seed=claim.bootstrap_seed) if board else None,
        notebook=claim.accepts_notebooks,
    )
