"""The service's half of the job protocol: attempts, claims under a lease, heartbeats, results.

A submission is worked on in steps (``predict`` when its task has an ingestion program, then
``score``); each step is tried by attempts. An attempt is queued (with an outbox row, so the
broker message survives a crash), claimed by exactly one worker through a conditional UPDATE,
kept alive by heartbeats that extend its lease, and finished once. A worker that stops
heartbeating loses the lease: the reaper expires the attempt and queues another (up to
``max_attempts``), so infrastructure failures are retried and never cost the participant quota.

What a claim answers is ``job_spec``; the expired leases are found by ``reaper``; the broker
messages go through ``outbox``; the messages themselves are ``podium.worker.protocol``'s.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import (
    Row,
    Select,
    and_,
    bindparam,
    exists,
    func,
    inspect,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ...worker.protocol import (
    LIVE_LOG_CHARS,
    OLDEST_PROTOCOL,
    PROTOCOL_VERSION,
    AttemptReport,
    JobSpec,
    mismatch_message,
)
from ...worker.redaction import without_urls
from ..clock import utcnow
from ..errors import Conflict, NotFound, ValidationFailed, WorkerProtocolRefused
from ..orm import (
    TERMINAL_STATUSES,
    Artifact,
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
    Score,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    Worker,
)
from ..storage.base import Storage
from ..submissions import lifecycle as subs
from ..submissions import listing_cache, task_scores
from . import outbox as outbox_messages
from .job_spec import (
    ATTEMPTS,
    JOB_READS,
    OUTPUT_FILES,
    SUBMISSIONS,
    JobReads,
    claim_context,
    job_reads_from,
    job_reads_params,
    job_spec,
    output_key,
    phase_tasks,
    task_of,
)
from .limits import Limits
from .queues import DEFAULT_QUEUE, touch_worker

S = SubmissionStatus
WORKERS = Worker.__table__
#: a claim's UPDATEs (``_take``), built once; the columns they SET are the parameters' other keys.
#: Core statements on the tables: the ORM's bulk UPDATE path (the mapped class, even with
#: synchronize_session off) cost a claim more Python than its round trip
_TOUCH_WORKER = (update(WORKERS).where(WORKERS.c.queue_id == bindparam("w_queue"), WORKERS.c.name == bindparam("w_name"))
                 .returning(WORKERS.c.id))
_HOLD = update(ATTEMPTS).where(
    ATTEMPTS.c.id == bindparam("a_id"),
    or_(ATTEMPTS.c.state == AttemptState.queued,
        and_(ATTEMPTS.c.state == AttemptState.running, ATTEMPTS.c.lease_expires_at < bindparam("a_now"))),
)
#: the number of a submission's last attempt at a step (``enqueue``), built once
_LAST_NUMBER = select(func.max(ATTEMPTS.c.number)).where(ATTEMPTS.c.submission_id == bindparam("submission_id"),
                                                        ATTEMPTS.c.step == bindparam("step"))
_MOVE_ON = update(SUBMISSIONS).where(SUBMISSIONS.c.id == bindparam("s_id"), SUBMISSIONS.c.status == bindparam("s_status"))
#: PostgreSQL: the claim's three writes and its reads as one statement (``_writes_in_one``), by
#: the worker's and the submission's columns they SET
_WRITES_IN_ONE: dict[tuple[tuple[str, ...], tuple[str, ...]], Select] = {}
#: the number of ``JOB_READS``' columns, which come first in each row of ``_writes_in_one``
_READ_COLUMNS = len(JOB_READS.selected_columns)


def _writes_in_one(seen: tuple[str, ...], moved: tuple[str, ...]) -> Select:
    """PostgreSQL: ``_TOUCH_WORKER``, ``_HOLD`` and ``_MOVE_ON`` in one round trip, as
    data-modifying CTEs each applied only when the one before it was (the attempt is held only
    by a worker that exists, the submission moved on only by the claim that holds it), with what
    the job spec reads (``JOB_READS``, tables the writes do not touch). Each row is one of the
    reads' rows (all None when there is none) followed by the worker's, the attempt's and the
    submission's ids, None for a write not done. ``seen`` and ``moved`` name the columns SET on
    the worker and the submission (their parameters are ``w_<column>`` and ``s_new_<column>``);
    none moved, no submission written. Built once per pair of column lists."""
    statement = _WRITES_IN_ONE.get((seen, moved))
    if statement is not None:
        return statement
    touched = _TOUCH_WORKER.values({c: bindparam(f"w_{c}") for c in seen}).cte("touched")
    held = (_HOLD.where(exists(touched.select()))
            .values(state=bindparam("a_state"), worker_id=select(touched.c.id).scalar_subquery(),
                    started_at=bindparam("a_started_at"), lease_expires_at=bindparam("a_lease_expires_at"))
            .returning(ATTEMPTS.c.id).cte("held"))
    submission = null()
    if moved:
        submission = select(_MOVE_ON.where(exists(held.select()))
                            .values({c: bindparam(f"s_new_{c}") for c in moved})
                            .returning(SUBMISSIONS.c.id).cte("moved").c.id).scalar_subquery()
    written = select(select(touched.c.id).scalar_subquery().label("worker_id"),
                     select(held.c.id).scalar_subquery().label("attempt_id"),
                     submission.label("submission_id")).subquery("written")
    reads = JOB_READS.subquery("reads")
    statement = select(reads, written).select_from(written.outerjoin(reads, true()))
    return _WRITES_IN_ONE.setdefault((seen, moved), statement)


#: the role an uploaded output plays among the submission's files
OUTPUT_ROLES = {
    (AttemptStep.predict, "output"): "prediction_output",
    (AttemptStep.predict, "log"): "prediction_log",
    (AttemptStep.score, "output"): "scoring_output",
    (AttemptStep.score, "log"): "scoring_log",
    (AttemptStep.score, "detailed_results"): "detailed_results",
    (AttemptStep.score, "notebook"): "executed_notebook",
}


def storable(text: str) -> str:
    """Text a worker sent, as the database can store it: NUL characters (PostgreSQL refuses them,
    and they come from participant output) become U+FFFD."""
    return text.replace("\x00", "\ufffd")


def queue_name(submission: Submission) -> str:
    """The compute queue a submission's attempts go to: its competition's, else the default."""
    queue = submission.phase.competition.queue
    return queue.name if queue is not None else DEFAULT_QUEUE


def serves(queue: ComputeQueue, competition_queue_id: int | None) -> bool:
    """Whether ``queue`` is where a competition's attempts go (``queue_name``, from the
    competition's ``queue_id``): its own queue, else the default."""
    return queue.id == competition_queue_id if competition_queue_id is not None else queue.name == DEFAULT_QUEUE


