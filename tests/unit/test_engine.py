"""The Docker engine starter's decisions about pid files and sockets a dead dockerd left behind,
made on real processes and real files in temporary folders (never the running engine's)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from podium.hub.demo import DemoError, prepare_executor
from podium.worker.engine import (
    EngineError,
    EngineSettings,
    ensure_engine,
    missing_packages,
    pid_alive,
    processes_named,
    read_process,
    remove_stale_files,
    running_pid,
    socket_is_stale,
    stale_pid_reason,
)


def fake_proc(root: Path, pid: int, name: str, state: str = "S") -> Path:
    """A /proc-like folder holding one process entry."""
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "stat").write_text(f"{pid} ({name}) {state} 1 {pid} {pid} 0 -1 4194560\n")
    (entry / "comm").write_text(f"{name}\n")
    return root


@pytest.fixture
def zombie() -> subprocess.Popen:
    """A child that has exited and that nobody has reaped yet."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while getattr(read_process(child.pid), "state", None) != "Z":
        assert time.monotonic() < deadline, "the child never became a zombie"
        time.sleep(0.02)
    yield child
    child.wait()


@pytest.fixture
def sleeper() -> subprocess.Popen:
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


def test_no_pid_file_is_not_stale(tmp_path: Path) -> None:
    assert stale_pid_reason(tmp_path / "docker.pid", "dockerd") is None
    assert running_pid(tmp_path / "docker.pid", "dockerd") is None


