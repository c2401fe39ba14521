"""Flower against the test broker's vhost: it lists a real `podium worker` (answering Flower's
inspect broadcast) and the task that worker ran (from the task events the worker sends), through
Flower's own HTTP API with basic auth, as docs/howto/monitoring.md tells an admin to run it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ROOT, free_port, submit, wait_for
from helpers import programs
from podium.worker.protocol import TASK_NAME
from test_pipeline import make_competition

AUTH = ("monitor", "flower-test-password")


@pytest.fixture(scope="module")
def flower(broker_url: str) -> Iterator[str]:
    port = free_port()
    log = ROOT / "test-artifacts" / "flower.log"
    log.parent.mkdir(exist_ok=True)
    celery = Path(sys.executable).parent / "celery"
    proc = subprocess.Popen(
        [str(celery), "--broker", broker_url, "flower", "--address=127.0.0.1", f"--port={port}",
         f"--basic_auth={AUTH[0]}:{AUTH[1]}"],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if requests.get(url + "/healthcheck", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("Flower did not answer within 30 s: " + log.read_text()[-3000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def poll(fetch, accept, timeout: float = 60.0):
    """``fetch()`` until ``accept(answer)`` holds; the last answer in the failure otherwise."""
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        answer = fetch()
        if accept(answer):
            return answer
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting; last answer: {answer}")


@pytest.mark.one_backend
def test_flower_lists_the_worker_and_its_task(api, creator, users, service, flower, worker) -> None:
    refused = requests.get(flower + "/api/workers", timeout=10)
    assert refused.status_code == 401  # Flower's API wants the basic-auth login

    def workers() -> dict:
        return requests.get(flower + "/api/workers", params={"refresh": "true"}, auth=AUTH, timeout=30).json()

    listed = poll(workers, lambda found: f"{worker.name}@podium" in found)
    assert listed[f"{worker.name}@podium"]  # what the worker answered to Flower's inspect

    phase_id, user = make_competition(api, creator, users, image="codalab/codalab-legacy:py37",
                                      scoring=programs.CODALAB_SCORING)
    sid = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nx\n"))
    assert wait_for(api, user, sid)["status"] == "finished"

    def tasks() -> dict:
        return requests.get(flower + "/api/tasks", auth=AUTH, timeout=30).json()

    def ours(found: dict) -> list[dict]:
        return [t for t in found.values() if t.get("name") == TASK_NAME and t.get("state") == "SUCCESS"
                and re.search(rf"\b{sid}\b", f"{t.get('args')} {t.get('kwargs')}")]

    done = ours(poll(tasks, lambda found: bool(ours(found))))
    assert done[0]["worker"] == f"{worker.name}@podium" and done[0]["result"] == "'succeeded'"