def first_step(session: Session, submission: Submission) -> AttemptStep:
    """Prediction first when an ingestion program runs the code on its own; straight to scoring
    for result submissions and when ingestion runs during scoring."""
    task = task_of(session, submission)
    if task is None or not task.ingestion_program_id or task.ingestion_only_during_scoring:
        return AttemptStep.score
    return AttemptStep.predict


def enqueue(session: Session, submission: Submission, step: AttemptStep) -> Attempt:
    """A new attempt at ``step`` and its outbox row, in the caller's transaction."""
    number = (session.scalar(_LAST_NUMBER, {"submission_id": submission.id, "step": step}) or 0) + 1
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
    session.info.setdefault(outbox_messages.NEW_MESSAGES, []).append(
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
                team_id=submission.team_id,
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


def _held_attempt_statement(for_finish: bool) -> Select:
    """One query for the attempt, who holds it and the chain its queue is read through
    (heartbeat and finish are the dispatch path: five lazy loads here were a third of their
    queries); a finish also loads what recording results reads (the files its outputs join, the
    leaderboard columns scores are checked against). Built once (``_HELD``): its loader options
    cost more Python to build than the query takes. A claim reads columns instead (``claim_context``)."""
    submission = joinedload(Attempt.submission)
    phase = submission.joinedload(Submission.phase)
    options = [phase.joinedload(Phase.competition).joinedload(Competition.queue), joinedload(Attempt.worker)]
    if for_finish:
        options += [phase.joinedload(Phase.leaderboard).joinedload(Leaderboard.columns),
                    submission.joinedload(Submission.files)]
    return select(Attempt).where(Attempt.id == bindparam("attempt_id")).options(*options)


#: the held attempt's query, for a heartbeat (False) and for a finish (True)
_HELD = {for_finish: _held_attempt_statement(for_finish) for for_finish in (False, True)}


def _attempt_in_queue(session: Session, queue: ComputeQueue, attempt_id: int, for_finish: bool = False) -> Attempt:
    attempt = session.scalars(_HELD[for_finish], {"attempt_id": attempt_id}).unique().first()
    if attempt is None or not serves(queue, attempt.submission.phase.competition.queue_id):
        raise NotFound(f"No attempt {attempt_id} in queue '{queue.name}'.")
    return attempt


def check_protocol(worker_version: int) -> None:
    """Refuse a worker whose job protocol this service does not serve, saying which side to upgrade."""
    problem = mismatch_message(worker_version, OLDEST_PROTOCOL, PROTOCOL_VERSION)
    if problem is not None:
        raise WorkerProtocolRefused(problem, worker_protocol=worker_version, oldest_protocol=OLDEST_PROTOCOL,
                                    protocol=PROTOCOL_VERSION)


def claim(session: Session, storage: Storage, queue: ComputeQueue, attempt_id: int, worker_name: str,
          hostname: str, limits: Limits, worker_protocol: int = PROTOCOL_VERSION, version: str = "") -> JobSpec:
    """Take an attempt (a conditional UPDATE that one worker wins; an expired lease may be taken
    over) and answer its job spec. A worker speaking another job protocol is refused first, and
    the attempt stays queued."""
    check_protocol(worker_protocol)
    context = claim_context(session, attempt_id)
    if context is None or not serves(queue, context.queue_id):
        raise NotFound(f"No attempt {attempt_id} in queue '{queue.name}'.")
    reads = _take(session, queue, context, worker_name, hostname, limits, claimed_by(worker_protocol, version))
    # an attempt still queued never had a holder, so none of its output slots exists yet
    return job_spec(session, storage, context, limits, outputs_may_exist=context.state != AttemptState.queued,
                    reads=reads)


def claimed_by(worker_protocol: int, version: str) -> dict:
    """What a claim tells of its worker: the protocol and version it runs, and that it can work."""
    return {"protocol": worker_protocol, "cannot_work": None, **({"version": version} if version else {})}


def _take(session: Session, queue: ComputeQueue, claim: Row, worker_name: str, hostname: str,
          limits: Limits, facts: dict | None = None) -> JobReads | None:
    """Hold the attempt of ``claim`` (``claim_context``'s row) for the worker and move its
    submission on, with Core statements on the tables, no object loaded: on PostgreSQL in one
    statement (``_writes_in_one``) that also reads what the job spec needs (returned), elsewhere
    in three (None returned: the job spec reads it)."""
    now = utcnow()
    # a known worker is touched by an UPDATE (no read, no flush); a new one is created
    seen = {"last_seen": now, **({"hostname": hostname} if hostname else {}), **(facts or {})}
    hold = {"state": AttemptState.running, "started_at": now,
            "lease_expires_at": now + timedelta(seconds=limits.lease_seconds)}
    take = _take_in_one if session.connection().dialect.name == "postgresql" else _take_step_by_step
    status, reads = take(session, queue, claim, worker_name, hostname, facts or {}, seen, hold)
    if status in TERMINAL_STATUSES:
        session.connection().execute(update(ATTEMPTS).where(ATTEMPTS.c.id == claim.id)
                                     .values(state=AttemptState.cancelled, finished_at=now))
        raise Conflict(f"Submission {claim.submission_id} is already {status.value}.")
    if claim.parent_id is not None:
        propagate_to_parent(session, session.get(Submission, claim.submission_id))
    return reads


def _take_step_by_step(session: Session, queue: ComputeQueue, claim: Row, worker_name: str, hostname: str,
                       facts: dict, seen: dict, hold: dict) -> tuple[SubmissionStatus, None]:
    """Touch (or create) the worker, hold the attempt, move the submission on: a statement each.
    Returns the submission's status now (and no reads: the job spec makes them)."""
    db = session.connection()
    worker_id = db.execute(_TOUCH_WORKER, {"w_queue": queue.id, "w_name": worker_name, **seen}).scalar()
    if worker_id is None:
        worker_id = touch_worker(session, queue, worker_name, hostname, **facts).id
    if not db.execute(_HOLD, {"a_id": claim.id, "a_now": hold["started_at"], "worker_id": worker_id, **hold}).rowcount:
        _refuse_held(session, claim)
    return _move_on(session, claim), None


def _take_in_one(session: Session, queue: ComputeQueue, claim: Row, worker_name: str, hostname: str,
                 facts: dict, seen: dict, hold: dict) -> tuple[SubmissionStatus, JobReads]:
    """``_take_step_by_step`` in one statement (PostgreSQL), for a worker that exists; a worker's
    first claim creates it, then runs the statement again. Returns the submission's status now
    and what the job spec reads."""
    db = session.connection()
    new = _next_status(claim.step, claim.status)
    moved = subs.transition_values(claim.submission_id, claim.status, claim.started_at, new) if new else {}
    statement = _writes_in_one(tuple(seen), tuple(moved))
    params = {"w_queue": queue.id, "w_name": worker_name, "a_id": claim.id, "a_now": hold["started_at"],
              "s_id": claim.submission_id, "s_status": claim.status,
              **{f"w_{c}": v for c, v in seen.items()}, **{f"a_{c}": v for c, v in hold.items()},
              **{f"s_new_{c}": v for c, v in moved.items()}, **job_reads_params(claim)}
    rows = db.execute(statement, params).all()
    if rows[0].worker_id is None:  # no worker of that name in the queue yet
        touch_worker(session, queue, worker_name, hostname, **facts)
        rows = db.execute(statement, params).all()
    if rows[0].attempt_id is None:
        _refuse_held(session, claim)
    reads = job_reads_from(row[:_READ_COLUMNS] for row in rows if row.id is not None)
    if new is None:
        return claim.status, reads
    if rows[0].submission_id is not None:
        listing_cache.note_written(session, claim.owner, claim.team_id)
        return new, reads
    return _move_on(session, claim, read_again=True), reads  # its status changed since the claim read it


def _refuse_held(session: Session, claim: Row) -> NoReturn:
    state = session.connection().scalar(select(ATTEMPTS.c.state).where(ATTEMPTS.c.id == claim.id))
    raise Conflict(f"Attempt {claim.id} is {state.value} and held elsewhere or finished.")


def _next_status(step: AttemptStep, status: SubmissionStatus) -> SubmissionStatus | None:
    """The status a submission in ``status`` moves to when an attempt at ``step`` is claimed
    (running for a prediction, scoring for scoring), None when it stays."""
    if step == AttemptStep.predict and status == S.submitted:
        return S.running
    if step == AttemptStep.score and status in (S.submitted, S.running):
        return S.scoring
    return None


def _move_on(session: Session, claim: Row, read_again: bool = False) -> SubmissionStatus:
    """Move the claimed attempt's submission to the status its step runs in (``_next_status``),
    from the status it has: the UPDATE names the status it expects, so a submission cancelled
    meanwhile is never moved on. ``read_again``: the claim's read of the status is known to be
    stale. Returns the status now."""
    db = session.connection()
    status, started_at = claim.status, claim.started_at
    for turn in range(2):  # a status that changed since the claim's read is read once more
        if read_again or turn:
            status, started_at = db.execute(select(SUBMISSIONS.c.status, SUBMISSIONS.c.started_at)
                                            .where(SUBMISSIONS.c.id == claim.submission_id)).one()
        new = _next_status(claim.step, status)
        if new is None:
            return status
        values = subs.transition_values(claim.submission_id, status, started_at, new)
        if db.execute(_MOVE_ON, {"s_id": claim.submission_id, "s_status": status, **values}).rowcount:
            listing_cache.note_written(session, claim.owner, claim.team_id)
            return new
    return db.execute(select(SUBMISSIONS.c.status).where(SUBMISSIONS.c.id == claim.submission_id)).scalar_one()


def _held(session: Session, queue: ComputeQueue, attempt_id: int, worker_name: str, for_finish: bool = False) -> Attempt:
    attempt = _attempt_in_queue(session, queue, attempt_id, for_finish=for_finish)
    if attempt.state != AttemptState.running or attempt.worker is None or attempt.worker.name != worker_name:
        raise Conflict(f"Attempt {attempt_id} is not held by worker '{worker_name}' (lease lost or finished).")
    return attempt


def heartbeat(session: Session, queue: ComputeQueue, attempt_id: int, worker_name: str, limits: Limits,
              log_tail: str | None = None) -> dict[str, Any]:
    """Renew a held attempt's lease; answers whether to cancel and when the lease now ends. The
    participant's live output (``log_tail``) is kept for a predict step only: a scoring step's
    output is the organizers' program's, never shown live."""
    attempt = _held(session, queue, attempt_id, worker_name)
    if log_tail is not None and attempt.step == AttemptStep.predict:
        attempt.live_log = storable(log_tail[-LIVE_LOG_CHARS:])
    now = utcnow()
    attempt.lease_expires_at = now + timedelta(seconds=limits.lease_seconds)
    attempt.worker.last_seen = now
    return {"cancel": attempt.submission.status == S.cancelled, "lease_expires_at": attempt.lease_expires_at}


# --- results ----------------------------------------------------------------------------------


def _attach_outputs(session: Session, storage: Storage, attempt: Attempt, names: list[str]) -> None:
    keys = {name: output_key(attempt.submission_id, attempt.id, name) for name in names
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
        if artifact.max_size is not None and info.size > artifact.max_size:
            storage.delete(key)  # a storage that cannot bind a PUT's size (Azure): the cap is checked here
            continue
        artifact.size, artifact.sha256, artifact.state = info.size, info.sha256, ArtifactState.ready
        attempt.submission.files.append(SubmissionFile(artifact=artifact, role=OUTPUT_ROLES[(attempt.step, name)]))


def finish(session: Session, storage: Storage, queue: ComputeQueue, attempt_id: int, worker_name: str,
           report: AttemptReport, limits: Limits) -> Attempt:
    """Record how an attempt ended and move the submission on (next step, scores, or failure).
    ``report`` has every field (``podium.worker.protocol.attempt_report`` fills the defaults)."""
    attempt = _held(session, queue, attempt_id, worker_name, for_finish=True)
    submission = attempt.submission
    now = utcnow()
    # the outputs' read first, so it flushes nothing and the attempt's row is written once
    _attach_outputs(session, storage, attempt, report["files"])
    attempt.finished_at, attempt.exit_code, attempt.elapsed = now, report["exit_code"], report["elapsed"]
    attempt.lease_expires_at = None
    # a scoring program's log may quote reference data or print private scores: never the
    # participant's log where the phase hides output or keeps a private board
    hides_scoring_log = submission.phase.hide_output or bool(submission.phase.private_scores)
    if report["log_tail"] and not (hides_scoring_log and attempt.step == AttemptStep.score):
        submission.log_tail = storable(report["log_tail"][-8000:])
    if submission.status in TERMINAL_STATUSES or report["state"] == "cancelled":
        attempt.state = AttemptState.cancelled
        return attempt
    if report["state"] == "succeeded":
        attempt.state = AttemptState.succeeded
        if attempt.step == AttemptStep.predict:
            enqueue(session, submission, AttemptStep.score)
        else:
            try:
                subs.finish(session, submission, report["scores"] or {}, report.get("intervals"))
            except ValidationFailed as e:
                problems = "; ".join(f"{p['location']}: {p['message']}" for p in e.extra.get("errors", []))
                subs.fail(submission, f"The scoring program's scores are not usable ({problems}).", FailureKind.participant)
        propagate_to_parent(session, submission)
        return attempt
    kind = FailureKind(report["failure_kind"] or "platform")
    reason = storable(without_urls(report["reason"])) if report["reason"] else None  # it may quote a link
    attempt.state, attempt.failure_kind, attempt.error = AttemptState.failed, kind, reason
    retry_platform(session, submission, attempt, kind, reason or "The worker failed.", report["retryable"], limits)
    propagate_to_parent(session, submission)
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


def propagate_to_parent(session: Session, child: Submission) -> None:
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
