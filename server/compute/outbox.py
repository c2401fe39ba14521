"""The transactional outbox: the broker messages attempts need, written in the attempt's own
transaction and handed to the dispatcher once it commits (or read back when a publish failed).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, inspect, or_, select, update
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..orm import Attempt, AttemptState, DispatchOutbox


class Message(NamedTuple):
    """A broker message of the outbox: the task's arguments and the queue it goes to."""

    outbox_id: int
    attempt_id: int
    submission_id: int
    step: str
    queue: str


#: where ``enqueue`` notes the messages of the transaction in progress (on ``Session.info``)
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


def pending_outbox(session: Session, limit: int = 200, written_before: datetime | None = None) -> list[Message]:
    """Messages still to publish, oldest first (locked, on PostgreSQL, so that two replicas'
    dispatchers do not both take them). With ``written_before``, a row never published is taken
    only once written before it: until then it is its writer's to publish (``Dispatcher``), and
    taking it too would send it twice, its writer being unaware. A row the reaper put back
    (published before) is taken at once."""
    stmt = (
        select(DispatchOutbox.id, Attempt.id, Attempt.submission_id, Attempt.step, DispatchOutbox.queue)
        .join(Attempt, Attempt.id == DispatchOutbox.attempt_id)
        .where(DispatchOutbox.published_at.is_(None))
        .order_by(DispatchOutbox.id)
        .limit(limit)
    )
    if written_before is not None:
        stmt = stmt.where(or_(DispatchOutbox.created_at < written_before, DispatchOutbox.publish_count > 0))
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


