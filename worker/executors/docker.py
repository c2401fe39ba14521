"""The hardened Docker executor.

Every program runs with no network, a read-only root filesystem plus a size-capped ``/tmp``,
all capabilities dropped, no new privileges, an unprivileged user, process / memory / CPU and
file-size limits, the phase's wall-clock limit, and stdout / stderr read through a bounded
buffer (the engine keeps no log: ``--log-driver none``). With ``cpuset_cpus`` every container
is pinned to the worker's own cores, so workers sharing a host do not slow each other's runs
(``--cpus`` alone caps CPU time, not which cores are shared). Containers are named after their
attempt and labelled with the worker, so leftovers are removed when a worker starts; a lock
(``name_lock``) keeps a second live worker of the same name from removing the first one's.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from urllib.parse import quote

from ..errors import DockerError
from ..name_lock import WorkerNameLock
from .base import CappedLog, ContainerSpec, ExecResult, Executor, supervise

LABEL = "podium.worker"
DEFAULT_SOCKET = "/var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class EngineSocket:
    """The Docker Engine API on its unix socket, for the small calls around a run (remove,
    inspect, kill): about a millisecond each, where each ``docker`` command starts a Go binary
    (15-50 ms, three of them per run). ``docker run`` itself stays the CLI."""

    def __init__(self, path: str, timeout: float = 60) -> None:
        self.path, self.timeout = path, timeout

    def request(self, method: str, path: str) -> tuple[int, bytes]:
        conn = _UnixConnection(self.path, self.timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    @classmethod
    def matching(cls, engine_id: str) -> EngineSocket | None:
        """The socket of the engine the CLI talks to (same engine ID), or None: with a remote
        ``DOCKER_HOST`` or another context the CLI stays the only way in."""
        host = os.environ.get("DOCKER_HOST", "")
        if host and not host.startswith("unix://"):
            return None
        engine = cls(host[len("unix://"):] if host else DEFAULT_SOCKET, timeout=10)
        try:
            status, body = engine.request("GET", "/info")
            if status == 200 and engine_id and json.loads(body).get("ID") == engine_id:
                engine.timeout = 60
                return engine
        except (OSError, ValueError, http.client.HTTPException):
            pass
        return None


class DockerExecutor(Executor):
    def __init__(self, worker_name: str, user: str = "1000:1000", docker: str | None = None,
                 cpuset_cpus: str | None = None) -> None:
        self.worker_name = worker_name
        self.user = user
        self.cpuset_cpus = cpuset_cpus  # e.g. "0-1" or "2,3": the cores every container may use
        self.engine_id = ""
        self.engine_cpus = 0
        self.name_lock: WorkerNameLock | None = None
        self.docker = docker or shutil.which("docker")
        if self.docker is None:
            raise DockerError("The docker command is not installed (apt-get install docker.io).")
        self._engine: EngineSocket | None = None
        self._engine_checked = False
        self._removals: queue.SimpleQueue[tuple[str, str, threading.Event]] = queue.SimpleQueue()
        self._pending: dict[str, threading.Event] = {}
        self._pending_lock = threading.Lock()
        self._remover: threading.Thread | None = None

    def available(self) -> bool:
        out = subprocess.run([self.docker, "info", "--format", "{{.ID}} {{.NCPU}}"], capture_output=True, text=True)
        if out.returncode != 0:
            return False
        engine_id, _, cpus = out.stdout.strip().partition(" ")
        self.engine_id, self.engine_cpus = engine_id, int(cpus) if cpus.isdigit() else 0
        self._engine = EngineSocket.matching(engine_id)
        self._engine_checked = True
        return True

    def _api(self, method: str, path: str) -> tuple[int, bytes] | None:
        """One Engine API call on the socket; None when only the CLI reaches the engine."""
        if not self._engine_checked:
            self.available()
        if self._engine is None:
            return None
        try:
            return self._engine.request(method, path)
        except (OSError, http.client.HTTPException):
            return None  # fall back to the CLI for this call

    def argv(self, spec: ContainerSpec) -> list[str]:
        args = [
            self.docker, "run", "--name", spec.name, "--label", f"{LABEL}={self.worker_name}",
            "--pull", "never", "--network", "none", "--read-only",
            "--tmpfs", f"/tmp:rw,exec,nosuid,nodev,size={spec.tmpfs_mb}m",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", self.user, "--pids-limit", str(spec.pids),
            "--memory", f"{spec.memory_mb}m", "--memory-swap", f"{spec.memory_mb}m",
            "--cpus", str(spec.cpus), *(["--cpuset-cpus", self.cpuset_cpus] if self.cpuset_cpus else []),
            "--ulimit", f"fsize={spec.max_file_bytes}",
            "--ulimit", "nofile=1024:1024", "--ulimit", "core=0",
            "--log-driver", "none", "--workdir", spec.workdir,
            "--env", "PYTHONUNBUFFERED=1", "--env", "HOME=/tmp", "--env", "MPLCONFIGDIR=/tmp",
        ]
        for key, value in spec.env.items():
            args += ["--env", f"{key}={value}"]
        for mount in spec.mounts:
            option = f"type=bind,source={mount.host},target={mount.container}"
            args += ["--mount", option + (",readonly" if mount.read_only else "")]
        return args + [spec.image, *spec.command]

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ExecResult:
        pending = self._pending.get(spec.name)
        if pending is not None:  # the same name ran just before: let its removal end first
            pending.wait(60)
        self.remove(spec.name)
        stdout, stderr = CappedLog(), CappedLog()
        started = time.monotonic()
        proc = subprocess.Popen(self.argv(spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        readers = [stdout.pump(proc.stdout), stderr.pump(proc.stderr)]  # type: ignore[arg-type]
        state = supervise(proc, spec, started, cancel, (stdout, stderr), lambda: self.kill(spec.name))
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(10)
        elapsed = time.monotonic() - started
        container = self.inspect(spec.name)
        if container is not None:
            self._remove_later(spec.name, container.get("Id") or spec.name)
        if container is None:
            message = stderr.tail_text(1000).strip() or f"docker run exited with {proc.returncode}"
            return ExecResult(None, elapsed, stdout, stderr, error=f"the container could not start: {message}")
        return ExecResult(
            exit_code=container["State"].get("ExitCode"),
            elapsed=elapsed,
            stdout=stdout,
            stderr=stderr,
            timed_out=state.timed_out,
            oom_killed=bool(container["State"].get("OOMKilled")),
            cancelled=state.cancelled,
            log_exceeded=state.log_exceeded,
        )

    def inspect(self, name: str) -> dict | None:
        """The container (``Id``, and ``State`` with the exit code and OOM kill), or None when
        there is none."""
        answer = self._api("GET", f"/containers/{quote(name, safe='')}/json")
        if answer is not None:
            status, body = answer
            return json.loads(body) if status == 200 else None
        out = subprocess.run([self.docker, "inspect", "--type", "container", "--format", "{{json .}}", name],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def kill(self, name: str) -> None:
        answer = self._api("POST", f"/containers/{quote(name, safe='')}/kill")
        if answer is None:
            subprocess.run([self.docker, "kill", name], capture_output=True)

    def remove(self, name: str) -> None:
        answer = self._api("DELETE", f"/containers/{quote(name, safe='')}?force=1&v=1")
        if answer is None or answer[0] >= 500:
            subprocess.run([self.docker, "rm", "--force", "--volumes", name], capture_output=True)

    def _remove_later(self, name: str, container: str) -> None:
        """Remove a stopped container off the attempt's path (the engine takes 10-70 ms to delete
        one); anything a stopped worker did not remove is removed by ``cleanup_leftovers``."""
        if self._remover is None or not self._remover.is_alive():
            if self._remover is None:
                atexit.register(self.drain_removals)
            self._remover = threading.Thread(target=self._remove_loop, name="docker-remove", daemon=True)
            self._remover.start()
        done = threading.Event()
        with self._pending_lock:
            self._pending[name] = done
        self._removals.put((name, container, done))

    def drain_removals(self, timeout: float = 30) -> None:
        """Wait for the removals still queued (at exit: a stopped worker leaves no container)."""
        deadline = time.monotonic() + timeout
        with self._pending_lock:
            pending = list(self._pending.values())
        for done in pending:
            done.wait(max(0.0, deadline - time.monotonic()))

    def _remove_loop(self) -> None:
        while True:
            name, container, done = self._removals.get()
            try:
                self.remove(container)
            finally:
                done.set()
                with self._pending_lock:
                    if self._pending.get(name) is done:
                        del self._pending[name]

    def check_cpuset(self) -> None:
        """Refuse a ``cpuset_cpus`` naming cores the engine's host does not have (every run would
        fail to start otherwise)."""
        if not self.cpuset_cpus:
            return
        if not self._engine_checked:
            self.available()
        highest = max(cpuset_cores(self.cpuset_cpus))
        if self.engine_cpus and highest >= self.engine_cpus:
            raise DockerError(f"--cpuset-cpus {self.cpuset_cpus} names core {highest}, but the Docker engine's "
                              f"host has cores 0-{self.engine_cpus - 1}.")

    def cleanup_leftovers(self) -> int:
        """Take this worker's name on the engine (``WorkerNameTaken`` if a live worker holds it),
        then remove the containers a previous run of this name left behind."""
        if self.name_lock is None:
            if not self._engine_checked:
                self.available()
            lock = WorkerNameLock(self.worker_name, self.engine_id or self.docker or "docker")
            lock.acquire()
            self.name_lock = lock
        out = subprocess.run(
            [self.docker, "ps", "--all", "--quiet", "--filter", f"label={LABEL}={self.worker_name}"],
            capture_output=True, text=True,
        )
        ids = out.stdout.split()
        if ids:
            subprocess.run([self.docker, "rm", "--force", *ids], capture_output=True)
        return len(ids)


def cpuset_cores(cpuset: str) -> list[int]:
    """The cores of a cpuset list such as ``0-1`` or ``0,2-3``; ``ValueError`` if it is not one."""
    cores: list[int] = []
    for part in cpuset.split(","):
        match = re.fullmatch(r"([0-9]{1,4})(?:-([0-9]{1,4}))?", part.strip())
        if match is None:
            raise ValueError(f"not a list of CPU numbers such as 0-1 or 0,2: {cpuset!r}")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if high < low:
            raise ValueError(f"a CPU range must go up: {part!r}")
        cores.extend(range(low, high + 1))
    return cores
