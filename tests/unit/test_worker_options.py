"""The worker's own options and start-up guard: ``--cpuset-cpus`` and one live worker per name."""

from __future__ import annotations

import pytest
from podium.worker.app import parse_args
from podium.worker.errors import WorkerNameTaken
from podium.worker.executors.docker import cpuset_cores
from podium.worker.name_lock import WorkerNameLock


@pytest.mark.parametrize(("cpuset", "cores"), [("0", [0]), ("0-1", [0, 1]), ("0,2-3", [0, 2, 3]), (" 1 ", [1])])
def test_cpuset_lists_name_their_cores(cpuset: str, cores: list[int]) -> None:
    assert cpuset_cores(cpuset) == cores


@pytest.mark.parametrize("cpuset", ["", "a", "0-", "-1", "2-1", "0;1", "²", "0,,1"])
def test_malformed_cpusets_are_refused(cpuset: str) -> None:
    with pytest.raises(ValueError):
        cpuset_cores(cpuset)


def test_the_cpuset_option_is_checked_and_documented(capsys) -> None:
    assert parse_args(["--cpuset-cpus", "0-1"]).cpuset_cpus == "0-1"
    assert parse_args([]).cpuset_cpus is None
    with pytest.raises(SystemExit):
        parse_args(["--cpuset-cpus", "0-x"])
    assert "--cpuset-cpus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--cpuset-cpus LIST Cores this worker's containers run on" in help_text
    assert "--cpus only caps CPU time" in help_text


def test_the_free_disk_floor_option_is_documented(capsys) -> None:
    assert parse_args([]).min_free_mb == 1024
    assert parse_args(["--min-free-mb", "0"]).min_free_mb == 0
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--min-free-mb MB Free disk space in MB this worker keeps" in help_text
    assert "0 means no floor. Default: 1024." in help_text


def test_one_live_worker_per_name_and_engine(tmp_path) -> None:
    first = WorkerNameLock("w1", "engine-a", str(tmp_path))
    first.acquire()
    with pytest.raises(WorkerNameTaken, match=r"A worker named 'w1' is already running .*\(process \d+\)"):
        WorkerNameLock("w1", "engine-a", str(tmp_path)).acquire()
    other_engine, other_name = WorkerNameLock("w1", "engine-b", str(tmp_path)), WorkerNameLock("w2", "engine-a", str(tmp_path))
    other_engine.acquire()
    other_name.acquire()
    first.release()  # as when the first worker's process ends
    successor = WorkerNameLock("w1", "engine-a", str(tmp_path))
    successor.acquire()
    for lock in (successor, other_engine, other_name):
        lock.release()
