"""The service's half of the job protocol: attempts, claims under a lease, heartbeats, results,
and the reaper that keeps anything from staying "running" forever.

A submission is worked on in steps (``predict`` when its task has an ingestion program, then
``score``); each step is tried by attempts. An attempt is queued (with an outbox row, so the
broker message survives a crash), claimed by exactly one worker through a conditional UPDATE,
kept alive by heartbeats that extend its lease, and finished once. A worker that stops
heartbeating loses the lease: the reaper expires the attempt and queues another (up to
``max_attempts``), so infrastructure failures are retried and never cost the participant quota.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, func, inspect, or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..clock import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..orm import (
    TERMINAL_STATUSES,
    Artifact,
    ArtifactKind,
    ArtifactState,
    Attempt,
    AttemptState,
    AttemptStep,
    Competition,
    ComputeQueue,
    DispatchOutbox,
    FailureKind,
    Leaderboard,
    Phase,
    PhaseTask,
    Score,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    Task,
    Worker,
)
from ..storage.base import Storage
from ..submissions import lifecycle as subs
from ..submissions import task_scores
from .queues import DEFAULT_QUEUE, touch_worker

S = SubmissionStatus
OUTPUT_ROLES = {
    (AttemptStep.predict, "output"): "prediction_output",
    (AttemptStep.predict, "log"): "prediction_log",
    (AttemptStep.score, "output"): "scoring_output",
    (AttemptStep.score, "log"): "scoring_log",
    (AttemptStep.score, "detailed_results"): "detailed_results",
}


@dataclass
class Limits:
    """Platform settings the job protocol needs."""

    lease_seconds: int = 60
    max_attempts: int = 3
    unclaimed_timeout: int = 600
    url_expiry: int = 3600
    max_output_bytes: int = 512 * 1024 * 1024
    max_log_bytes: int = 4 * 1024 * 1024
    abandoned_upload_timeout: int = 6 * 3600


@dataclass
class FinishReport:
    """What a worker says when an attempt ends."""

    state: str  # succeeded | failed | cancelled
    failure_kind: str | None = None
    reason: str | None = None
    retryable: bool = True
    exit_code: int | None = None
    elapsed: float | None = None
    log_tail: str = ""
    scores: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)


def queue_name(submission: Submission) -> str:
    queue = submission.phase.competition.queue
    return queue.name if queue is not None else DEFAULT_QUEUE


def phase_tasks(session: Session, phase: Phase) -> list[Task]:
    """The phase's tasks in order, with their rows in one query (``Phase.tasks`` alone loads the
    links, then each task by a query of its own)."""
    if "phase_tasks" in inspect(phase).unloaded:
        links = session.scalars(select(PhaseTask).where(PhaseTask.phase_id == phase.id)
                                .options(joinedload(PhaseTask.task)).order_by(PhaseTask.index)).all()
        set_committed_value(phase, "phase_tasks", list(links))
    return phase.tasks


def task_of(session: Session, submission: Submission) -> Task | None:
    if submission.task_id is not None:
        return session.get(Task, submission.task_id)
    tasks = phase_tasks(session, submission.phase)
    return tasks[0] if tasks else None


def first_step(session: Session, submission: Submission) -> AttemptStep:
    """Prediction first when an ingestion program runs the code on its own; straight to scoring
    for result submissions and when ingestion runs during scoring."""
    task = task_of(session, submission)
    if task is None or not task.ingestion_program_id or task.ingestion_only_during_scoring:
        return AttemptStep.score
    return AttemptStep.predict


def enqueue(session: Session, submission: Submission, step: AttemptStep) -> Attempt:
    """A new attempt at ``step`` and its outbox row, in the caller's transaction."""
    number = (
        session.scalar(
            select(func.max(Attempt.number)).where(Attempt.submission_id == submission.id, Attempt.step == step)
        )
        or 0
    ) + 1
    attempt = Attempt(submission_id=submission.id, step=step, number=number, state=AttemptState.queued)
    session.add(attempt)
    session.flush()
    if "attempts" not in inspect(submission).unloaded:
        # the loaded list gains the new row as the database has it (ordered by id): an answer
        # that shows the attempts reads them without a reload
        set_committed_value(submission, "attempts", [*submission.attempts, attempt])
    outbox = DispatchOutbox(attempt_id=attempt.id, queue=queue_name(submission))
    session.add(outbox)
    # what the message says, kept on the session: once the transaction commits, the dispatcher
    # publishes it without reading the outbox back (``committed_messages``)
    session.info.setdefault(NEW_MESSAGES, []).append(
        (outbox, attempt.id, submission.id, step.value, outbox.queue))
    return attempt


