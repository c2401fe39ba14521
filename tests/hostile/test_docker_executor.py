"""The Docker executor against the real engine, through the SDK: every hardening option reaches
the container the engine runs (and holds inside it), output streams while the program runs, the
time limit, a cancel and a log flood stop it, a missing image and an engine that does not answer
are specific errors, and no container outlives its run or a crashed worker."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import docker
import pytest
from helpers.waiting import wait_until
from podium.worker.errors import EngineUnreachable
from podium.worker.executors.base import ContainerSpec, ExecResult, LiveTail, Mount
from podium.worker.executors.docker import LABEL, DockerExecutor
from podium.worker.images import DEFAULT_IMAGE


@pytest.fixture
def executor(runtime_images) -> DockerExecutor:
    found = DockerExecutor(f"sdk-{uuid.uuid4().hex[:10]}")
    assert found.available(), found.problem
    yield found
    found.drain_removals()
    if found.name_lock is not None:
        found.name_lock.release()


def spec(code: str, **overrides) -> ContainerSpec:
    options = {"name": f"podium-sdk-{uuid.uuid4().hex[:12]}", "image": DEFAULT_IMAGE, "workdir": "/",
               "mounts": [], "command": ["python3", "-c", code], "time_limit": 60, **overrides}
    return ContainerSpec(**options)


def run_in_thread(executor: DockerExecutor, run: ContainerSpec,
                  cancel: threading.Event | None = None) -> tuple[threading.Thread, list[ExecResult]]:
    results: list[ExecResult] = []
    thread = threading.Thread(target=lambda: results.append(executor.run(run, cancel or threading.Event())))
    thread.start()
    return thread, results


def test_every_hardening_option_reaches_the_container(executor: DockerExecutor, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    out.chmod(0o777)
    (data / "input.txt").write_text("ref")
    probe = spec("""
import os, socket, resource
print("uid", os.getuid(), os.getgid())
print("nets", sorted(os.listdir("/sys/class/net")))
for path in ("/root-write", "/data/write"):
    try:
        open(path, "w").close(); print("wrote", path)
    except OSError as e:
        print("refused", path, e.errno)
open("/out/ok", "w").write("x"); open("/tmp/ok", "w").write("x")
print("fsize", resource.getrlimit(resource.RLIMIT_FSIZE)[0], "nofile", resource.getrlimit(resource.RLIMIT_NOFILE))
print("caps", [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "NoNewPrivs"))])
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); print("network reached")
except OSError:
    print("no network")
import time; time.sleep(3)
""", mounts=[Mount(str(data), "/data"), Mount(str(out), "/out", read_only=False)], pids=64, memory_mb=300,
                 cpus=0.5, tmpfs_mb=16, max_file_bytes=10_000_000)
    thread, results = run_in_thread(executor, probe)
    container: dict = {}

    def running() -> bool:
        nonlocal container
        container = executor.inspect(probe.name) or {}
        return bool(container.get("State", {}).get("Running"))

    wait_until(running, "the container runs")
    host = container["HostConfig"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] == 64 and host["Memory"] == host["MemorySwap"] == 300 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000 and host["LogConfig"]["Type"] == "none"
    assert host["Tmpfs"] == {"/tmp": "rw,exec,nosuid,nodev,size=16m"}
    assert {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]} == {
        "fsize": (10_000_000, 10_000_000), "nofile": (1024, 1024), "core": (0, 0)}
    assert {(m["Target"], m.get("ReadOnly", False)) for m in host["Mounts"]} == {("/data", True), ("/out", False)}
    assert container["Config"]["User"] == "1000:1000" and container["Config"]["Labels"][LABEL] == executor.worker_name
    thread.join(60)
    result = results[0]
    assert result.ok, result.stderr.text()
    seen = result.stdout.text()
    assert "uid 1000 1000" in seen and "nets ['lo']" in seen and "no network" in seen
    assert "refused /root-write 30" in seen and "refused /data/write 30" in seen  # EROFS both
    assert "fsize 10000000 nofile (1024, 1024)" in seen
    assert "caps ['0000000000000000', '1']" in seen  # no capability, no new privileges
    assert (out / "ok").read_text() == "x"
    executor.drain_removals()
    assert executor.inspect(probe.name) is None  # no container outlives its run


def test_output_streams_while_the_program_runs(executor: DockerExecutor, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    gate.chmod(0o777)
    live = LiveTail()
    program = spec("""
