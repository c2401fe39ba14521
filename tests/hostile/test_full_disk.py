"""A worker whose disk is full: it prunes its dataset cache, then claims nothing until space is
freed, so the submission waits instead of failing; a disk that fills up while inputs are
unpacked is the platform's failure, retried at no cost. The disk is a small tmpfs mounted here."""

from __future__ import annotations

import io
import os
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import WorkerProcess, make_pipeline_competition, submit, wait_for
from helpers import programs
from helpers.web_session import create_queue
from podium.server.orm import Attempt
from podium.worker.cache import DatasetCache
from podium.worker.client import ServiceClient
from podium.worker.disk_space import WORKER_DISK_FULL, DiskGuard, free_bytes
from podium.worker.errors import AttemptFailed, DiskFull
from podium.worker.executors.local import LocalExecutor
from podium.worker.readiness import Readiness
from podium.worker.runner import AttemptRunner, WorkerSettings

MB = 1024 * 1024


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB disk of its own (a tmpfs), unmounted at the end."""
    path = tmp_path / "disk"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path, leave_mb: int) -> None:
    """Write ``path`` until its disk has less than ``leave_mb`` MB free."""
    with open(path, "wb") as f:
        while free_bytes(str(path.parent)) >= leave_mb * MB:
            f.write(b"\0" * MB)
            f.flush()


def cached(cache: DatasetCache, name: str, size_mb: int, age: int) -> str:
    """A file of ``size_mb`` MB in the cache, last used ``age`` seconds ago."""
    path = cache.path_for(name)
    with open(path, "wb") as f:
        f.write(b"\1" * size_mb * MB)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_cache_is_pruned_oldest_first_and_only_as_far_as_needed(disk: Path) -> None:
    cache = DatasetCache(str(disk / "cache"), 10**10)
    old, middle, new = (cached(cache, name, 6, age) for name, age in (("old", 300), ("middle", 200), ("new", 100)))
    fill(disk / "filler", leave_mb=4)
    guard = DiskGuard([str(disk)], 8 * MB, cache)
    assert guard.shortage() is None  # removing the oldest entry made room
    assert not os.path.exists(old) and os.path.exists(middle) and os.path.exists(new)


def test_a_disk_the_cache_cannot_free_refuses_the_attempt_before_its_claim(disk: Path) -> None:
    cache = DatasetCache(str(disk / "cache"), 10**10)
    entry = cached(cache, "entry", 2, 100)
    fill(disk / "filler", leave_mb=4)
    guard = DiskGuard([str(disk)], 10 * MB, cache)
    # a client of no service: a claim would fail with a ProtocolError, not DiskFull
    runner = AttemptRunner(ServiceClient("http://127.0.0.1:9/", "token", "full"), LocalExecutor(allow_unsafe=True),
                           cache, WorkerSettings(name="full", work_dir=str(disk), hard_disk_caps=False), readiness=Readiness(guard))
    with pytest.raises(DiskFull, match=r"has \d MB free, less than the 10 MB this worker keeps free \(--min-free-mb\)"):
        runner.run(1)
    assert not os.path.exists(entry)  # pruned first, to no avail
    os.remove(disk / "filler")
    assert guard.shortage() is None


def test_a_disk_that_fills_while_inputs_are_unpacked_is_a_retried_platform_failure(disk: Path) -> None:
    cache = DatasetCache(str(disk / "cache"), 10**10)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 30 * MB)  # a few KB that expand to 30 MB
    with open(cache.path_for("ref"), "wb") as f:
        f.write(buffer.getvalue())
    fill(disk / "filler", leave_mb=20)
    runner = AttemptRunner(ServiceClient("http://127.0.0.1:9/", "token", "full"), LocalExecutor(allow_unsafe=True),
                           cache, WorkerSettings(name="full", work_dir=str(disk), hard_disk_caps=False))
    job = {"attempt": 1, "inputs": {"reference_data": {"sha256": "ref"}}}
    with pytest.raises(AttemptFailed) as failed:
        runner._fetch(job, "reference_data", str(disk / "ref"), "organizer")  # type: ignore[arg-type]
    assert (failed.value.kind, failed.value.retryable, failed.value.reason) == ("platform", True, WORKER_DISK_FULL)
    assert not os.path.exists(disk / "ref")  # the partial unpacking is gone


@pytest.mark.one_backend
def test_a_submission_waits_while_the_worker_s_disk_is_full_and_is_scored_once_space_is_freed(
        api, service, creator, users, runtime_images, disk: Path) -> None:
    queue = create_queue(api, users)
    phase_id, user = make_pipeline_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                               ingestion=programs.V2_INGESTION, input_data=programs.INPUT_DATA,
                                               queue=queue["name"])
    fill(disk / "filler", leave_mb=4)
    worker = WorkerProcess(service, disk / "work", token=queue["token"],
                           extra_args=("--runs-dir", str(disk / "runs"), "--min-free-mb", "8"))
    worker.start()
    try:
        sid = submit(api, user, phase_id, programs.GOOD_MODEL)
        deadline = time.monotonic() + 60
        while "taking no job: " not in worker.log.read_text():
            assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(8)  # long enough for a worker that takes jobs to have failed it three times
        sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
        assert sub["status"] not in ("failed", "finished"), sub
        with service.app.session_factory() as session:
            states = [a.state.value for a in session.scalars(sa.select(Attempt).where(Attempt.submission_id == sid))]
        assert "failed" not in states and "running" not in states, states

        os.remove(disk / "filler")
        sub = wait_for(api, user, sid, timeout=180)
        assert sub["status"] == "finished", (sub, worker.log.read_text()[-3000:])
        assert sub["scores"], sub
        assert "taking jobs again" in worker.log.read_text()
    finally:
        worker.stop()