def start(session: Session, submission: Submission) -> list[Attempt]:
    """Queue a submitted submission: one child per task when a multi-task phase gets a
    submission for all its tasks, else its first step."""
    phase: Phase = submission.phase
    tasks = phase_tasks(session, phase)
    if submission.task_id is None and len(tasks) > 1 and submission.parent_id is None:
        attempts = []
        upload = subs.upload_of(submission)
        for task in tasks:
            child = Submission(
                phase_id=phase.id, task_id=task.id, parent_id=submission.id, owner=submission.owner,
                status=S.submitted, submitted_at=utcnow(), size=submission.size, sha256=submission.sha256,
                counts_toward_quota=False, description=f"task {task.key} of submission {submission.id}",
            )
            child.files.append(SubmissionFile(artifact=upload, role="submission"))
            session.add(child)
            session.flush()
            attempts.append(enqueue(session, child, first_step(session, child)))
        return attempts
    return [enqueue(session, submission, first_step(session, submission))]


# --- claim and lease --------------------------------------------------------------------------


def _attempt_in_queue(session: Session, queue: ComputeQueue, attempt_id: int, for_claim: bool = False,
                      for_finish: bool = False) -> Attempt:
    # one query for the attempt and the chain its queue is read through (claim, heartbeat and
    # finish are the dispatch path: five lazy loads here were a third of a claim's queries); a
    # claim also loads what its job spec reads (the phase's tasks and leaderboard columns, the
    # submission's files), a finish what recording results reads (the files its outputs join,
    # the leaderboard columns scores are checked against)
    submission = joinedload(Attempt.submission)
    phase = submission.joinedload(Submission.phase)
    options = [phase.joinedload(Phase.competition).joinedload(Competition.queue)]
    if for_claim:
        options += [phase.joinedload(Phase.phase_tasks).joinedload(PhaseTask.task),
                    submission.joinedload(Submission.files).joinedload(SubmissionFile.artifact)]
    else:  # who holds it (a claim sets the holder without reading it)
        options.append(joinedload(Attempt.worker))
    if for_claim or for_finish:
        options.append(phase.joinedload(Phase.leaderboard).joinedload(Leaderboard.columns))
    if for_finish:
        options.append(submission.joinedload(Submission.files))
    attempt = session.scalars(select(Attempt).where(Attempt.id == attempt_id).options(*options)).unique().first()
    if attempt is None or queue_name(attempt.submission) != queue.name:
        raise NotFound(f"No attempt {attempt_id} in queue '{queue.name}'.")
    return attempt


def claim(session: Session, storage: Storage, queue: ComputeQueue, attempt_id: int, worker_name: str,
          hostname: str, limits: Limits) -> dict[str, Any]:
    """Take an attempt (a conditional UPDATE that one worker wins; an expired lease may be taken
    over) and answer its job spec."""
    attempt = _attempt_in_queue(session, queue, attempt_id, for_claim=True)
    # an attempt still queued never had a holder, so none of its output slots exists yet
    first_claim = attempt.state == AttemptState.queued
    _take(session, queue, attempt, worker_name, hostname, limits)
    return job_spec(session, storage, attempt, limits, outputs_may_exist=not first_claim)


