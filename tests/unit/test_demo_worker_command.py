"""The demo's worker command line reaches the worker's own parser intact, whatever the token.

Found in a full run: ``podium up`` waited 400 s for a result because its queue token began with
``-`` (``secrets.token_urlsafe`` does, one time in 64) and the worker read it as an option."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from podium.hub.demo import DemoError, wait_for_result, worker_argv
from podium.widgets.client import WaitTimeout
from podium.worker.app import build_parser


@pytest.mark.parametrize("token", ["-cQ2x9", "--help", "pq_abc", "a b"])
def test_the_worker_reads_the_demo_token_whatever_it_starts_with(token: str, tmp_path: Path) -> None:
    argv = worker_argv("http://127.0.0.1:8000/services/podium/", token, tmp_path, ["--executor", "local"])
    args = build_parser().parse_args(argv[argv.index("worker") + 1:])
    assert args.token == token
    assert args.service_url == "http://127.0.0.1:8000/services/podium/"
    assert args.executor == "local" and args.work_dir == str(tmp_path)


class NeverDone:
    """A participant client whose submission never ends (isolates the wait from a hub)."""

    def wait(self, submission_id: int, timeout: float, interval: float) -> dict:
        raise WaitTimeout(f"Submission {submission_id} is still 'submitted' after {timeout:.0f} s")


def test_a_worker_that_exits_ends_the_wait_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([sys.executable, "-c", "print('podium worker: error: bad token'); raise SystemExit(2)"],
                                  stdout=out, stderr=subprocess.STDOUT)
    worker.wait(30)
    started = time.monotonic()
    with pytest.raises(DemoError) as refused:
        wait_for_result(NeverDone(), 7, worker, log, timeout=600)
    assert time.monotonic() - started < 60
    assert "exited (code 2)" in str(refused.value) and "bad token" in str(refused.value)
