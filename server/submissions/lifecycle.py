"""A submission's life on the service side: create (quota, idempotency), finalize, cancel, re-run.

Quotas are enforced inside one transaction per (phase, participant): the creating transaction
first takes a row lock on that pair's ``quota_locks`` row (an UPDATE, which locks the row on
PostgreSQL and takes SQLite's write lock), then counts and inserts. Any number of concurrent
requests, on any number of service replicas, therefore accept exactly the quota.

What counts toward a quota: every top-level submission of the participant in the phase, except
those failed through the platform's fault, those the participant cancelled before they ran, those
whose upload was refused (until an upload is accepted, which takes a slot again if one is left) or
abandoned, and, when the phase says so (``count_failed_submissions`` false), those failed through
their own fault.

A team shares one quota: its members' submissions for it (``team_id``) are counted together,
under one lock named for the team (``teams.competitors``), so members submitting at once from
anywhere accept exactly the team's quota. A participant alone counts only what they made alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from .. import artifacts
from ..auth.permissions import CompetitionRoles
from ..classroom import deadlines
from ..clock import next_utc_midnight, start_of_utc_day, utcnow
from ..errors import (
    InvalidTransition,
    PermissionDenied,
    QuotaExceeded,
    SubmissionTooLarge,
    UploadMismatch,
    ValidationFailed,
)
from ..orm import (
    TERMINAL_STATUSES,
    ArtifactKind,
    FailureKind,
    Phase,
    QuotaLock,
    Submission,
    SubmissionFile,
    SubmissionStatus,
)
from ..request_bodies import SubmissionIn
from ..storage.base import Storage
from ..teams.competitors import Competitor, competitor, quota_lock_name
from . import fact_sheets as facts

S = SubmissionStatus
ALLOWED = {
    S.submitting: {S.submitted, S.cancelled, S.failed},
    S.submitted: {S.running, S.scoring, S.cancelled, S.failed},
    S.running: {S.scoring, S.finished, S.cancelled, S.failed},
    S.scoring: {S.finished, S.cancelled, S.failed},
}


def transition_values(submission_id: int, status: SubmissionStatus, started_at: datetime | None,
                      new: SubmissionStatus) -> dict[str, Any]:
    """The columns a move from ``status`` to ``new`` writes, along the one-way state machine
    (terminal states never change): for ``transition``, and for a Core UPDATE of the row."""
    if new not in ALLOWED.get(status, set()):
        raise InvalidTransition(f"Submission {submission_id} is {status.value}; it cannot become {new.value}.")
    values: dict[str, Any] = {"status": new}
    now = utcnow()
    if new == S.submitted:
        values["submitted_at"] = now
    elif new in (S.running, S.scoring) and started_at is None:
        # a submission whose first step is scoring (results, no ingestion) starts when it scores
        values["started_at"] = now
    elif new in TERMINAL_STATUSES:
        values["finished_at"] = now
    return values


def transition(submission: Submission, new: SubmissionStatus) -> None:
    """Move along the one-way state machine; terminal states never change."""
    for column, value in transition_values(submission.id, submission.status, submission.started_at, new).items():
        setattr(submission, column, value)


@dataclass(frozen=True)
class Quota:
    """A participant's standing against a phase's limits (``None``: no limit)."""

    used_today: int
    used_total: int
    per_day: int | None
    total: int | None
    resets_at: datetime

    @property
    def remaining_today(self) -> int | None:
        return None if self.per_day is None else max(0, self.per_day - self.used_today)

    @property
    def remaining_total(self) -> int | None:
        return None if self.total is None else max(0, self.total - self.used_total)

    @property
    def remaining(self) -> int | None:
        values = [v for v in (self.remaining_today, self.remaining_total) if v is not None]
        return min(values) if values else None

    def as_json(self) -> dict:
        from ..clock import isoformat

        return {
            "used_today": self.used_today,
            "used_total": self.used_total,
            "max_per_day": self.per_day,
            "max_total": self.total,
            "remaining_today": self.remaining_today,
            "remaining_total": self.remaining_total,
            "remaining": self.remaining,
            "resets_at": isoformat(self.resets_at),
        }


def counted(phase_id: int, owner: str, team_id: int | None = None):
    """The WHERE clause of submissions that use quota: the team's, or those made alone."""
    who = Submission.team_id == team_id if team_id is not None else (
        (Submission.owner == owner) & Submission.team_id.is_(None))
    return (
        Submission.phase_id == phase_id,
        who,
        Submission.parent_id.is_(None),
        Submission.counts_toward_quota.is_(True),
    )


