"""Compute queues (their owners, whom they are shared with, admins) and the job protocol (workers, with their queue's token)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import or_, select

from ...worker import protocol
from ..clock import isoformat
from ..compute import attempts as jobs
from ..compute import queue_access
from ..compute import queues as queues
from ..compute.dispatch import celery_queue
from ..compute.outbox import queue_depths
from ..errors import Conflict, NotFound, ValidationFailed
from ..orm import (
    Attempt,
    AttemptState,
    Competition,
    ComputeQueue,
    Phase,
    QueueShareKind,
    Submission,
    SubmissionStatus,
)
from ..request_bodies import Body
from .base import APIHandler, api
from .input_limits import path_id

ADMINS_ONLY = "Only hub admins manage compute queues."


class QueueIn(Body):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def queue_model(session, queue: ComputeQueue, manager: bool = True) -> dict:
    """A queue as its users see it; its managers (owner, hub admins) also see whom it is shared
    with, the competitions on it and its recent failures (participants' reasons of competitions
    other users may not manage)."""
    depth = queue_depths(session).get(queue.name, 0)
    running = session.scalars(
        select(Attempt).where(Attempt.state == AttemptState.running, Attempt.worker_id.in_([w.id for w in queue.workers] or [0]))
    ).all()
    model = {
        "name": queue.name,
        "owner": queue.owner,
        "celery_queue": celery_queue(queue.name),
        "depth": depth,
        "workers": [
            {
                "name": w.name,
                "hostname": w.hostname,
                "last_seen": isoformat(w.last_seen),
                "version": w.version or None,
                "protocol": w.protocol,
                "cannot_work": w.cannot_work,
                "running": [a.id for a in running if a.worker_id == w.id],
            }
            for w in queue.workers
        ],
    }
    if not manager:
        return model
    # this queue's own five latest failed submissions (competitions without a queue use the
    # default), newest id first: the primary key walked backwards, where ordering by finished_at
    # would sort every failure of the platform's history
    on_this_queue = Competition.queue_id == queue.id
    if queue.name == queues.DEFAULT_QUEUE:
        on_this_queue = or_(on_this_queue, Competition.queue_id.is_(None))
    failures = session.scalars(
        select(Submission)
        .join(Phase, Phase.id == Submission.phase_id)
        .join(Competition, Competition.id == Phase.competition_id)
        .where(Submission.status == SubmissionStatus.failed, on_this_queue)
        .order_by(Submission.id.desc())
        .limit(5)
    ).all()
    return {
        **model,
        "shared_with": {
            "users": [s.name for s in queue.shares if s.kind == QueueShareKind.user],
            "groups": [s.name for s in queue.shares if s.kind == QueueShareKind.group],
        },
        "recent_failures": [
            {"submission": s.id, "reason": s.failure_reason, "at": isoformat(s.finished_at)}
            for s in failures
        ],
    }


class QueueListHandler(APIHandler):
    @api("List the compute queues the caller may use (hub admins: all), with their workers and depth.", requires="user")
    async def get(self) -> None:
        rows = queue_access.usable_queues(self.db, self.user)
        self.write_json({"queues": [queue_model(self.db, q, queue_access.manages(self.user, q)) for q in rows]})

    @api("Create a compute queue owned by the caller, with its own broker vhost and user when queues are "
         "isolated; the answer carries its worker token, shown once.", requires="create queues", body=QueueIn,
         status=201, responses={502: "RabbitMQ's management API refused or did not answer; no queue was made."})
    async def post(self) -> None:
        queue, token = queues.create_queue(self.db, self.body.name, self.user.name)
        queues.give_broker_account(queue, self.podium.brokers)  # off the loop: verbs run in the database pool
        self.db.commit()
        self.write_json({**queue_model(self.db, queue), "token": token}, 201)


class QueueHandler(APIHandler):
    @api("A compute queue with its workers and depth (its owner, whoever it is shared with, hub admins).",
         requires="use queue")
    async def get(self, queue: ComputeQueue) -> None:
        self.write_json(queue_model(self.db, queue, queue_access.manages(self.user, queue)))

    @api("Delete a compute queue with its broker virtual host and user (its owner or hub admins); refused "
         "while competitions use it, with their list.", requires="manage queue", status=204,
         responses={409: "Competitions use the queue: the answer lists them.",
                    502: "RabbitMQ's management API refused or did not answer."})
    async def delete(self, queue: ComputeQueue) -> None:
        queue_access.delete_queue(self.db, queue)
        queues.remove_broker_account(queue, self.podium.brokers)
        self.db.commit()
        self.podium.dispatcher.forget(queue.name)
        self.set_status(204)
        self.finish()


class QueueShareHandler(APIHandler):
    """``/queues/{queue}/shares/{kind}/{name}``: ``kind`` is ``users`` or ``groups``."""

    def share_kind(self, kind: str) -> QueueShareKind:
        if kind not in ("users", "groups"):
            raise NotFound(f"Queues are shared with 'users' or 'groups', not '{kind}'.")
        return QueueShareKind(kind[:-1])

    @staticmethod
    def hub_name(name: str) -> str:
        """A hub user or group name as the hub could have it: 1 to 255 characters, none a control one."""
        if not 0 < len(name) <= 255 or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise ValidationFailed("A hub user or group name has 1 to 255 characters and no control character.",
                                   [{"location": "name", "message": "not a hub user or group name"}])
        return name

    @api("Share a compute queue with a hub user or hub group (its owner or hub admins): they may then "
         "run their competitions on it.", requires="manage queue")
    async def put(self, queue: ComputeQueue, kind: str, name: str) -> None:
        queue_access.share(self.db, queue, self.share_kind(kind), self.hub_name(name))
        self.db.commit()
        self.write_json(queue_model(self.db, queue))

    @api("Stop sharing a compute queue with a hub user or hub group (its owner or hub admins); competitions "
         "already on it keep it.", requires="manage queue")
    async def delete(self, queue: ComputeQueue, kind: str, name: str) -> None:
        queue_access.unshare(self.db, queue, self.share_kind(kind), self.hub_name(name))
        self.db.commit()
        self.write_json(queue_model(self.db, queue))


class QueueTokenHandler(APIHandler):
    @api("Replace a queue's worker token and broker password (its owner or hub admins); workers with the old "
         "ones are refused by the service and by the broker.", requires="manage queue",
         responses={502: "RabbitMQ's management API refused or did not answer; nothing changed."})
    async def post(self, queue: ComputeQueue) -> None:
        token = queues.rotate_token(queue)
        queues.rekey_broker_account(queue, self.podium.brokers)
        self.db.commit()
        self.write_json({"name": queue.name, "token": token})


class WorkerHandler(APIHandler):
    """Workers authenticate with their queue's token, not a hub token (``requires="queue token"``)."""

    def attempt_id(self, ref: str) -> int:
        """The attempt a path names; 404 for anything but an id."""
        ident = path_id(ref)
        if ident is None:
            raise NotFound(f"No attempt {ref} in queue '{self.token_queue.name}'.")
        return ident

    def worker_queue(self) -> ComputeQueue:
        """The queue whose token the request carries, found by ``@api`` before the verb ran."""
        return self.token_queue


