"""What every executor takes and gives: a container spec in, an exit status and capped logs out."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

#: how often a running program's time limit, cancel flag and log size are checked; its exit is
#: seen at once (a thread waits for it), not at the next check
CHECK_INTERVAL = 0.05


def as_text(data: bytes) -> str:
    """Program output as text: undecodable bytes and NUL characters (which PostgreSQL refuses in
    text, and participant code may print on purpose) become U+FFFD."""
    return data.decode(errors="replace").replace("\x00", "\ufffd")


@dataclass(frozen=True)
class Mount:
    host: str
    container: str
    read_only: bool = True


@dataclass
class ContainerSpec:
    """One program run: the limits are the platform's, the command the organizer's."""

    name: str
    image: str
    command: list[str]
    mounts: list[Mount]
    workdir: str = "/app/program"
    env: dict[str, str] = field(default_factory=dict)
    time_limit: float = 600.0
    memory_mb: int = 2048
    cpus: float = 1.0
    pids: int = 256
    tmpfs_mb: int = 256
    max_file_bytes: int = 1024**3
    max_log_bytes: int = 32 * 1024 * 1024
    live: LiveTail | None = None  # where the output also goes while it runs (the participant's code only)


class LiveTail:
    """The last ``size`` bytes a running program wrote to stdout and stderr together, in the order
    they came, read from another thread while it runs (the live log its participant follows)."""

    def __init__(self, size: int = 8000) -> None:
        self.size = size
        self._data = bytearray()
        self._lock = threading.Lock()
        self._changed = False

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            self._data += chunk
            if len(self._data) > self.size:
                del self._data[: len(self._data) - self.size]
            self._changed = True

    def take(self) -> str | None:
        """The tail as text if it changed since the last take, else None."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            return as_text(self._data)


class CappedLog:
    """Keeps the first ``head`` and the last ``tail`` bytes of a stream, counting the rest, so a
    log flood costs bounded memory and the end (where errors are) is never lost. Each chunk also
    goes to ``live``, when given."""

    def __init__(self, head: int = 64 * 1024, tail: int = 64 * 1024, live: LiveTail | None = None) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.live = live

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.live is not None:
            self.live.feed(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def truncated(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        middle = f"\n[... {self.truncated} bytes omitted ...]\n" if self.truncated > 0 else ""
        return as_text(self.head) + middle + as_text(self.tail)

    def tail_text(self, size: int = 4000) -> str:
        data = bytes(self.head + self.tail) if self.truncated <= 0 else bytes(self.tail)
        return as_text(data[-size:])

    def pump(self, stream: IO[bytes]) -> threading.Thread:
        """Read ``stream`` to its end in a thread."""

        # read1: what the pipe holds now, not a full 64 KiB, so a live tail sees lines as they come
        read = getattr(stream, "read1", stream.read)

        def run() -> None:
            while chunk := read(65536):
                self.feed(chunk)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@dataclass
class Supervision:
    """Why a supervised process stopped early, if it did."""

    timed_out: bool = False
    cancelled: bool = False
    log_exceeded: bool = False


def supervise(wait: Callable[[], object], spec: ContainerSpec, started: float, cancel: threading.Event,
              logs: tuple[CappedLog, CappedLog], stop: Callable[[], None]) -> Supervision:
    """Wait for the program to exit (``wait`` returns when it has: a process's ``wait``, the
    engine's wait on a container), calling ``stop`` once on the time limit, a cancel or a log flood.

    A thread blocks in ``wait()`` and sets an event, so the exit is noticed within microseconds;
    a sleep-and-poll loop cost half its interval on average on every run (50 ms per Docker run).
    """
    exited = threading.Event()

    def waiter() -> None:
        try:
            wait()
        except Exception:  # an engine that stopped answering: the caller finds out when it asks
            pass
        finally:
            exited.set()

    threading.Thread(target=waiter, daemon=True).start()
    state = Supervision()
    while True:
        left = spec.time_limit - (time.monotonic() - started)
        if exited.wait(max(0.0, min(CHECK_INTERVAL, left))):
            return state
        if time.monotonic() - started > spec.time_limit:
            state.timed_out = True
        elif cancel.is_set():
            state.cancelled = True
        elif logs[0].total + logs[1].total > spec.max_log_bytes:
            state.log_exceeded = True
        if state.timed_out or state.cancelled or state.log_exceeded:
            stop()
            return state


@dataclass
class ExecResult:
    exit_code: int | None
    elapsed: float
    stdout: CappedLog
    stderr: CappedLog
    timed_out: bool = False
    oom_killed: bool = False
    cancelled: bool = False
    log_exceeded: bool = False
    error: str | None = None  # the executor itself failed (image missing, engine down)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (
            self.timed_out or self.oom_killed or self.cancelled or self.log_exceeded or self.error
        )


class Executor(ABC):
    """Runs a ContainerSpec to completion, a time limit, or a cancel."""

    isolates = True

    @abstractmethod
    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ExecResult: ...

    def cleanup_leftovers(self) -> int:
        """Remove what a previous, crashed worker left behind; returns how many."""
        return 0