_STANDING = "podium.quota_after_create"


def quota(session: Session, phase: Phase, owner: str, now: datetime | None = None,
          team_id: int | None = None) -> Quota:
    """``owner``'s standing alone, or their team's (``team_id``)."""
    if now is None:
        # the standing ``create`` counted under the quota lock, plus the submission it added:
        # the answer to a create shows it without counting again (one request, one session)
        remembered = session.info.pop((_STANDING, phase.id, owner, team_id), None)
        now = utcnow()
        if remembered is not None and remembered.resets_at == next_utc_midnight(now):
            return remembered
    used_total, used_today = session.execute(
        select(
            func.count(Submission.id),
            func.count(Submission.id).filter(Submission.created_at >= start_of_utc_day(now)),
        ).where(*counted(phase.id, owner, team_id))
    ).one()
    return Quota(
        used_today=used_today or 0,
        used_total=used_total or 0,
        per_day=phase.max_submissions_per_day or None,
        total=phase.max_submissions or None,
        resets_at=next_utc_midnight(now),
    )


#: takes a (phase, owner) quota lock (``_lock_quota``), built once: it runs on every submit
_TAKE_QUOTA_LOCK = (update(QuotaLock.__table__)
                    .where(QuotaLock.phase_id == bindparam("lock_phase"), QuotaLock.owner == bindparam("lock_owner"))
                    .values(version=QuotaLock.version + 1))


def _lock_quota(session: Session, phase_id: int, owner: str) -> None:
    """Serialize this (phase, owner) pair's creators until the transaction ends."""
    params = {"lock_phase": phase_id, "lock_owner": owner}
    if session.execute(_TAKE_QUOTA_LOCK, params).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(QuotaLock(phase_id=phase_id, owner=owner, version=1))
    except IntegrityError:
        session.execute(_TAKE_QUOTA_LOCK, params)  # someone created it meanwhile; wait for their lock


def _by_idempotency_key(session: Session, phase: Phase, owner: str, key: str | None) -> Submission | None:
    if not key:
        return None
    return session.scalar(
        select(Submission).where(
            Submission.phase_id == phase.id, Submission.owner == owner, Submission.idempotency_key == key
        )
    )


def create(
    session: Session,
    roles: CompetitionRoles,
    phase: Phase,
    body: SubmissionIn,
    idempotency_key: str | None,
) -> tuple[Submission, bool]:
    """Create a submission awaiting its upload. Returns (submission, created); the same
    Idempotency-Key returns the original submission with ``created`` false."""
    _check_may_submit(roles, body, idempotency_key)
    owner = roles.identity.name
    who = competitor(session, phase.competition_id, roles.identity)
    _begin_locked(session, phase.id, who.lock_name)
    # From here on the pair is locked until commit: replay or validate, count, then insert.
    existing = _by_idempotency_key(session, phase, owner, idempotency_key)
    if existing is not None:
        return existing, False
    now = utcnow()
    late_seconds = _check_phase_accepts(session, phase, roles, body, now, who)
    task_id = _task_id(phase, body.task)
    answers = facts.validate_answers(phase.competition.fact_sheet or {}, body.fact_sheet)
    standing = quota(session, phase, owner, now, who.team_id)
    if not body.dry_run:
        _check_quota_left(phase, standing)
    submission = _insert(session, roles, phase, body, idempotency_key, task_id, answers, now, who)
    if late_seconds is not None:
        submission.late_seconds = late_seconds
        submission.late_penalty = deadlines.penalty_for(phase, late_seconds)
    added = 0 if body.dry_run else 1
    session.info[(_STANDING, phase.id, owner, who.team_id)] = replace(
        standing, used_today=standing.used_today + added, used_total=standing.used_total + added
    )
    return submission, True


