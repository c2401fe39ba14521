"""Secrets kept in data_dir: processes that start together all read the same one."""

from __future__ import annotations

import multiprocessing
import os
import stat
import uuid
from pathlib import Path

from podium.server.secret_files import read_or_create


def _race(path: str, start, results) -> None:
    start.wait()
    results.put(read_or_create(path, lambda: uuid.uuid4().hex))


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    path = str(tmp_path / "data" / "secret_key")
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(8), context.Queue()
    racers = [context.Process(target=_race, args=(path, start, results)) for _ in range(8)]
    for racer in racers:
        racer.start()
    seen = {results.get(timeout=30) for _ in racers}
    for racer in racers:
        racer.join(10)
    assert len(seen) == 1 and seen != {""}
    assert seen == {Path(path).read_text()}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path / "data") == ["secret_key"]  # no temporary file left behind
    assert read_or_create(path, lambda: "never used") == seen.pop()
