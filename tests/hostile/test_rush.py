"""A deadline rush: submissions queued behind a busy, heartbeating worker wait as long as it lives,
see why they wait, and fail (at no quota cost) only once no worker served their queue for the
whole give-up window."""

from __future__ import annotations

import requests
import sqlalchemy as sa
from conftest import submit
from helpers.web_session import WebSession, create_queue, make, registered
from podium.server.clock import utcnow
from podium.server.orm import Attempt, AttemptState
from podium.worker.protocol import PROTOCOL_VERSION

ZIP = b"PK\x05\x06" + b"\x00" * 18


class RawWorker:
    """A worker of one queue speaking the job protocol over HTTP, one call at a time."""

    def __init__(self, service, token: str, name: str) -> None:
        self.api, self.name = service.api_url, name
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def claim(self, attempt: int) -> None:
        r = self.http.post(f"{self.api}/worker/attempts/{attempt}/claim",
                           json={"worker": self.name, "protocol": PROTOCOL_VERSION}, timeout=30)
        assert r.status_code == 200, r.text

    def heartbeat(self, attempt: int) -> None:
        r = self.http.post(f"{self.api}/worker/attempts/{attempt}/heartbeat", json={"worker": self.name}, timeout=30)
        assert r.status_code == 200, r.text


def queued_attempt(dbsession, submission_id: int) -> int:
    dbsession.expire_all()
    attempt = dbsession.scalar(sa.select(Attempt.id).where(Attempt.submission_id == submission_id,
                                                           Attempt.state == AttemptState.queued))
    assert attempt is not None
    return attempt


def test_a_rush_waits_behind_a_busy_worker_and_fails_only_once_nobody_serves(
        api, users, hub, service, clock, dbsession, monkeypatch) -> None:
    limits = service.app.job_limits
    monkeypatch.setattr(limits, "unclaimed_timeout", 20)  # a give-up window of 3 × 20 s
    queue = create_queue(api, users)
    organizer = users.make("rushorg", groups=("creators",))
    competition = make(api, organizer, queue)
    phase_id = competition["phases"][0]["id"]
    user = registered(api, users, competition, "rush")
    clock.set(utcnow())
    busy = submit(api, user, phase_id, ZIP)
    service.app.dispatcher.publish_pending()
    attempt = queued_attempt(dbsession, busy)
    worker = RawWorker(service, queue["token"], "busy-worker")
    worker.claim(attempt)  # the one worker is busy from now on, on a long job
    waiting = [submit(api, user, phase_id, ZIP) for _ in range(3)]
    service.app.dispatcher.publish_pending()

    def read(sid: int) -> dict:
        return api(user, "GET", f"/submissions/{sid}", expect=200).json()

    assert read(busy)["waiting"] is None
    assert [read(s)["waiting"] for s in waiting] == [f"waiting for a compute worker: {n} ahead" for n in range(3)]
    page = WebSession(hub, user.name)
    page.login()
    assert "waiting for a compute worker: 2 ahead" in page.get(f"submissions/{waiting[2]}").text
    # the queue place is read with the reason: one position, one count of live workers
    assert [(read(s)["queue"]["position"], read(s)["queue"]["workers"]) for s in waiting] == [(1, 1), (2, 1), (3, 1)]
    assert f"2 ahead; 3 of 3 waiting in queue '{queue['name']}'" in page.get(f"submissions/{waiting[2]}").text
    # ten times the old give-up time (3 × unclaimed_timeout) passes while the worker heartbeats
    for step in range(1, 121):
        clock.advance(seconds=5)
        worker.heartbeat(attempt)
        if step % 4 == 0:
            service.app.reap()
            service.app.dispatcher.publish_pending()
    for n, sid in enumerate(waiting):
        sub = read(sid)
        assert sub["status"] == "submitted", sub["failure_reason"]
        assert sub["waiting"] == f"waiting for a compute worker: {n} ahead"
    # the worker is gone: its job is retried, then nobody serves the queue any more
    clock.advance(seconds=limits.lease_seconds * limits.worker_alive_leases + 1)
    service.app.reap()
    assert read(waiting[0])["waiting"] == "waiting for a compute worker: no worker is serving this queue right now"
    place = read(waiting[0])["queue"]
    assert (place["workers"], place["message"], place["estimated_start"]) == (0, "no worker is serving this queue", None)
    assert read(waiting[0])["status"] == "submitted"
    for _ in range(12):
        clock.advance(seconds=limits.unclaimed_timeout + 1)
        service.app.reap()
        service.app.dispatcher.publish_pending()
    for sid in waiting:
        sub = read(sid)
        assert sub["status"] == "failed" and "No compute worker took this submission" in sub["failure_reason"]
        assert sub["counts_toward_quota"] is False and sub["waiting"] is None