def _check_may_submit(roles: CompetitionRoles, body: SubmissionIn, idempotency_key: str | None) -> None:
    """Who may submit (participants; dry runs: organizers) and with what Idempotency-Key."""
    roles.require_participant()
    if body.dry_run and not roles.manages:
        raise PermissionDenied("Only the organizers of a competition may make dry runs.")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 128):
        raise ValidationFailed("The Idempotency-Key header must be 1 to 128 characters.")


def _begin_locked(session: Session, phase_id: int, owner: str) -> None:
    """Take the (phase, owner) quota lock at the start of the creating transaction."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite cannot turn a transaction that read into one that writes while another writer
        # committed meanwhile: start the locking one afresh. PostgreSQL (read committed) takes
        # the lock in the same transaction, saving a commit, a checkout ping and a BEGIN.
        session.commit()
    _lock_quota(session, phase_id, owner)


def _check_phase_accepts(session: Session, phase: Phase, roles: CompetitionRoles, body: SubmissionIn,
                         now: datetime, who: Competitor) -> int | None:
    """The phase is open to this participant (their own or their team's deadline, the later, and the
    grace period; organizers may submit any time) and takes a submission of this size. Returns how
    late it is (None: on time)."""
    late_seconds = None
    if not roles.manages:
        late_seconds = deadlines.check_accepts(session, phase, roles.identity.name, now, who.teams)
    if body.size > phase.max_submission_size:
        raise SubmissionTooLarge(
            f"The submission is {body.size} bytes; phase '{phase.name}' accepts at most "
            f"{phase.max_submission_size} bytes."
        )
    return late_seconds


def _task_id(phase: Phase, task_key: str | None) -> int | None:
    """The id of the phase's task a submission names (None when it names none)."""
    if task_key is None:
        return None
    task = next((t for t in phase.tasks if t.key == task_key), None)
    if task is None:
        raise ValidationFailed(
            f"task: phase '{phase.name}' has no task '{task_key}'",
            [{"location": "task", "message": f"no task '{task_key}' in this phase"}],
        )
    return task.id


def _check_quota_left(phase: Phase, standing: Quota) -> None:
    """Refuse a submission past the phase's total or daily quota."""
    if standing.remaining_total == 0:
        raise QuotaExceeded(
            f"You have used all {standing.total} submissions of phase '{phase.name}'.", None
        )
    if standing.remaining_today == 0:
        raise QuotaExceeded(
            f"You have used today's {standing.per_day} submissions of phase '{phase.name}'; "
            f"more are allowed from {standing.resets_at.isoformat()}Z.",
            standing.resets_at,
        )


def _insert(
    session: Session,
    roles: CompetitionRoles,
    phase: Phase,
    body: SubmissionIn,
    idempotency_key: str | None,
    task_id: int | None,
    answers: dict,
    now: datetime,
    who: Competitor,
) -> Submission:
    """Add the submission and announce the object its zip is uploaded to."""
    submission = Submission(
        phase_id=phase.id,
        task_id=task_id,
        owner=roles.identity.name,
        team_id=who.team_id,
        status=S.submitting,
        description=body.description,
        is_public=body.is_public,
        size=body.size,
        sha256=body.sha256,
        idempotency_key=idempotency_key,
        created_at=now,
        fact_sheet_answers=answers,
        is_dry_run=body.dry_run,
        counts_toward_quota=not body.dry_run,
        # a new submission has no files or scores yet: say so, or the first read of each
        # (appending its upload below, the answer's scores) is a SELECT
        files=[],
        scores=[],
    )
    session.add(submission)
    session.flush()
    artifact = artifacts.announce(
        session,
        roles.identity,
        kind=ArtifactKind.submission,
        name=f"submission-{submission.id}.zip",
        size=body.size,
        sha256=body.sha256,
        competition=phase.competition,
        max_upload_size=phase.max_submission_size,
    )
    submission.files.append(SubmissionFile(artifact=artifact, role="submission"))
    session.flush()
    return submission


def upload_of(submission: Submission):
    """The submission's own uploaded object."""
    return next((f.artifact for f in submission.files if f.role == "submission"), None)


