"""Flower, started by the test against the default queue's own virtual host, lists the real
`podium worker` (from its Celery-compatible events) and the tasks it ran, once a submission is
scored: what an admin sees when they run Flower per queue (docs/howto/monitoring.md)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from conftest import ROOT, free_port, submit, wait_for
from conftest import make_pipeline_competition as make_competition
from helpers import programs
from podium.worker.protocol import TASK_NAME

AUTH = ("flower-admin", "flower-secret")


def poll(fetch, ready, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value!r}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def flower(service):
    """``celery --broker=<the default queue's vhost> flower`` on a free port, as the docs say."""
    port = free_port()
    log = ROOT / "test-artifacts" / "flower.log"
    log.parent.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "--broker", service.app.brokers.publish_url("default"), "flower",
         f"--port={port}", "--address=127.0.0.1", f"--basic-auth={AUTH[0]}:{AUTH[1]}"],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return requests.get(url + "/api/workers?status=true", auth=AUTH, timeout=5).status_code
        except requests.ConnectionError:
            assert proc.poll() is None, log.read_text()[-3000:]
            return None

    try:
        poll(answers, lambda status: status == 200, what="Flower to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_flower_lists_the_worker_and_its_tasks(api, creator, users, worker, flower) -> None:
    hostname = f"podium@{worker.name}"

    def workers():
        return requests.get(flower + "/api/workers?status=true", auth=AUTH, timeout=10).json()

    poll(workers, lambda alive: alive.get(hostname) is True, what=f"{hostname} online in Flower")

    phase_id, user = make_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING)
    sid = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nd\n"))
    assert wait_for(api, user, sid)["status"] == "finished"

    def ours():
        tasks = requests.get(flower + "/api/tasks", auth=AUTH, timeout=10).json()
        return [t for t in tasks.values() if t.get("args", "").startswith(f"[{sid}, ")]

    tasks = poll(ours, lambda found: found and all(t["state"] == "SUCCESS" for t in found),
                 what=f"submission {sid}'s tasks in Flower")
    assert {t["name"] for t in tasks} == {TASK_NAME}
    assert {t["worker"] for t in tasks} == {hostname}
    assert all(t["received"] and t["started"] and t["succeeded"] and t["runtime"] is not None for t in tasks)
    # the worker is still listed alive from its heartbeats
    assert workers()[hostname] is True