def _take(session: Session, queue: ComputeQueue, attempt: Attempt, worker_name: str, hostname: str,
          limits: Limits) -> None:
    now = utcnow()
    # a known worker is touched by one UPDATE (no read, no flush); a new one is created
    seen = {"last_seen": now, **({"hostname": hostname} if hostname else {})}
    worker_id = session.scalar(
        update(Worker).where(Worker.queue_id == queue.id, Worker.name == worker_name).values(**seen)
        .returning(Worker.id).execution_options(synchronize_session=False)
    )
    if worker_id is None:
        worker_id = touch_worker(session, queue, worker_name, hostname).id
    won = session.execute(
        update(Attempt)
        .where(
            Attempt.id == attempt.id,
            or_(
                Attempt.state == AttemptState.queued,
                and_(Attempt.state == AttemptState.running, Attempt.lease_expires_at < now),
            ),
        )
        .values(
            state=AttemptState.running, worker_id=worker_id, started_at=now,
            lease_expires_at=now + timedelta(seconds=limits.lease_seconds),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        session.refresh(attempt)
        raise Conflict(f"Attempt {attempt.id} is {attempt.state.value} and held elsewhere or finished.")
    # the row now holds exactly these values: no second read of it
    for key, value in (("state", AttemptState.running), ("worker_id", worker_id), ("started_at", now),
                       ("lease_expires_at", now + timedelta(seconds=limits.lease_seconds))):
        set_committed_value(attempt, key, value)
    session.expire(attempt, ["worker"])
    submission = attempt.submission
    if submission.status in TERMINAL_STATUSES:
        attempt.state = AttemptState.cancelled
        attempt.finished_at = now
        raise Conflict(f"Submission {submission.id} is already {submission.status.value}.")
    if attempt.step == AttemptStep.predict and submission.status == S.submitted:
        subs.transition(submission, S.running)
    elif attempt.step == AttemptStep.score and submission.status in (S.submitted, S.running):
        subs.transition(submission, S.scoring)
    _propagate_to_parent(session, submission)


def _held(session: Session, queue: ComputeQueue, attempt_id: int, worker_name: str, for_finish: bool = False) -> Attempt:
    attempt = _attempt_in_queue(session, queue, attempt_id, for_finish=for_finish)
    if attempt.state != AttemptState.running or attempt.worker is None or attempt.worker.name != worker_name:
        raise Conflict(f"Attempt {attempt_id} is not held by worker '{worker_name}' (lease lost or finished).")
    return attempt


def heartbeat(session: Session, queue: ComputeQueue, attempt_id: int, worker_name: str, limits: Limits) -> dict[str, Any]:
    attempt = _held(session, queue, attempt_id, worker_name)
    now = utcnow()
    attempt.lease_expires_at = now + timedelta(seconds=limits.lease_seconds)
    attempt.worker.last_seen = now
    return {"cancel": attempt.submission.status == S.cancelled, "lease_expires_at": attempt.lease_expires_at}


# --- what a claim hands out -----------------------------------------------------------------


def _input(storage: Storage, artifact: Artifact | None, expiry: int) -> dict[str, Any] | None:
    if artifact is None or artifact.state != ArtifactState.ready:
        return None
    return {
        "url": storage.signed_url(artifact.storage_key, "GET", expires_in=expiry),
        "sha256": artifact.sha256,
        "size": artifact.size,
    }


def _output_slots(session: Session, storage: Storage, attempt: Attempt, sizes: dict[str, int],
                  expiry: int, may_exist: bool = True) -> dict[str, dict]:
    """Signed PUT URLs for the attempt's outputs, with their pending artifacts (the new rows go
    out in one batched INSERT with the claim's commit). Rows an earlier holder's claim made are
    looked for in one read, only when there may be some (``may_exist``)."""
    keys = {name: f"runs/{attempt.submission_id}/{attempt.id}/{OUTPUT_FILES[name]}" for name in sizes}
    existing = set(session.scalars(select(Artifact.storage_key).where(Artifact.storage_key.in_(keys.values())))
                   ) if may_exist else set()
    slots = {}
    for name, key in keys.items():
        filename, max_size = OUTPUT_FILES[name], sizes[name]
        if key not in existing:
            session.add(Artifact(
                kind=ArtifactKind.log if filename.startswith("log") else ArtifactKind.output,
                name=filename, storage_key=key, state=ArtifactState.pending, max_size=max_size,
                created_by="worker", competition_id=attempt.submission.phase.competition_id,
            ))
        slots[name] = {"url": storage.signed_url(key, "PUT", expires_in=expiry, max_size=max_size),
                       "max_size": max_size}
    return slots


OUTPUT_FILES = {"output": "output.zip", "log": "log.txt", "detailed_results": "detailed_results.html"}


def job_spec(session: Session, storage: Storage, attempt: Attempt, limits: Limits,
             outputs_may_exist: bool = True) -> dict[str, Any]:
    """Everything the worker needs for this attempt, with signed URLs for exactly what it may
    touch. ``outputs_may_exist`` is false when no earlier claim made the attempt's output slots."""
    submission = attempt.submission
    phase = submission.phase
    task = task_of(session, submission)
    expiry = max(limits.url_expiry, phase.execution_time_limit * 3)

    # one read for the task's artifacts and one for the submission's files (with their objects),
    # instead of a lazy load each: the claim answer is on the dispatch path
    wanted = [i for i in (task.scoring_program_id, task.ingestion_program_id, task.input_data_id,
                          task.reference_data_id) if i] if task else []
    if wanted:
        list(session.scalars(select(Artifact).where(Artifact.id.in_(wanted))))
    if "files" in inspect(submission).unloaded:
        files = list(session.scalars(select(SubmissionFile).where(SubmissionFile.submission_id == submission.id)
                                     .options(joinedload(SubmissionFile.artifact)).order_by(SubmissionFile.id)))
        set_committed_value(submission, "files", files)

    def art(artifact_id: int | None) -> Artifact | None:
        return session.get(Artifact, artifact_id) if artifact_id else None

    inputs: dict[str, Any] = {}
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
    names = ["output", "log"] + (["detailed_results"] if attempt.step == AttemptStep.score else [])
    outputs = _output_slots(
        session, storage, attempt,
        {name: limits.max_log_bytes if name == "log" else limits.max_output_bytes for name in names}, expiry,
        may_exist=outputs_may_exist,
    )
    board = phase.leaderboard
    return {
        "attempt": attempt.id,
        "submission": submission.id,
        "step": attempt.step.value,
        "number": attempt.number,
        "lease_seconds": limits.lease_seconds,
        "time_limit": phase.execution_time_limit,
        "image": phase.competition.docker_image,
        "ingestion_only_during_scoring": bool(task and task.ingestion_only_during_scoring),
        "inputs": {k: v for k, v in inputs.items() if v is not None},
        "outputs": outputs,
        "score_keys": [c.key for c in board.columns if c.computation is None] if board else [],
    }


# --- results ----------------------------------------------------------------------------------


def _attach_outputs(session: Session, storage: Storage, attempt: Attempt, names: list[str]) -> None:
    keys = {name: f"runs/{attempt.submission_id}/{attempt.id}/{OUTPUT_FILES[name]}" for name in names
            if name in OUTPUT_FILES and (attempt.step, name) in OUTPUT_ROLES}
    if not keys:
        return
    # the outputs' pending artifacts in one read, not one per output
    by_key = {a.storage_key: a for a in session.scalars(select(Artifact).where(Artifact.storage_key.in_(set(keys.values()))))}
    for name, key in keys.items():
        artifact = by_key.get(key)
        info = storage.stat(key) if artifact is not None else None
        if artifact is None or info is None:
            continue
        artifact.size, artifact.sha256, artifact.state = info.size, info.sha256, ArtifactState.ready
        attempt.submission.files.append(SubmissionFile(artifact=artifact, role=OUTPUT_ROLES[(attempt.step, name)]))


def finish(session: Session, storage: Storage, queue: ComputeQueue, attempt_id: int, worker_name: str,
           report: FinishReport, limits: Limits) -> Attempt:
    """Record how an attempt ended and move the submission on (next step, scores, or failure)."""
    attempt = _held(session, queue, attempt_id, worker_name, for_finish=True)
    submission = attempt.submission
    now = utcnow()
    # the outputs' read first, so it flushes nothing and the attempt's row is written once
    _attach_outputs(session, storage, attempt, report.files)
    attempt.finished_at, attempt.exit_code, attempt.elapsed = now, report.exit_code, report.elapsed
    attempt.lease_expires_at = None
    if report.log_tail and not (submission.phase.hide_output and attempt.step == AttemptStep.score):
        submission.log_tail = report.log_tail[-8000:]
    if submission.status in TERMINAL_STATUSES or report.state == "cancelled":
        attempt.state = AttemptState.cancelled
        return attempt
    if report.state == "succeeded":
        attempt.state = AttemptState.succeeded
        if attempt.step == AttemptStep.predict:
            enqueue(session, submission, AttemptStep.score)
        else:
            try:
                subs.finish(session, submission, report.scores or {})
            except ValidationFailed as e:
                problems = "; ".join(f"{p['location']}: {p['message']}" for p in e.extra.get("errors", []))
                subs.fail(submission, f"The scoring program's scores are not usable ({problems}).", FailureKind.participant)
        _propagate_to_parent(session, submission)
        return attempt
    kind = FailureKind(report.failure_kind or "platform")
    attempt.state, attempt.failure_kind, attempt.error = AttemptState.failed, kind, report.reason
    retry_platform(session, submission, attempt, kind, report.reason or "The worker failed.", report.retryable, limits)
    _propagate_to_parent(session, submission)
    return attempt


def retry_platform(session: Session, submission: Submission, attempt: Attempt, kind: FailureKind,
                   reason: str, retryable: bool, limits: Limits) -> None:
    """Platform failures are tried again up to ``max_attempts``; other failures end the submission."""
    if kind == FailureKind.platform and retryable and attempt.number < limits.max_attempts:
        enqueue(session, submission, attempt.step)
        return
    if kind == FailureKind.platform and retryable:
        reason = f"{reason} (gave up after {attempt.number} attempts; this does not count against your quota)"
    subs.fail(submission, reason, kind)


def _propagate_to_parent(session: Session, child: Submission) -> None:
    """A multi-task parent runs while any child runs, fails if one fails, finishes when all do
    (each column's score the mean over the tasks that wrote it; every task's own stay on its child)."""
    if child.parent_id is None:
        return
    parent = session.get(Submission, child.parent_id)
    if parent is None or parent.status in TERMINAL_STATUSES:
        return
    children = list(session.scalars(select(Submission).where(Submission.parent_id == parent.id)))
    statuses = {c.status for c in children}
    if S.failed in statuses:
        failed = next(c for c in children if c.status == S.failed)
        subs.fail(parent, f"Task {failed.task_id}: {failed.failure_reason}", failed.failure_kind or FailureKind.platform)
    elif statuses == {S.finished}:
        # every child's scores in one read, not a lazy load per child
        by_child: dict[int, dict[str, float]] = {c.id: {} for c in children}
        for sid, key, value in session.execute(
            select(Score.submission_id, Score.column_key, Score.value)
            .where(Score.submission_id.in_(list(by_child))).order_by(Score.id)
        ):
            by_child[sid][key] = value
        scores = task_scores.parent_scores(by_child[c.id] for c in children)
        try:
            subs.finish(session, parent, scores)
        except ValidationFailed as e:
            subs.fail(parent, f"The tasks' scores are not usable: {e.message}", FailureKind.participant)
    elif parent.status == S.submitted and statuses & {S.running, S.scoring, S.finished}:
        subs.transition(parent, S.running)


def cancel(session: Session, submission: Submission, by_owner: bool) -> None:
    """Cancel a submission and its queued attempts; a running one is stopped by its worker at its
    next heartbeat (the container is killed)."""
    subs.cancel(submission, by_owner)
    targets = [submission] + list(session.scalars(select(Submission).where(Submission.parent_id == submission.id)))
    for target in targets:
        if target is not submission and target.status not in TERMINAL_STATUSES:
            subs.transition(target, S.cancelled)
        for attempt in target.attempts:
            if attempt.state == AttemptState.queued:
                attempt.state, attempt.finished_at = AttemptState.cancelled, utcnow()


# --- the reaper -------------------------------------------------------------------------------


@dataclass
class ReapResult:
    expired: int = 0
    republished: int = 0
    abandoned: int = 0


def reap(session: Session, limits: Limits, now: datetime | None = None) -> ReapResult:
    """Expire attempts whose lease ran out (retrying them), re-publish attempts nobody claimed,
    and cancel submissions whose upload never came."""
    now = now or utcnow()
    result = ReapResult()
    expired = session.scalars(
        select(Attempt).where(Attempt.state == AttemptState.running, Attempt.lease_expires_at < now).limit(500)
    ).all()
    for attempt in expired:
        attempt.state, attempt.finished_at = AttemptState.expired, now
        attempt.failure_kind, attempt.error = FailureKind.platform, "The worker stopped answering (lease expired)."
        submission = attempt.submission
        if submission.status not in TERMINAL_STATUSES:
            retry_platform(session, submission, attempt, FailureKind.platform,
                           "The compute worker stopped while running this submission.", True, limits)
            _propagate_to_parent(session, submission)
        result.expired += 1
    stale = session.scalars(
        select(DispatchOutbox)
        .join(Attempt, Attempt.id == DispatchOutbox.attempt_id)
        .where(
            Attempt.state == AttemptState.queued,
            DispatchOutbox.published_at.is_not(None),
            DispatchOutbox.published_at < now - timedelta(seconds=limits.unclaimed_timeout),
        )
        .limit(500)
    ).all()
    for row in stale:
        attempt = session.get(Attempt, row.attempt_id)
        if row.publish_count >= limits.max_attempts:
            attempt.state, attempt.finished_at = AttemptState.failed, now
            attempt.failure_kind = FailureKind.platform
            subs.fail(attempt.submission, "No compute worker took this submission; it does not count "
                      "against your quota. Ask the organizers to check their workers.", FailureKind.platform)
            _propagate_to_parent(session, attempt.submission)
        else:
            row.published_at = None  # the dispatcher publishes it again; a duplicate claim is refused
            result.republished += 1
    abandoned = session.scalars(
        select(Submission).where(
            Submission.status == S.submitting,
            Submission.created_at < now - timedelta(seconds=limits.abandoned_upload_timeout),
        ).limit(500)
    ).all()
    for submission in abandoned:
        subs.cancel(submission, by_owner=True)
        submission.failure_reason = "The upload never completed; this does not count against your quota."
        result.abandoned += 1
    # no leaderboard rebuild: an expired attempt is retried or failed, and neither a failed
    # submission nor the parent it fails is ranked
    return result


class Message(NamedTuple):
    """A broker message of the outbox: the task's arguments and the queue it goes to."""

    outbox_id: int
    attempt_id: int
    submission_id: int
    step: str
    queue: str


NEW_MESSAGES = "podium.new_messages"


def committed_messages(session: Session) -> list[Message]:
    """The messages ``enqueue`` wrote in the transaction that just committed (call it after the
    commit, e.g. from an ``after_commit`` event: it reads no row, the outbox ids are the rows'
    identities). The list is taken from the session, so each message is handed out once."""
    new = session.info.pop(NEW_MESSAGES, [])
    messages = []
    for outbox, attempt_id, submission_id, step, queue in new:
        identity = inspect(outbox).identity  # None if a savepoint rolled the row back
        if identity is not None:
            messages.append(Message(identity[0], attempt_id, submission_id, step, queue))
    return messages


def forget_messages(session: Session) -> None:
    """Drop what ``enqueue`` noted in a transaction that did not commit."""
    session.info.pop(NEW_MESSAGES, None)


def pending_outbox(session: Session, limit: int = 200) -> list[Message]:
    """Messages still to publish, oldest first (locked, on PostgreSQL, so that two replicas'
    dispatchers do not both take them)."""
    stmt = (
        select(DispatchOutbox.id, Attempt.id, Attempt.submission_id, Attempt.step, DispatchOutbox.queue)
        .join(Attempt, Attempt.id == DispatchOutbox.attempt_id)
        .where(DispatchOutbox.published_at.is_(None))
        .order_by(DispatchOutbox.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=DispatchOutbox)
    return [Message(r[0], r[1], r[2], r[3].value, r[4]) for r in session.execute(stmt).all()]


def mark_published(session: Session, outbox_ids: list[int], only_pending: bool = False) -> None:
    """Stamp messages as published, in one UPDATE. ``only_pending`` leaves alone rows another
    publisher stamped meanwhile (their count then counts one publish, not two)."""
    stmt = (
        update(DispatchOutbox)
        .where(DispatchOutbox.id.in_(outbox_ids))
        .values(published_at=utcnow(), publish_count=DispatchOutbox.publish_count + 1)
        .execution_options(synchronize_session=False)
    )
    if only_pending:
        stmt = stmt.where(DispatchOutbox.published_at.is_(None))
    session.execute(stmt)


def queue_depths(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(DispatchOutbox.queue, func.count(Attempt.id))
        .join(Attempt, Attempt.id == DispatchOutbox.attempt_id)
        .where(Attempt.state == AttemptState.queued)
        .group_by(DispatchOutbox.queue)
    ).all()
    return {q: n for q, n in rows}


