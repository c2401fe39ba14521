"""The reaper: nothing stays "running" or "submitting" forever. Attempts whose lease expired are
retried (or failed), attempts nobody claimed are published again (and failed only when no worker
served their queue for the whole give-up window: waiting behind busy workers is not failing), and
submissions whose upload never came are cancelled; none of it costs the participant quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..orm import (
    TERMINAL_STATUSES,
    Attempt,
    AttemptState,
    DispatchOutbox,
    FailureKind,
    Submission,
    SubmissionStatus,
)
from ..submissions import lifecycle as subs
from .attempts import propagate_to_parent, retry_platform
from .limits import Limits
from .waiting import queue_last_seen, served

S = SubmissionStatus


@dataclass
class ReapResult:
    """What one pass did: attempts expired, attempts published again, uploads abandoned."""

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
            propagate_to_parent(session, submission)
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
    last_seen: dict[str, datetime | None] = {}
    for row in stale:
        attempt = session.get(Attempt, row.attempt_id)
        if row.queue not in last_seen:
            last_seen[row.queue] = queue_last_seen(session, row.queue)
        if row.publish_count >= limits.max_attempts and not served(last_seen[row.queue], limits, now):
            attempt.state, attempt.finished_at = AttemptState.failed, now
            attempt.failure_kind = FailureKind.platform
            subs.fail(attempt.submission, "No compute worker took this submission; it does not count "
                      "against your quota. Ask the organizers to check their workers.", FailureKind.platform)
            propagate_to_parent(session, attempt.submission)
        else:
            row.published_at = None  # the dispatcher publishes it again; a duplicate claim is refused
            result.republished += 1
    abandoned = session.scalars(
        select(Submission).where(
            Submission.status == S.submitting,
            func.coalesce(Submission.upload_active_at, Submission.created_at)
            < now - timedelta(seconds=limits.abandoned_upload_timeout),
        ).limit(500)
    ).all()
    for submission in abandoned:
        subs.cancel(submission, by_owner=True)
        submission.failure_reason = "The upload never completed; this does not count against your quota."
        result.abandoned += 1
    # no leaderboard rebuild: an expired attempt is retried or failed, and neither a failed
    # submission nor the parent it fails is ranked
    return result