def finalize(session: Session, storage: Storage, submission: Submission) -> None:
    """Verify the upload and mark the submission submitted (idempotent)."""
    if submission.status != S.submitting:
        if submission.status == S.cancelled:
            raise InvalidTransition(f"Submission {submission.id} was cancelled.")
        return
    if "files" in inspect(submission).unloaded:
        # the files with their objects in one read, instead of two lazy loads
        files = session.scalars(
            select(SubmissionFile)
            .where(SubmissionFile.submission_id == submission.id)
            .options(joinedload(SubmissionFile.artifact))
            .order_by(SubmissionFile.id)
        ).all()
        set_committed_value(submission, "files", list(files))
    try:
        artifacts.verify_upload(storage, upload_of(submission))
    except UploadMismatch:
        # the caller commits this before answering: a refused upload holds no slot
        submission.counts_toward_quota = False
        raise
    if gave_slot_back(submission):
        _take_slot_again(session, submission)
    transition(submission, S.submitted)


def gave_slot_back(submission: Submission) -> bool:
    """A participant's submission whose refused upload released its quota slot."""
    return not submission.counts_toward_quota and not submission.is_dry_run and submission.parent_id is None


def _take_slot_again(session: Session, submission: Submission) -> None:
    """An upload accepted after a refused one counts again, if the quota still has room."""
    phase = submission.phase
    _begin_locked(session, phase.id, quota_lock_name(submission.owner, submission.team_id))
    _check_quota_left(phase, quota(session, phase, submission.owner, utcnow(), submission.team_id))
    submission.counts_toward_quota = True


def cancel(submission: Submission, by_owner: bool) -> None:
    """Stop a queued or running submission. Cancelled before it ran, it gives the quota back."""
    if submission.status in TERMINAL_STATUSES:
        raise InvalidTransition(
            f"Submission {submission.id} is already {submission.status.value}."
        )
    if submission.status in (S.submitting, S.submitted):
        submission.counts_toward_quota = False
    transition(submission, S.cancelled)
    submission.failure_reason = "Cancelled by the participant." if by_owner else "Cancelled by an organizer."


def fail(submission: Submission, reason: str, kind: FailureKind) -> None:
    """Fail with a reason the participant may read; platform failures never cost quota."""
    transition(submission, S.failed)
    submission.failure_reason = reason
    submission.failure_kind = kind
    if kind == FailureKind.platform or not submission.phase.count_failed_submissions:
        submission.counts_toward_quota = False


def rerun(session: Session, original: Submission, by: str) -> Submission:
    """An organizer's re-run: a new submission of the same files that costs no quota."""
    upload = upload_of(original)
    if upload is None or original.status == S.submitting:
        raise InvalidTransition(f"Submission {original.id} was never uploaded; it cannot be re-run.")
    copy = Submission(
        phase_id=original.phase_id,
        task_id=original.task_id,
        owner=original.owner,
        team_id=original.team_id,
        status=S.submitted,
        description=f"Re-run of submission {original.id} by {by}",
        size=original.size,
        sha256=original.sha256,
        counts_toward_quota=False,
        is_dry_run=original.is_dry_run,
        submitted_at=utcnow(),
    )
    copy.files.append(SubmissionFile(artifact=upload, role="submission"))
    session.add(copy)
    session.flush()
    return copy


def set_selected(session: Session, submission: Submission, selected: bool) -> None:
    """Choose (or unchoose) a finished submission for the leaderboard (``classroom.selection``
    adds the final selection's limit and lock)."""
    if submission.status != S.finished:
        raise InvalidTransition("Only a finished submission can be chosen for the leaderboard.")
    submission.selected = selected


def finish(session: Session, submission: Submission, scores: dict[str, float],
           intervals: Mapping[str, Any] | None = None) -> None:
    """Record the scores of a scored submission (with their confidence intervals, when the
    scoring program wrote per-example scores), mark it finished and re-rank its phase."""
    from ..leaderboards import store as leaderboard_store
    from ..teams.competitors import submission_key

    leaderboard_store.record_scores(session, submission, scores, intervals)
    if submission.status in (S.submitted, S.running):
        transition(submission, S.scoring)
    transition(submission, S.finished)
    session.flush()
    if submission.parent_id is None:
        leaderboard_store.rebuild(session, submission.phase, owner=submission_key(session, submission),
                                  finished=submission.id)
