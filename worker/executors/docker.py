"""The hardened Docker executor.

Every program runs with no network, a read-only root filesystem plus a size-capped ``/tmp``,
all capabilities dropped, no new privileges, an unprivileged user, process / memory / CPU and
file-size limits, the phase's wall-clock limit, and stdout / stderr read through a bounded
buffer (the engine keeps no log: ``--log-driver none``). Containers are named after their
attempt and labelled with the worker, so leftovers are removed when a worker starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

from .base import CappedLog, ContainerSpec, ExecResult, Executor

LABEL = "podium.worker"


class DockerError(RuntimeError):
    """The engine is missing or refused a request."""


class DockerExecutor(Executor):
    def __init__(self, worker_name: str, user: str = "1000:1000", docker: str | None = None) -> None:
        self.worker_name = worker_name
        self.user = user
        self.docker = docker or shutil.which("docker")
        if self.docker is None:
            raise DockerError("The docker command is not installed (apt-get install docker.io).")

    def available(self) -> bool:
        return subprocess.run([self.docker, "info"], capture_output=True).returncode == 0

    def argv(self, spec: ContainerSpec) -> list[str]:
        args = [
            self.docker, "run", "--name", spec.name, "--label", f"{LABEL}={self.worker_name}",
            "--pull", "never", "--network", "none", "--read-only",
            "--tmpfs", f"/tmp:rw,exec,nosuid,nodev,size={spec.tmpfs_mb}m",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", self.user, "--pids-limit", str(spec.pids),
            "--memory", f"{spec.memory_mb}m", "--memory-swap", f"{spec.memory_mb}m",
            "--cpus", str(spec.cpus), "--ulimit", f"fsize={spec.max_file_bytes}",
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
        self.remove(spec.name)
        stdout, stderr = CappedLog(), CappedLog()
        started = time.monotonic()
        proc = subprocess.Popen(self.argv(spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        readers = [stdout.pump(proc.stdout), stderr.pump(proc.stderr)]  # type: ignore[arg-type]
        timed_out = cancelled = log_exceeded = False
        while proc.poll() is None:
            if time.monotonic() - started > spec.time_limit:
                timed_out = True
            elif cancel.is_set():
                cancelled = True
            elif stdout.total + stderr.total > spec.max_log_bytes:
                log_exceeded = True
            if timed_out or cancelled or log_exceeded:
                self.kill(spec.name)
                break
            time.sleep(0.1)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(10)
        elapsed = time.monotonic() - started
        state = self.inspect(spec.name)
        self.remove(spec.name)
        if state is None:
            message = stderr.tail_text(1000).strip() or f"docker run exited with {proc.returncode}"
            return ExecResult(None, elapsed, stdout, stderr, error=f"the container could not start: {message}")
        return ExecResult(
            exit_code=state.get("ExitCode"),
            elapsed=elapsed,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            oom_killed=bool(state.get("OOMKilled")),
            cancelled=cancelled,
            log_exceeded=log_exceeded,
        )

    def inspect(self, name: str) -> dict | None:
        out = subprocess.run([self.docker, "inspect", "--format", "{{json .State}}", name], capture_output=True, text=True)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def kill(self, name: str) -> None:
        subprocess.run([self.docker, "kill", name], capture_output=True)

    def remove(self, name: str) -> None:
        subprocess.run([self.docker, "rm", "--force", "--volumes", name], capture_output=True)

    def cleanup_leftovers(self) -> int:
        out = subprocess.run(
            [self.docker, "ps", "--all", "--quiet", "--filter", f"label={LABEL}={self.worker_name}"],
            capture_output=True, text=True,
        )
        ids = out.stdout.split()
        if ids:
            subprocess.run([self.docker, "rm", "--force", *ids], capture_output=True)
        return len(ids)
