"""Compute queues (admins) and the job protocol (workers, with their queue's token)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import or_, select

from ...worker import protocol
from ..clock import isoformat
from ..compute import attempts as jobs
from ..compute import queues as queues
from ..compute.dispatch import celery_queue
from ..compute.outbox import queue_depths
from ..errors import Conflict, NotFound
from ..orm import (
    Attempt,
    AttemptState,
    Competition,
    ComputeQueue,
    Phase,
    Submission,
    SubmissionStatus,
)
from ..request_bodies import Body
from .base import APIHandler, api
from .input_limits import path_id

ADMINS_ONLY = "Only hub admins manage compute queues."


async def off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """RabbitMQ's management API is called with blocking HTTP: off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class QueueIn(Body):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def queue_model(session, queue: ComputeQueue) -> dict:
    depth = queue_depths(session).get(queue.name, 0)
    running = session.scalars(
        select(Attempt).where(Attempt.state == AttemptState.running, Attempt.worker_id.in_([w.id for w in queue.workers] or [0]))
    ).all()
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
        "name": queue.name,
        "owner": queue.owner,
        "celery_queue": celery_queue(queue.name),
        "depth": depth,
        "workers": [
            {
                "name": w.name,
                "hostname": w.hostname,
                "last_seen": isoformat(w.last_seen),
                "running": [a.id for a in running if a.worker_id == w.id],
            }
            for w in queue.workers
        ],
        "recent_failures": [
            {"submission": s.id, "reason": s.failure_reason, "at": isoformat(s.finished_at)}
            for s in failures
        ],
    }


class QueueListHandler(APIHandler):
    @api("List compute queues with their workers, depth and recent failures (admins).", requires="admin", refusal=ADMINS_ONLY)
    async def get(self) -> None:
        rows = self.db.scalars(select(ComputeQueue).order_by(ComputeQueue.id)).all()
        self.write_json({"queues": [queue_model(self.db, q) for q in rows]})

    @api("Create a compute queue, with its own broker vhost and user when queues are isolated; the answer "
         "carries its worker token, shown once (admins).",
         requires="admin", refusal=ADMINS_ONLY, body=QueueIn, status=201,
         responses={502: "RabbitMQ's management API refused or did not answer; no queue was made."})
    async def post(self) -> None:
        queue, token = queues.create_queue(self.db, self.body.name, self.user.name)
        await off_loop(queues.give_broker_account, queue, self.podium.brokers)
        self.db.commit()
        self.write_json({**queue_model(self.db, queue), "token": token}, 201)


class QueueHandler(APIHandler):
    @api("Delete a compute queue no competition uses, with its broker virtual host and user (admins).",
         requires="admin", refusal=ADMINS_ONLY, status=204,
         responses={409: "The default queue, or a queue competitions use (listed).",
                    502: "RabbitMQ's management API refused or did not answer."})
    async def delete(self, queue: str) -> None:
        obj = queues.find_queue(self.db, queue)
        await off_loop(queues.delete_queue, self.db, obj, self.podium.brokers)
        self.db.commit()
        self.podium.dispatcher.forget(obj.name)
        self.set_status(204)
        self.finish()


class QueueTokenHandler(APIHandler):
    @api("Replace a queue's worker token and broker password (admins); workers with the old ones are refused "
         "by the service and by the broker.", requires="admin", refusal=ADMINS_ONLY,
         responses={502: "RabbitMQ's management API refused or did not answer; nothing changed."})
    async def post(self, queue: str) -> None:
        obj = queues.find_queue(self.db, queue)
        token = queues.rotate_token(obj)
        await off_loop(queues.rekey_broker_account, obj, self.podium.brokers)
        self.db.commit()
        self.write_json({"name": obj.name, "token": token})


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
    @api("Claim an attempt (queue token): one holder at a time; answers the job with signed URLs.",
         body=protocol.ClaimRequest, requires="queue token",
         responses={409: "Held by another worker, finished or cancelled.",
                    426: "The worker speaks a job protocol this service does not serve: upgrade one side."})
    async def post(self, attempt: str) -> None:
        queue = self.worker_queue()
        body: protocol.ClaimRequest = self.body
        spec = jobs.claim(self.db, self.podium.storage, queue, self.attempt_id(attempt), body["worker"], body.get("hostname", ""),
                          self.podium.job_limits, body.get("protocol", protocol.UNVERSIONED))
        self.db.commit()
        self.write_json(spec)

    def _handle_request_exception(self, e: BaseException) -> None:
        # a refused claim may still have changed state (e.g. an attempt of a cancelled submission)
        if self._session is not None and isinstance(e, Conflict):
            self._session.commit()
        super()._handle_request_exception(e)


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
    ("/queues/{queue}/token", QueueTokenHandler),
    ("/worker/config", WorkerConfigHandler),
    ("/worker/attempts/{attempt}/claim", ClaimHandler),
    ("/worker/attempts/{attempt}/heartbeat", HeartbeatHandler),
    ("/worker/attempts/{attempt}/finish", FinishHandler),
]