class WorkerConfigHandler(WorkerHandler):
    @api("What a worker of this queue needs: its broker queue and broker URL, with its queue's own broker "
         "credentials when queues are isolated (queue token).", requires="queue token")
    async def get(self) -> None:
        queue = self.worker_queue()
        podium = self.podium
        self.write_json(
            protocol.WorkerConfig(
                queue=queue.name,
                celery_queue=celery_queue(queue.name),
                broker_url=podium.brokers.worker_url(queue.name, queue.broker_password),
                broker_transport_options=podium.dispatcher.options,
                lease_seconds=podium.lease_seconds,
                protocol=protocol.PROTOCOL_VERSION,
                oldest_protocol=protocol.OLDEST_PROTOCOL,
            )
        )


class ClaimHandler(WorkerHandler):
    #: a refused claim may still have changed state (e.g. an attempt of a cancelled submission)
    commit_on = (Conflict,)

    @api("Claim an attempt (queue token): one holder at a time; answers the job with signed URLs.",
         body=protocol.ClaimRequest, requires="queue token",
         responses={409: "Held by another worker, finished or cancelled.",
                    426: "The worker speaks a job protocol this service does not serve: upgrade one side."})
    async def post(self, attempt: str) -> None:
        queue = self.worker_queue()
        body: protocol.ClaimRequest = self.body
        spec = jobs.claim(self.db, self.podium.storage, queue, self.attempt_id(attempt), body["worker"], body.get("hostname", ""),
                          self.podium.job_limits, body.get("protocol", protocol.UNVERSIONED), body.get("version", ""))
        self.db.commit()
        self.write_json(spec)


class WorkerStatusHandler(WorkerHandler):
    @api("A worker's own heartbeat (queue token): alive, its version, and why it takes no job, if so.",
         body=protocol.WorkerStatus, requires="queue token")
    async def post(self) -> None:
        queue = self.worker_queue()
        queues.record_worker_status(self.db, queue, self.body)
        self.db.commit()
        self.write_json(protocol.WorkerStatusAnswer(queue=queue.name))


class HeartbeatHandler(WorkerHandler):
    @api("Extend the lease of a held attempt (queue token); says whether to cancel.", body=protocol.HeartbeatRequest,
         requires="queue token")
    async def post(self, attempt: str) -> None:
        queue = self.worker_queue()
        answer = jobs.heartbeat(self.db, queue, self.attempt_id(attempt), self.body["worker"], self.podium.job_limits,
                                log_tail=self.body.get("log_tail"))
        self.db.commit()
        self.write_json(protocol.HeartbeatAnswer(cancel=answer["cancel"],
                                                 lease_expires_at=isoformat(answer["lease_expires_at"])))


class FinishHandler(WorkerHandler):
    @api("Report how a held attempt ended (queue token): outputs, scores or the failure.",
         body=protocol.FinishRequest, requires="queue token")
    async def post(self, attempt: str) -> None:
        queue = self.worker_queue()
        body: protocol.FinishRequest = self.body
        worker, fields = body["worker"], {k: v for k, v in body.items() if k != "worker"}
        report = protocol.attempt_report(**fields)  # type: ignore[arg-type]
        obj = jobs.finish(self.db, self.podium.storage, queue, self.attempt_id(attempt), worker, report, self.podium.job_limits)
        self.db.commit()
        self.write_json(protocol.FinishAnswer(attempt=obj.id, state=obj.state.value,
                                              submission_status=obj.submission.status.value))


default_handlers = [
    ("/queues", QueueListHandler),
    ("/queues/{queue}", QueueHandler),
    ("/queues/{queue}/shares/{kind}/{name}", QueueShareHandler),
    ("/queues/{queue}/token", QueueTokenHandler),
    ("/worker/config", WorkerConfigHandler),
    ("/worker/status", WorkerStatusHandler),
    ("/worker/attempts/{attempt}/claim", ClaimHandler),
    ("/worker/attempts/{attempt}/heartbeat", HeartbeatHandler),
    ("/worker/attempts/{attempt}/finish", FinishHandler),
]
