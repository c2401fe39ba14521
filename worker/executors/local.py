"""The local executor: the same layout in subprocesses with resource limits, and NO isolation.

For the embedded default on a machine without a Docker engine. Participant code runs as the
worker's own user and can read whatever that user can; the worker refuses to use this executor
unless the configuration says so explicitly, and prints so loudly. Container paths (``/app/...``)
are rewritten in the command line and environment only: programs that hard-code ``/app`` paths
in their code need the Docker executor (CodaLab-style ``$input $output`` commands work).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time

from ..errors import UnsafeExecutorRefused
from .base import CappedLog, ContainerSpec, ExecResult, Executor, supervise

WARNING = (
    "WARNING: the local executor does NOT isolate participant code: it runs as this worker's "
    "user with its network and files. Use it for demos only; use Docker for real competitions."
)


class LocalExecutor(Executor):
    isolates = False

    def __init__(self, allow_unsafe: bool = False) -> None:
        if not allow_unsafe:
            raise UnsafeExecutorRefused(
                "The local executor does not isolate participant code; start the worker with "
                "--allow-unsafe-local-executor to use it anyway."
            )
        print(WARNING, file=sys.stderr)

    @staticmethod
    def _translate(value: str, spec: ContainerSpec) -> str:
        """Rewrite container paths (/app/...) to the host directories mounted there."""
        for mount in sorted(spec.mounts, key=lambda m: -len(m.container)):
            if value == mount.container or value.startswith(mount.container + "/"):
                return mount.host + value[len(mount.container):]
        for mount in spec.mounts:  # a parent of mounts, such as /app/input above ref/ and res/
            if mount.container.startswith(value.rstrip("/") + "/"):
                suffix = mount.container[len(value.rstrip("/")):]
                if mount.host.endswith(suffix):
                    return mount.host[: -len(suffix)]
        return value

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ExecResult:
        argv = [self._translate(a, spec) for a in spec.command]
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        cwd = self._translate(spec.workdir, spec)
        memory = spec.memory_mb * 1024 * 1024

        def limits() -> None:
            os.setsid()
            resource.setrlimit(resource.RLIMIT_AS, (memory * 2, memory * 2))
            resource.setrlimit(resource.RLIMIT_FSIZE, (spec.max_file_bytes, spec.max_file_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1", "HOME": cwd,
               **{k: self._translate(v, spec) for k, v in spec.env.items()}}
        stdout, stderr = CappedLog(live=spec.live), CappedLog(live=spec.live)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    preexec_fn=limits)  # noqa: PLW1509
        except OSError as e:
            return ExecResult(None, 0.0, stdout, stderr, error=f"the program could not start: {e}")
        readers = [stdout.pump(proc.stdout), stderr.pump(proc.stderr)]  # type: ignore[arg-type]

        def kill() -> None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # the whole group ended meanwhile

        state = supervise(proc.wait, spec, started, cancel, (stdout, stderr), kill)
        proc.wait()
        for reader in readers:
            reader.join(10)
        code = proc.returncode
        return ExecResult(code if code >= 0 else 128 - code, time.monotonic() - started, stdout, stderr,
                          timed_out=state.timed_out, cancelled=state.cancelled, log_exceeded=state.log_exceeded)