import os, sys, time
print("first line", flush=True); print("to stderr", file=sys.stderr, flush=True)
while not os.path.exists("/gate/go"):
    time.sleep(0.05)
print("last line")
""", mounts=[Mount(str(gate), "/gate")], live=live)
    thread, results = run_in_thread(executor, program)
    seen: list[str] = []
    wait_until(lambda: seen.append(live.take() or "") or "to stderr" in "".join(seen), "the first lines stream")
    assert "first line" in "".join(seen) and thread.is_alive()  # seen before the program ended
    (gate / "go").touch()
    thread.join(60)
    assert results[0].ok
    assert results[0].stdout.text() == "first line\nlast line\n" and results[0].stderr.text() == "to stderr\n"


def test_the_time_limit_a_cancel_and_a_log_flood_stop_the_container(executor: DockerExecutor) -> None:
    slow = executor.run(spec("import time; time.sleep(60)", time_limit=1), threading.Event())
    assert slow.timed_out and not slow.ok and slow.elapsed < 30

    cancel = threading.Event()
    program = spec("import time; print('started', flush=True); time.sleep(60)")
    thread, results = run_in_thread(executor, program, cancel)
    wait_until(lambda: (executor.inspect(program.name) or {}).get("State", {}).get("Running"), "it runs")
    cancel.set()
    thread.join(30)
    assert results[0].cancelled and not results[0].ok

    flood = executor.run(spec("while True: print('x' * 10000)", max_log_bytes=1_000_000), threading.Event())
    assert flood.log_exceeded and flood.stdout.total >= 1_000_000
    assert len(flood.stdout.text()) < 200_000  # kept bounded: head and tail only
    executor.drain_removals()
    assert executor.inspect(program.name) is None


def test_memory_limit_is_reported_as_an_oom_kill(executor: DockerExecutor) -> None:
    result = executor.run(spec("x = bytearray(400 * 1024 * 1024); print(len(x))", memory_mb=64), threading.Event())
    assert result.oom_killed and not result.ok


def test_a_missing_image_is_a_clear_error_and_nothing_is_pulled(executor: DockerExecutor) -> None:
    image = f"podium-test/never-built-{uuid.uuid4().hex[:8]}:1"
    missing = spec("print(1)", image=image)
    result = executor.run(missing, threading.Event())
    assert result.exit_code is None and not result.ok
    assert f"No such image: {image}" in result.error and "podium images build" in result.error
    assert executor.inspect(missing.name) is None
    assert not docker.from_env(version="auto").images.list(name=image.split(":")[0])


def test_an_engine_that_does_not_answer_is_engine_unreachable(tmp_path: Path) -> None:
    nowhere = DockerExecutor("sdk-nowhere", base_url=f"unix://{tmp_path / 'no-engine.sock'}")
    assert not nowhere.available()
    assert "The Docker engine does not answer" in nowhere.problem
    with pytest.raises(EngineUnreachable, match="does not answer"):
        nowhere.run(spec("print(1)"), threading.Event())


def test_a_restarted_worker_removes_only_its_own_leftovers(executor: DockerExecutor) -> None:
    engine = docker.from_env(version="auto")
    mine = engine.containers.create(DEFAULT_IMAGE, ["true"], labels={LABEL: executor.worker_name})
    other = engine.containers.create(DEFAULT_IMAGE, ["true"], labels={LABEL: executor.worker_name + "-other"})
    try:
        assert executor.cleanup_leftovers() == 1
        assert executor.inspect(mine.id) is None and executor.inspect(other.id) is not None
    finally:
        other.remove(force=True)
        if executor.inspect(mine.id) is not None:
            mine.remove(force=True)


def test_a_request_the_engine_refuses_says_which_and_why(executor: DockerExecutor, tmp_path: Path) -> None:
    refused = spec("print(1)", mounts=[Mount(str(tmp_path / "never-made"), "/data")])
    result = executor.run(refused, threading.Event())
    assert result.exit_code is None and not result.ok
    assert f"The Docker engine refused to create the container {refused.name}" in result.error
    assert "bind source path does not exist" in result.error
    assert executor.inspect(refused.name) is None
