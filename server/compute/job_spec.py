"""What a claim answers: the job spec (``podium.worker.protocol.JobSpec``) with signed URLs for
exactly the objects the attempt's step may read and write.

The prediction step sees the submission, the ingestion program and the input data, never the
reference data; the scoring step sees the predictions (or the submission, when it is the
result), the scoring program and the reference data. Output slots are pending artifacts whose
signed PUT URLs carry their size caps.
"""

from __future__ import annotations

from sqlalchemy import insert, inspect, select
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
from ..competitions.environment import phase_image
from ..orm import (
    Artifact,
    ArtifactKind,
    ArtifactState,
    Attempt,
    AttemptStep,
    Phase,
    PhaseTask,
    Submission,
    SubmissionFile,
    Task,
)
from ..storage.base import Storage
from ..submissions import lifecycle as subs
from .limits import Limits

ARTIFACTS = Artifact.__table__
#: the objects an attempt writes, by output slot name
OUTPUT_FILES = {"output": "output.zip", "log": "log.txt", "detailed_results": "detailed_results.html",
                "notebook": "executed.ipynb"}


def output_key(attempt: Attempt, name: str) -> str:
    """Where an attempt's output slot ``name`` is stored."""
    return f"runs/{attempt.submission_id}/{attempt.id}/{OUTPUT_FILES[name]}"


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


def _input(storage: Storage, artifact: Artifact | None, expiry: int) -> JobInput | None:
    if artifact is None or artifact.state != ArtifactState.ready:
        return None
    return JobInput(url=storage.signed_url(artifact.storage_key, "GET", expires_in=expiry),
                    sha256=artifact.sha256, size=artifact.size)


def _load_inputs(session: Session, submission: Submission, task: Task | None) -> dict[int, Artifact]:
    """One read for the task's artifacts and one for the submission's files (with their objects),
    instead of a lazy load each: the claim answer is on the dispatch path. Returns the task's
    artifacts by id, for the caller to hold: the session's identity map keeps an object only while
    something references it, so a ``session.get`` of one dropped after this read reads it again
    (it did, once per input, on every claim)."""
    wanted = [i for i in (task.scoring_program_id, task.ingestion_program_id, task.input_data_id,
                          task.reference_data_id) if i] if task else []
    found = {a.id: a for a in session.scalars(select(Artifact).where(Artifact.id.in_(wanted)))} if wanted else {}
    if "files" in inspect(submission).unloaded:
        files = list(session.scalars(select(SubmissionFile).where(SubmissionFile.submission_id == submission.id)
                                     .options(joinedload(SubmissionFile.artifact)).order_by(SubmissionFile.id)))
        set_committed_value(submission, "files", files)
    return found


def _visible_inputs(storage: Storage, attempt: Attempt, task: Task | None, expiry: int,
                    artifacts: dict[int, Artifact]) -> JobInputs:
    """The inputs this step may see, as signed GET URLs (``artifacts``: the task's, read by ``_load_inputs``)."""
    submission = attempt.submission

    def art(artifact_id: int | None) -> Artifact | None:
        return artifacts.get(artifact_id) if artifact_id else None

    inputs: dict[str, JobInput | None] = {}
    if attempt.step == AttemptStep.predict:
        inputs["submission"] = _input(storage, subs.upload_of(submission), expiry)
        inputs["ingestion_program"] = _input(storage, art(task.ingestion_program_id), expiry)
        inputs["input_data"] = _input(storage, art(task.input_data_id), expiry)
    else:
        outputs_so_far = [f for f in submission.files if f.role == "prediction_output"]
        predictions = max(outputs_so_far, key=lambda f: f.id).artifact if outputs_so_far else None
        if predictions is not None:
            inputs["predictions"] = _input(storage, predictions, expiry)
        else:
            inputs["submission"] = _input(storage, subs.upload_of(submission), expiry)
            inputs["input_data"] = _input(storage, art(task.input_data_id) if task else None, expiry)
        inputs["scoring_program"] = _input(storage, art(task.scoring_program_id) if task else None, expiry)
        inputs["reference_data"] = _input(storage, art(task.reference_data_id) if task else None, expiry)
        if task is not None and task.ingestion_only_during_scoring and task.ingestion_program_id:
            inputs["ingestion_program"] = _input(storage, art(task.ingestion_program_id), expiry)
            inputs["submission"] = _input(storage, subs.upload_of(submission), expiry)
    return JobInputs(**{k: v for k, v in inputs.items() if v is not None})  # type: ignore[typeddict-item]


