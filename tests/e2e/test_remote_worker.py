"""A private worker on another host: a network namespace joined by a veth pair, from which the
worker reaches the service only over HTTP on the veth address and the broker only through a TCP
forwarder on that address (RabbitMQ listens on loopback here). It scores a submission end to
end; then it is killed in the middle of a run, its queue's submissions wait with the reason
their participant reads, and all of them are scored once it comes back: none is lost.

The queue has its own RabbitMQ vhost and broker user (``broker_management_url``): the worker is
handed only those, at the address its host reaches the broker by (``worker_broker_host`` and
``worker_broker_port``, here the forwarder's).
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest
import requests
from conftest import (
    Api,
    ServiceThread,
    WorkerProcess,
    create_pg_database,
    drop_pg_database,
    make_pipeline_competition,
    service_config,
    submit,
    wait_for,
)
from helpers import programs
from helpers.second_host import NetnsHost, TcpForwarder
from podium.server import db
from podium.worker.executors.docker import LABEL

NO_WORKER_REASON = "waiting for a compute worker: no worker is serving this queue right now"
SLOW_MODEL = programs.code_submission("""
    import time
    time.sleep(8)

    def predict(x):
        return {"1": "a", "2": "b", "3": "c", "4": "x"}[x]
""")


@pytest.fixture
def second_host() -> Iterator[NetnsHost]:
    host = NetnsHost().create()
    try:
        yield host
    finally:
        host.remove()


@pytest.fixture
def forwarder(second_host: NetnsHost) -> Iterator[TcpForwarder]:
    """RabbitMQ (loopback only, where ``guest`` may log in) published on this side's veth address."""
    forward = TcpForwarder(second_host.host_ip, ("127.0.0.1", 5672)).start()
    try:
        yield forward
    finally:
        forward.stop()


@pytest.fixture
def remote_service(hub, second_host: NetnsHost, forwarder: TcpForwarder, broker_url: str,
                   broker_isolation: dict, tmp_path: Path) -> Iterator[ServiceThread]:
    """A service of its own (own database, its own queue on a vhost and broker user of its own)
    listening on the veth address only, so its signed URLs and its API are what the other host
    can reach; workers are told the forwarder's address as the broker's."""
    db_url = create_pg_database()
    db.upgrade(db_url)
    with socket.socket() as probe:
        probe.bind((second_host.host_ip, 0))
        port = probe.getsockname()[1]
    config = service_config(hub, db_url, port, broker_url, tmp_path / "data")
    config.update(ip=second_host.host_ip, lease_seconds=4, worker_broker_host=forwarder.host,
                  worker_broker_port=forwarder.port, **broker_isolation)
    service = ServiceThread(**config)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        drop_pg_database(db_url)


def wait_until_all(read, ids: list[int], check, what: str, timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        subs = [read(sid) for sid in ids]
        if all(check(sub) for sub in subs):
            return subs
        assert time.monotonic() < deadline, f"timed out waiting until {what}: {subs}"
        time.sleep(0.5)


def test_a_worker_on_another_host_scores_and_nothing_is_lost_while_it_is_away(
        remote_service: ServiceThread, second_host: NetnsHost, forwarder: TcpForwarder, users, creator,
        runtime_images, tmp_path: Path) -> None:
    api = Api(remote_service)
    # the other host has no way to the broker but the forwarder, nor to the service but its veth address
    assert not second_host.can_connect("127.0.0.1", 5672)
    assert second_host.can_connect(forwarder.host, forwarder.port)
    assert not second_host.can_connect("127.0.0.1", remote_service.app.port)
    assert remote_service.url.startswith(f"http://{second_host.host_ip}:")

    admin = users.make("netadmin", admin=True)
    queue = f"remote-{uuid.uuid4().hex[:8]}"
    token = api(admin, "POST", "/queues", json={"name": queue}, expect=201).json()["token"]
    api(admin, "PUT", f"/queues/{queue}/shares/groups/creators", expect=200)  # the organizers may use it
    # the worker is handed its queue's own vhost and broker user, at the address its host reaches
    handed = urlsplit(requests.get(remote_service.api_url + "/worker/config", timeout=10,
                                   headers={"Authorization": f"token {token}"}).json()["broker_url"])
    assert (handed.hostname, handed.port) == (forwarder.host, forwarder.port)
    assert handed.username != "guest" and handed.path.lstrip("/").endswith(queue)
    phase_id, participant = make_pipeline_competition(
        api, creator, users, image="python:3", scoring=programs.V2_SCORING, ingestion=programs.V2_INGESTION,
        input_data=programs.INPUT_DATA, queue=queue)

    def read(sid: int) -> dict:
        return api(participant, "GET", f"/submissions/{sid}", expect=200).json()

    remote = WorkerProcess(remote_service, tmp_path / "worker", token=token, prefix=tuple(second_host.prefix))
    remote.start()
    try:
        first = wait_for(api, participant, submit(api, participant, phase_id, programs.GOOD_MODEL))
        assert first["status"] == "finished", (first["failure_reason"], remote.log.read_text()[-3000:])
        assert first["scores"]["accuracy"] == 0.75
        assert forwarder.connections >= 1  # the worker's broker connection came through the veth link

        # the worker goes away in the middle of a run
        slow = submit(api, participant, phase_id, SLOW_MODEL)
        wait_for(api, participant, slow, statuses={"running"}, timeout=120)
        engine = docker.from_env(version="auto")
        mine = {"label": f"{LABEL}={remote.name}"}
        deadline = time.monotonic() + 60
        while not (running := engine.containers.list(filters=mine)):
            assert time.monotonic() < deadline, "the slow submission's container never ran"
            time.sleep(0.1)
        remote.kill(signal.SIGKILL)
        away = [slow] + [submit(api, participant, phase_id, programs.GOOD_MODEL) for _ in range(2)]
        waiting = wait_until_all(read, away, lambda sub: sub["waiting"] == NO_WORKER_REASON,
                                 "every submission of the queue waits for a worker, saying so")
        for sub in waiting:
            assert sub["status"] not in ("finished", "failed", "cancelled"), sub
            assert sub["queue"]["workers"] == 0 and sub["queue"]["message"] == "no worker is serving this queue"

        # the same worker comes back (its killed run's container is removed at start-up)
        back = WorkerProcess(remote_service, tmp_path / "worker", name=remote.name, token=token,
                             prefix=tuple(second_host.prefix))
        back.start()
        try:
            done = [wait_for(api, participant, sid, timeout=240) for sid in away]
        finally:
            back.stop()
    finally:
        remote.stop()
    # the killed run's container was removed by the worker that came back under the same name
    assert not {c.id for c in engine.containers.list(all=True, filters=mine)} & {c.id for c in running}
    for sub in done:
        assert sub["status"] == "finished", (sub["failure_reason"], back.log.read_text()[-3000:])
        assert sub["scores"]["accuracy"] == 0.75 and sub["counts_toward_quota"] is True
        assert sub["waiting"] is None