def test_a_pid_file_naming_a_dead_pid_is_stale(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(f"{gone.pid}\n")
    assert not pid_alive(gone.pid)
    assert stale_pid_reason(pidfile, "dockerd") == f"pid {gone.pid} is not running"
    assert running_pid(pidfile, "dockerd") is None


def test_a_pid_file_naming_a_zombie_is_stale(tmp_path: Path, zombie: subprocess.Popen) -> None:
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(str(zombie.pid))
    assert read_process(zombie.pid) is not None  # the pid exists...
    assert not pid_alive(zombie.pid)  # ...but runs nothing
    assert stale_pid_reason(pidfile, "dockerd") == f"pid {zombie.pid} is a zombie"


def test_a_pid_reused_by_another_program_is_stale(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(str(sleeper.pid))
    assert pid_alive(sleeper.pid)
    assert stale_pid_reason(pidfile, "dockerd") == f"pid {sleeper.pid} is now 'sleep', not dockerd"
    assert stale_pid_reason(pidfile, "sleep") is None
    assert running_pid(pidfile, "sleep") == sleeper.pid
    assert sleeper.pid in processes_named("sleep")


@pytest.mark.parametrize("content", ["", "garbage\n", "12 34", "-5"])
def test_a_pid_file_without_a_pid_is_stale(tmp_path: Path, content: str) -> None:
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(content)
    assert stale_pid_reason(pidfile, "dockerd") == "it holds no pid"


def test_decisions_over_a_proc_like_folder(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    fake_proc(proc, 4242, "dockerd")
    fake_proc(proc, 4343, "dockerd", state="Z")
    fake_proc(proc, 4444, "containerd")
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("4242")
    assert stale_pid_reason(pidfile, "dockerd", proc) is None
    assert running_pid(pidfile, "dockerd", proc) == 4242
    pidfile.write_text("4343")
    assert stale_pid_reason(pidfile, "dockerd", proc) == "pid 4343 is a zombie"
    pidfile.write_text("4444")
    assert stale_pid_reason(pidfile, "dockerd", proc) == "pid 4444 is now 'containerd', not dockerd"
    assert processes_named("dockerd", proc) == [4242]


def test_a_name_with_spaces_and_parentheses_is_read_whole(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path / "proc", 77, "odd) name (Z")
    (proc / "77" / "comm").unlink()  # fall back to the name in stat
    found = read_process(77, proc)
    assert found is not None and found.state == "S" and found.name == "odd) name (Z"


def unix_socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


def test_a_socket_nothing_listens_on_is_stale_and_a_live_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    server = unix_socket(path)
    try:
        assert not socket_is_stale(path)
    finally:
        server.close()
    assert path.is_socket()  # closing a listening socket leaves its file behind
    assert socket_is_stale(path)
    assert not socket_is_stale(tmp_path / "absent.sock")
    (tmp_path / "plain").write_text("not a socket")
    assert not socket_is_stale(tmp_path / "plain")


def test_remove_stale_files_removes_what_a_dead_engine_left_and_nothing_else(
    tmp_path: Path, zombie: subprocess.Popen, sleeper: subprocess.Popen
) -> None:
    exec_root = tmp_path / "exec-root"
    (exec_root / "containerd").mkdir(parents=True)
    containerd_pid = exec_root / "containerd" / "containerd.pid"
    containerd_pid.write_text(str(zombie.pid))
    settings = EngineSettings.from_env({
        "PODIUM_DOCKERD_PIDFILE": str(tmp_path / "docker.pid"),
        "PODIUM_DOCKERD_ARGS": f"--exec-root={exec_root} --data-root {tmp_path / 'data'}",
        "DOCKER_HOST": f"unix://{tmp_path / 'docker.sock'}",
    })
    assert settings.exec_root == exec_root and settings.socket == tmp_path / "docker.sock"
    settings.pidfile.write_text(str(sleeper.pid))
    unix_socket(settings.socket).close()
    said: list[str] = []
    removed = remove_stale_files(settings, said.append)
    assert removed == [settings.pidfile, containerd_pid, settings.socket]
    assert not settings.pidfile.exists() and not containerd_pid.exists() and not settings.socket.exists()
    assert said[0] == f"removing stale {settings.pidfile} (pid {sleeper.pid} is now 'sleep', not dockerd)"
    assert f"pid {zombie.pid} is a zombie" in said[1]
    assert "nothing answers on it" in said[2]
    assert pid_alive(sleeper.pid)  # a stale pid file is removed; the process it named is left alone

    # a live engine's files stay: a pid file naming a running "dockerd", a socket that listens
    proc = fake_proc(tmp_path / "proc", 4242, "dockerd")
    settings.pidfile.write_text("4242")
    server = unix_socket(settings.socket)
    try:
        assert remove_stale_files(settings, said.append, proc) == []
        assert settings.pidfile.exists() and settings.socket.exists()
    finally:
        server.close()


def test_settings_from_the_environment() -> None:
    default = EngineSettings.from_env({})
    assert default.pidfile == Path("/var/run/docker.pid") and default.wait == 60
    assert default.exec_root == Path("/var/run/docker") and default.socket == Path("/var/run/docker.sock")
    tcp = EngineSettings.from_env({"DOCKER_HOST": "tcp://10.0.0.1:2375", "PODIUM_DOCKER_WAIT": "5",
                                   "PODIUM_DOCKERD_ARGS": "--exec-root /tmp/x", "PODIUM_DOCKERD_LOG": "/tmp/d.log"})
    assert tcp.socket is None and tcp.wait == 5 and tcp.exec_root == Path("/tmp/x")
    assert tcp.log == Path("/tmp/d.log")


def test_missing_packages_names_debian_packages() -> None:
    assert missing_packages(lambda tool: None) == ["docker.io", "mmdebstrap", "uidmap"]
    assert missing_packages(lambda tool: None if tool == "dockerd" else "/usr/bin/x") == ["docker.io"]
    assert missing_packages(lambda tool: "/usr/bin/x") == []


def path_with_only(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only these real tools (no apt-get: a machine that is not Debian)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found, f"{tool} is not installed here"
        (folder / tool).symlink_to(found)
    return str(folder)


def test_not_root_and_no_engine_says_the_command_that_fixes_it(tmp_path: Path, monkeypatch) -> None:
    # the real docker CLI, pointed at a socket nothing listens on: the engine does not answer
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'none.sock'}")
    monkeypatch.setenv("PATH", path_with_only(tmp_path, "docker", "dockerd", "mmdebstrap"))
    with pytest.raises(EngineError) as refused:
        ensure_engine(log=lambda _: None, root=False)
    assert refused.value.reason == "the Docker engine does not answer and only root can start it"
    assert refused.value.fix is not None and refused.value.fix.startswith("sudo ")
    assert refused.value.fix.endswith(("podium images engine", "-m podium.worker.engine"))


def test_no_apt_get_says_so_and_installs_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'none.sock'}")
    monkeypatch.setenv("PATH", path_with_only(tmp_path, "docker"))
    with pytest.raises(EngineError, match=r"not a Debian system \(no apt-get\) to install docker.io mmdebstrap uidmap"):
        ensure_engine(log=lambda _: None, root=True)


def test_podium_up_refuses_to_fall_back_to_the_local_executor(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'none.sock'}")
    monkeypatch.setenv("PATH", path_with_only(tmp_path, "docker"))
    with pytest.raises(DemoError) as refused:
        prepare_executor("docker")
    message = str(refused.value)
    # as root: "this is not a Debian system (no apt-get) ..."; as a user: "only root can install ..."
    assert message.startswith("participant code cannot run isolated in Docker here: the Docker engine does "
                              "not answer and ")
    assert "\n  Fix it with: " in message and ("install Docker Engine" in message or "sudo " in message)
    assert "Or run without isolation, on a machine you trust: podium up --executor local" in message
    assert prepare_executor("local") == ["--executor", "local", "--allow-unsafe-local-executor"]
