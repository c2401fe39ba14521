"""The demo's worker command line reaches the worker's own parser intact, whatever the token.

Found in a full run: ``podium up`` waited 400 s for a result because its queue token began with
``-`` (``secrets.token_urlsafe`` does, one time in 64) and the worker read it as an option."""

from __future__ import annotations

from pathlib import Path

import pytest
from podium.hub.demo import worker_argv
from podium.worker.app import build_parser


@pytest.mark.parametrize("token", ["-cQ2x9", "--help", "pq_abc", "a b"])
def test_the_worker_reads_the_demo_token_whatever_it_starts_with(token: str, tmp_path: Path) -> None:
    argv = worker_argv("http://127.0.0.1:8000/services/podium/", token, tmp_path, ["--executor", "local"])
    args = build_parser().parse_args(argv[argv.index("worker") + 1:])
    assert args.token == token
    assert args.service_url == "http://127.0.0.1:8000/services/podium/"
    assert args.executor == "local" and args.work_dir == str(tmp_path)
