"""A worker's own heartbeat (``POST /worker/status``) over real HTTP, as a worker sends it: the
version and protocol it runs and, when it cannot work, why. The reason shows in the queue API,
on the queues page, in ``/metrics`` (parsed with prometheus-client's parser) and in a waiting
submission's answer (a worker that cannot work is not one that serves the queue); a claim says
the worker can work again and records its version."""

from __future__ import annotations

import html

import pytest
import requests
from conftest import submit
from helpers.metrics import scrape, value
from helpers.web_session import WebSession, create_queue, make, registered
from podium.worker.protocol import PROTOCOL_VERSION

pytestmark = pytest.mark.one_backend

FULL = "/srv/podium-worker has 3 MB free, less than the 1024 MB this worker keeps free (--min-free-mb)"


def report(service, token: str, **status) -> requests.Response:
    return requests.post(service.api_url + "/worker/status", json=status,
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)


def worker_of(api, admin, queue: str, name: str) -> dict:
    model = api(admin, "GET", f"/queues/{queue}", expect=200).json()
    return next(w for w in model["workers"] if w["name"] == name)


def test_a_worker_that_cannot_work_says_why_everywhere_an_admin_looks(api, hub, service, users, creator) -> None:
    queue = create_queue(api, users)
    admin = users.make("sadmin", admin=True)
    answer = report(service, queue["token"], worker="sick-1", hostname="box-1", version="9.8.7",
                    protocol=PROTOCOL_VERSION, cannot_work=FULL)
    assert answer.status_code == 200 and answer.json() == {"queue": queue["name"]}
    seen = worker_of(api, admin, queue["name"], "sick-1")
    assert seen["cannot_work"] == FULL and seen["version"] == "9.8.7" and seen["protocol"] == PROTOCOL_VERSION
    assert seen["last_seen"] is not None and seen["hostname"] == "box-1"

    samples = scrape(service, admin.headers)
    assert value(samples, "podium_worker_cannot_work", queue=queue["name"], worker="sick-1", reason=FULL) == 1
    assert value(samples, "podium_worker_info", queue=queue["name"], worker="sick-1", version="9.8.7") == 1

    session = WebSession(hub, admin.name)
    session.login()
    section = session.get("admin/queues").text.split(f'data-queue="{queue["name"]}"', 1)[1].split("</section>", 1)[0]
    row = section.split('data-worker="sick-1"', 1)[1].split("</tr>", 1)[0]
    assert "9.8.7" in row and f"(protocol {PROTOCOL_VERSION})" in row
    assert f'<span class="cannot-work">cannot work: {html.escape(FULL)}</span>' in row

    # a participant's submission waits, and is told no worker serves the queue (the sick one does not)
    comp = make(api, creator, queue)
    participant = registered(api, users, comp, "patient")
    sid = submit(api, participant, comp["phases"][0]["id"], b"waits")
    waiting = api(participant, "GET", f"/submissions/{sid}", expect=200).json()
    assert waiting["status"] == "submitted" and "no worker is serving this queue" in waiting["waiting"], waiting

    # the condition clears: the next report says so, and the gauge drops to 0 with no reason
    report(service, queue["token"], worker="sick-1", version="9.8.7", protocol=PROTOCOL_VERSION, cannot_work=None)
    assert worker_of(api, admin, queue["name"], "sick-1")["cannot_work"] is None
    samples = scrape(service, admin.headers)
    assert value(samples, "podium_worker_cannot_work", queue=queue["name"], worker="sick-1", reason="") == 0
    waiting = api(participant, "GET", f"/submissions/{sid}", expect=200).json()
    assert "no worker is serving this queue" not in waiting["waiting"], waiting


def test_a_claim_records_the_version_and_that_the_worker_can_work(api, service, users, creator, dbsession) -> None:
    from podium.server.orm import Attempt, AttemptState
    from sqlalchemy import select

    queue = create_queue(api, users)
    admin = users.make("sadmin", admin=True)
    report(service, queue["token"], worker="back-1", version="1.0", cannot_work="the Docker engine does not answer")
    comp = make(api, creator, queue)
    sid = submit(api, registered(api, users, comp, "claimed"), comp["phases"][0]["id"], b"x")
    dbsession.expire_all()
    attempt = dbsession.scalar(select(Attempt.id).where(Attempt.submission_id == sid,
                                                        Attempt.state == AttemptState.queued))
    claimed = requests.post(f"{service.api_url}/worker/attempts/{attempt}/claim",
                            json={"worker": "back-1", "protocol": PROTOCOL_VERSION, "version": "1.1"},
                            headers={"Authorization": f"Bearer {queue['token']}"}, timeout=30)
    assert claimed.status_code == 200, claimed.text
    seen = worker_of(api, admin, queue["name"], "back-1")
    assert seen["version"] == "1.1" and seen["cannot_work"] is None and seen["running"] == [attempt]


def test_a_status_report_is_checked_like_every_worker_message(api, service, users) -> None:
    queue = create_queue(api, users)
    assert report(service, "not-a-token", worker="w").status_code == 401
    too_long = report(service, queue["token"], worker="w", cannot_work="x" * 1001)
    assert too_long.status_code == 400 and "cannot_work" in too_long.text
    assert report(service, queue["token"], worker="bad name!").status_code == 400
