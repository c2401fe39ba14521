"""Re-keying a private queue with a real `podium worker` attached: the broker closes the old
worker's connection and refuses its reconnection (not only the service), the submissions made
meanwhile wait, and a worker started with the new token scores them."""

from __future__ import annotations

import functools
import time
import uuid

from conftest import WorkerProcess, submit, wait_for
from conftest import make_pipeline_competition as make_competition
from helpers import programs, rabbit_management, waiting

wait_until = functools.partial(waiting.wait_until, timeout=60, every=0.5)


def test_the_old_worker_is_refused_by_the_broker_and_a_new_token_works(
        api, creator, users, service, runtime_images, tmp_path) -> None:
    admin = users.make("rekey-admin", admin=True)
    name = f"rekey-{uuid.uuid4().hex[:6]}"
    token = api(admin, "POST", "/queues", json={"name": name}, expect=201).json()["token"]
    api(admin, "PUT", f"/queues/{name}/shares/groups/creators", expect=200)  # the organizers may use it
    account = service.app.brokers.account(name)
    phase_id, user = make_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING, queue=name)

    old = WorkerProcess(service, tmp_path / "old", token=token)
    old.start()
    try:
        first = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nd\n"))
        assert wait_for(api, user, first)["status"] == "finished"
        # the old worker is connected (the management API lists connections from its periodic stats)
        wait_until(lambda: rabbit_management.connections_of(account), what="the old worker's connection to be listed")

        new_token = api(admin, "POST", f"/queues/{name}/token", expect=200).json()["token"]
        # the broker closed the old worker's connections and refuses it when it reconnects
        wait_until(lambda: "ACCESS_REFUSED" in old.log.read_text(), what="the broker to refuse the old worker")
        assert "CONNECTION_FORCED" in old.log.read_text()
        assert rabbit_management.connections_of(account) == []
        waiting = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nx\n"))
        time.sleep(3)  # the old worker could take it now if the broker let it
        assert api(user, "GET", f"/submissions/{waiting}", expect=200).json()["status"] == "submitted"
        assert old.proc.poll() is None  # refused, it keeps trying: it never exits because of its broker
    finally:
        old.stop()

    new = WorkerProcess(service, tmp_path / "new", token=new_token)
    new.start()
    try:
        sub = wait_for(api, user, waiting)
        assert sub["status"] == "finished", sub["failure_reason"]
        assert sub["scores"]
    finally:
        new.stop()
