"""One live worker per name and container engine: a worker removes the containers its name left
behind when it starts, and those must never be a live namesake's.

The lock is an ``flock`` on a file named after the engine's ID and the worker's name, held for
the life of the worker process: the kernel releases it when the process ends, however it ends,
so a worker restarted after a crash takes it at once, and a second live worker of the same name
is refused. The files live in the host's temporary directory, so the guard covers workers that
share that directory (the same host and mount namespace); workers on other hosts that reach
one engine through ``DOCKER_HOST`` must be given distinct names.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile

from .errors import WorkerNameTaken


class WorkerNameLock:
    """Held while this process is the worker ``name`` on the engine ``engine_id``."""

    def __init__(self, name: str, engine_id: str, lock_dir: str | None = None) -> None:
        self.name, self.engine_id = name, engine_id
        digest = hashlib.sha256(f"{engine_id}\0{name}".encode()).hexdigest()[:32]
        self.path = os.path.join(lock_dir or tempfile.gettempdir(), f"podium-worker-{digest}.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``WorkerNameTaken`` naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WorkerNameTaken(
                f"A worker named '{self.name}' is already running on this Docker engine ({holder}). "
                "Two workers of one name would remove each other's containers: give this one another "
                "--name, or stop the other first."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