def _output_slots(session: Session, storage: Storage, attempt: Attempt, sizes: dict[str, int],
                  expiry: int, may_exist: bool = True) -> JobOutputs:
    """Signed PUT URLs for the attempt's outputs, with their pending artifacts (the new rows go
    out in one INSERT, in the claim's transaction). Rows an earlier holder's claim made are
    looked for in one read, only when there may be some (``may_exist``)."""
    keys = {name: output_key(attempt, name) for name in sizes}
    existing = set(session.scalars(select(Artifact.storage_key).where(Artifact.storage_key.in_(keys.values())))
                   ) if may_exist else set()
    slots: dict[str, OutputSlot] = {}
    new_rows = []
    for name, key in keys.items():
        filename, max_size = OUTPUT_FILES[name], sizes[name]
        if key not in existing:
            new_rows.append({
                "kind": ArtifactKind.log if filename.startswith("log") else ArtifactKind.output,
                "name": filename, "storage_key": key, "state": ArtifactState.pending, "max_size": max_size,
                "created_by": "worker", "competition_id": attempt.submission.phase.competition_id,
            })
        slots[name] = OutputSlot(url=storage.signed_url(key, "PUT", expires_in=expiry, max_size=max_size),
                                 max_size=max_size)
    if new_rows:
        # nothing in this request reads the new rows back: one Core INSERT, without the ORM's
        # flush reading back each row's id (RETURNING), which cost a claim more than its round trip
        session.execute(insert(ARTIFACTS), new_rows)
    if headers := storage.upload_headers():
        for slot in slots.values():
            slot["headers"] = headers
    return JobOutputs(**slots)  # type: ignore[typeddict-item]


def job_spec(session: Session, storage: Storage, attempt: Attempt, limits: Limits,
             outputs_may_exist: bool = True) -> JobSpec:
    """Everything the worker needs for this attempt, with signed URLs for exactly what it may
    touch. ``outputs_may_exist`` is false when no earlier claim made the attempt's output slots."""
    submission = attempt.submission
    phase = submission.phase
    task = task_of(session, submission)
    expiry = max(limits.url_expiry, phase.execution_time_limit * 3)
    artifacts = _load_inputs(session, submission, task)
    inputs = _visible_inputs(storage, attempt, task, expiry, artifacts)
    names = ["output", "log"] + (["detailed_results"] if attempt.step == AttemptStep.score else [])
    if phase.accepts_notebooks:
        names.append("notebook")
    outputs = _output_slots(
        session, storage, attempt,
        {name: limits.max_log_bytes if name == "log" else limits.max_output_bytes for name in names}, expiry,
        may_exist=outputs_may_exist,
    )
    board = phase.leaderboard
    return JobSpec(
        attempt=attempt.id,
        submission=submission.id,
        step=attempt.step.value,
        number=attempt.number,
        lease_seconds=limits.lease_seconds,
        time_limit=phase.execution_time_limit,
        image=phase_image(phase),
        ingestion_only_during_scoring=bool(task and task.ingestion_only_during_scoring),
        inputs=inputs,
        outputs=outputs,
        score_keys=([c.key for c in board.columns if c.computation is None] + list(phase.private_scores or ())
                    if board else []),
        bootstrap=BootstrapSettings(resamples=board.bootstrap_resamples, level=board.bootstrap_level,
                                    seed=board.bootstrap_seed) if board else None,
        notebook=phase.accepts_notebooks,
    )
