"""Workers that share a host: a CPU hog on a neighbour's cores, a second worker started under a
name that is already running (it would remove the first one's containers at start-up), and
participant code reading the host's paths from its mount table."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import WorkerProcess, make_pipeline_competition, submit, wait_for
from helpers import programs
from podium.worker.app import NEUTRAL_RUNS_DIR
from podium.worker.errors import DockerError
from podium.worker.executors.base import ContainerSpec
from podium.worker.executors.docker import LABEL, DockerExecutor
from podium.worker.images import DEFAULT_IMAGE


def container_exists(name: str) -> bool:
    return subprocess.run(["docker", "inspect", "--type", "container", name], capture_output=True).returncode == 0


def test_containers_run_on_the_worker_s_own_cores(runtime_images) -> None:
    executor = DockerExecutor(f"cpuset-{time.monotonic_ns()}", cpuset_cpus="1")
    assert executor.available()
    executor.check_cpuset()
    spec = ContainerSpec(name=f"podium-cpuset-{time.monotonic_ns()}", image=DEFAULT_IMAGE, workdir="/", mounts=[],
                         command=["python3", "-c", "import os, time; print(sorted(os.sched_getaffinity(0))); "
                                                   "time.sleep(4)"], time_limit=60)
    results = []
    runner = threading.Thread(target=lambda: results.append(executor.run(spec, threading.Event())))
    runner.start()
    deadline = time.monotonic() + 30
    while (container := executor.inspect(spec.name)) is None or not container["State"].get("Running"):
        assert time.monotonic() < deadline and runner.is_alive(), results and results[0].stderr.text()
        time.sleep(0.1)
    assert container["HostConfig"]["CpusetCpus"] == "1"
    runner.join(60)
    assert results[0].ok, results[0].stderr.text()
    assert results[0].stdout.text().strip() == "[1]"  # the program sees one core, the worker's


def test_a_cpuset_naming_cores_the_host_lacks_is_refused(runtime_images) -> None:
    executor = DockerExecutor("cpuset-check", cpuset_cpus="0-1023")
    assert executor.available()
    with pytest.raises(DockerError, match="names core 1023"):
        executor.check_cpuset()


@pytest.mark.one_backend
def test_a_second_live_worker_of_the_same_name_is_refused(service, runtime_images, tmp_path: Path) -> None:
    first = WorkerProcess(service, tmp_path / "first")
    first.start()
    probe = f"podium-{first.name}-probe"  # as if the first worker were running a job
    subprocess.run(["docker", "create", "--name", probe, "--label", f"{LABEL}={first.name}", DEFAULT_IMAGE, "true"],
                   check=True, capture_output=True)
    try:
        podium = Path(sys.executable).parent / "podium"
        second = subprocess.run(
            [str(podium), "worker", "--service-url", service.url, "--token", "test-queue-token", "--name", first.name,
             "--executor", "docker", "--work-dir", str(tmp_path / "second")],
            capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr[-2000:]
        assert f"A worker named '{first.name}' is already running on this Docker engine" in second.stderr
        assert first.proc.poll() is None
        assert container_exists(probe)  # the first worker's container was left alone

        first.kill(signal.SIGKILL)  # a dead worker's name is free at once, and its leftovers go
        successor = WorkerProcess(service, tmp_path / "successor", name=first.name)
        successor.start()
        try:
            deadline = time.monotonic() + 30
            while container_exists(probe):
                assert time.monotonic() < deadline, "the successor kept its dead predecessor's container"
                time.sleep(0.2)
        finally:
            successor.stop()
    finally:
        subprocess.run(["docker", "rm", "--force", probe], capture_output=True)
        first.stop()


MOUNT_SPY = programs.code_submission("""
    lines = [line for line in open("/proc/self/mountinfo") if " /app/" in line]
    print("".join(lines))
    raise SystemExit(3)
""")


@pytest.mark.one_backend
def test_containers_do_not_see_the_worker_s_directories(api, worker, creator, users) -> None:
    """A container's ``/proc/self/mountinfo`` names the host path of every bind mount: the worker's
    own directory (chosen by its admin, often under a home directory) must not appear there."""
    phase_id, user = make_pipeline_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                               ingestion=programs.V2_INGESTION, input_data=programs.INPUT_DATA)
    sub = wait_for(api, user, submit(api, user, phase_id, MOUNT_SPY))
    seen = sub["failure_reason"]
    assert sub["status"] == "failed" and " /app/ingested_program " in seen, seen  # the spy saw its mounts
    assert str(worker.workdir) not in seen
    assert f"{NEUTRAL_RUNS_DIR}/" in seen
