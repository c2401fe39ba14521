"""Who may see, use and manage a compute queue, as CodaLab lets organizers bring and share their
own workers.

A queue has an owner (who created it). Its owner and hub admins manage it (re-key, share,
delete); its owner, the hub users and hub groups it is shared with, and hub admins may use it,
that is see it and send a competition's submissions to it. A queue without an owner (the
platform's default queue, or one made with ``podium queue create``) is the platform's: every
organizer may use it, hub admins manage it.

Who may create queues: anyone who may create competitions, and members of the hub group
``queue_organizer_group`` (for sites where running workers is granted apart from organizing).
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..auth.identity import Identity
from ..errors import Conflict, NotFound, PermissionDenied, QueueInUse, QueueNotShared
from ..orm import Competition, ComputeQueue, QueueShare, QueueShareKind
from .queues import DEFAULT_QUEUE, find_queue


def may_create_queues(identity: Identity, creator_group: str, queue_organizer_group: str) -> bool:
    """Admins, whoever may create competitions, and members of the queue organizers' group."""
    return (identity.admin or not creator_group or creator_group in identity.groups
            or bool(queue_organizer_group and queue_organizer_group in identity.groups))


def manages(identity: Identity, queue: ComputeQueue) -> bool:
    """The owner and hub admins manage a queue; a queue without an owner is the admins' alone."""
    return identity.admin or (queue.owner is not None and queue.owner == identity.name)


def may_use(identity: Identity, queue: ComputeQueue) -> bool:
    """Whether ``identity`` may see ``queue`` and send a competition's submissions to it."""
    if queue.owner is None or manages(identity, queue):
        return True
    for share in queue.shares:
        if share.kind == QueueShareKind.user and share.name == identity.name:
            return True
        if share.kind == QueueShareKind.group and share.name in identity.groups:
            return True
    return False


def usable_queues(session: Session, identity: Identity) -> list[ComputeQueue]:
    """The queues ``identity`` may use, oldest first: every queue for hub admins."""
    query = select(ComputeQueue).order_by(ComputeQueue.id)
    if not identity.admin:
        shared = select(QueueShare.queue_id).where(or_(
            (QueueShare.kind == QueueShareKind.user) & (QueueShare.name == identity.name),
            (QueueShare.kind == QueueShareKind.group) & QueueShare.name.in_(sorted(identity.groups) or [""]),
        ))
        query = query.where(or_(ComputeQueue.owner.is_(None), ComputeQueue.owner == identity.name,
                                ComputeQueue.id.in_(shared)))
    return list(session.scalars(query))


def usable_queue(session: Session, identity: Identity, name: str) -> ComputeQueue:
    """The queue named ``name`` if ``identity`` may use it; 404 otherwise, so that the names of
    others' private queues are not learnt by guessing."""
    queue = find_queue(session, name)
    if not may_use(identity, queue):
        raise NotFound(f"No compute queue named '{name}'.")
    return queue


def managed_queue(session: Session, identity: Identity, name: str) -> ComputeQueue:
    """The queue named ``name`` if ``identity`` manages it (404 when it may not even use it)."""
    queue = usable_queue(session, identity, name)
    if not manages(identity, queue):
        raise PermissionDenied(f"Only the owner of the compute queue '{name}' ({queue.owner or 'the platform'}) "
                               "and hub admins may do this.")
    return queue


def check_queue_for_competition(identity: Identity, queue: ComputeQueue) -> None:
    """Refuse a competition's queue that its organizer ``identity`` may not use, naming it."""
    if not may_use(identity, queue):
        raise QueueNotShared(queue.name, queue.owner)


def share(session: Session, queue: ComputeQueue, kind: QueueShareKind, name: str) -> QueueShare:
    """Let a hub user or group use ``queue`` (sharing twice changes nothing)."""
    for existing in queue.shares:
        if existing.kind == kind and existing.name == name:
            return existing
    added = QueueShare(kind=kind, name=name)
    queue.shares.append(added)
    session.flush()
    return added


def unshare(session: Session, queue: ComputeQueue, kind: QueueShareKind, name: str) -> None:
    """Stop sharing ``queue`` with a hub user or group; competitions already on it keep it (their
    organizers cannot pick it again)."""
    for existing in list(queue.shares):
        if existing.kind == kind and existing.name == name:
            queue.shares.remove(existing)
            session.flush()
            return
    raise NotFound(f"The compute queue '{queue.name}' is not shared with the {kind.value} '{name}'.")


def competitions_on(session: Session, queue: ComputeQueue) -> list[str]:
    """Slugs of the competitions that send their submissions to ``queue`` (the default queue also
    serves every competition that names none)."""
    on_it = Competition.queue_id == queue.id
    if queue.name == DEFAULT_QUEUE:
        on_it = or_(on_it, Competition.queue_id.is_(None))
    return list(session.scalars(select(Competition.slug).where(on_it).order_by(Competition.slug)))


def delete_queue(session: Session, queue: ComputeQueue) -> None:
    """Remove a queue and its workers' records; refused while competitions use it, and for the
    default queue (which the service needs)."""
    if queue.name == DEFAULT_QUEUE:
        raise Conflict(f"The compute queue '{DEFAULT_QUEUE}' serves every competition that names no queue; "
                       "it cannot be deleted.")
    using = competitions_on(session, queue)
    if using:
        raise QueueInUse(queue.name, using)
    session.delete(queue)
    session.flush()
