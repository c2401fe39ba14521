"""The hardened Docker executor, driving the engine through its API with the ``docker`` package.

Every program runs with no network, a read-only root filesystem plus a size-capped ``/tmp``,
all capabilities dropped, no new privileges, an unprivileged user, process / memory / CPU and
file-size limits, the phase's wall-clock limit, and stdout / stderr read from the container's
attach stream into a bounded buffer (the engine keeps no log: log driver ``none``). With
``cpuset_cpus`` every container is pinned to the worker's own cores, so workers sharing a host do
not slow each other's runs (``nano_cpus`` alone caps CPU time, not which cores are shared).
Containers are named after their attempt and labelled with the worker, so leftovers are removed
when a worker starts; a lock (``name_lock``) keeps a second live worker of the same name from
removing the first one's. Nothing is ever pulled: an image the engine lacks is ``ImageMissing``.

The engine is found as the ``docker`` command finds it (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``; the local socket by default). What the engine or the connection to it
raises becomes a ``DockerError`` of ``worker/errors.py`` (``engine_error``).
"""

from __future__ import annotations

import atexit
import logging
import queue
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

import docker
import docker.errors
import requests
from docker.types import HostConfig, LogConfig, Ulimit
from docker.types import Mount as DockerMount

from ..errors import DockerError, EngineRefused, EngineUnreachable, ImageMissing
from ..name_lock import WorkerNameLock
from .base import CappedLog, ContainerSpec, ExecResult, Executor, supervise

log = logging.getLogger("podium.worker")

LABEL = "podium.worker"
#: seconds one engine call may take (a run's wait and its output stream have no such bound)
ENGINE_TIMEOUT = 60
#: what the SDK and its HTTP transport raise: an engine's answer or a connection's failure
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


def engine_error(error: Exception, what: str) -> DockerError:
    """The worker error an SDK error means; ``what`` names the request, e.g. ``remove the
    container podium-1-scoring``."""
    if isinstance(error, docker.errors.ImageNotFound):
        return ImageMissing(f"The Docker engine could not {what}: {error.explanation}. Workers never pull: build "
                            "the image with `podium images build`, or map its name to a local image.")
    if isinstance(error, docker.errors.APIError):
        return EngineRefused(f"The Docker engine refused to {what}: {error.explanation or error}")
    return EngineUnreachable(f"The Docker engine does not answer (while trying to {what}): {error}")


def connect(base_url: str | None = None) -> tuple[docker.APIClient, dict[str, Any]]:
    """A client of the engine at ``base_url`` (default: as the ``docker`` command finds it) and the
    engine's ``info``; ``EngineUnreachable`` when it does not answer. The API version is the
    engine's own (Debian's engine speaks an older one than the SDK's default)."""
    try:
        if base_url:
            client = docker.APIClient(base_url=base_url, version="auto", timeout=ENGINE_TIMEOUT)
        else:
            client = docker.from_env(version="auto", timeout=ENGINE_TIMEOUT).api
        return client, client.info()
    except ENGINE_ERRORS as e:
        raise engine_error(e, "report what it is") from None


def pump_frames(frames: Iterable[tuple[bytes | None, bytes | None]], stdout: CappedLog,
                stderr: CappedLog) -> threading.Thread:
    """Read a container's demultiplexed attach stream to its end in a thread (chunks come as the
    program writes them, so a live tail follows it)."""

    def run() -> None:
        try:
            for out, err in frames:
                if out:
                    stdout.feed(out)
                if err:
                    stderr.feed(err)
        except (OSError, ValueError):
            pass  # the stream was closed under the reader: the run is over

    thread = threading.Thread(target=run, name="docker-output", daemon=True)
    thread.start()
    return thread


class DockerExecutor(Executor):
    def __init__(self, worker_name: str, user: str = "1000:1000", base_url: str | None = None,
                 cpuset_cpus: str | None = None) -> None:
        self.worker_name = worker_name
        self.user = user
        self.base_url = base_url  # None: DOCKER_HOST, else the local socket
        self.cpuset_cpus = cpuset_cpus  # e.g. "0-1" or "2,3": the cores every container may use
        self.engine_id = ""
        self.engine_cpus = 0
        self.problem = ""  # why the engine did not answer, when ``available`` said so
        self.name_lock: WorkerNameLock | None = None
        self._client: docker.APIClient | None = None
        self._removals: queue.SimpleQueue[tuple[str, str, threading.Event]] = queue.SimpleQueue()
        self._pending: dict[str, threading.Event] = {}
        self._pending_lock = threading.Lock()
        self._remover: threading.Thread | None = None

    # --- the engine -----------------------------------------------------------------------------

    def available(self) -> bool:
        """Whether the engine answers now (``problem`` says why not); learns its ID and cores."""
        try:
            client, info = connect(self.base_url)
        except EngineUnreachable as e:
            self.problem = str(e)
            return False
        if self._client is not None:
            self._client.close()
        self._client = client
        self.engine_id, self.engine_cpus = info.get("ID") or "", int(info.get("NCPU") or 0)
        return True

    @property
    def api(self) -> docker.APIClient:
        """The engine's client; ``EngineUnreachable`` if it does not answer."""
        if self._client is None and not self.available():
            raise EngineUnreachable(self.problem)
        assert self._client is not None
        return self._client

    def host_config(self, spec: ContainerSpec) -> HostConfig:
        """Every limit and hardening option of a run, as the engine's ``HostConfig``."""
        return HostConfig(
            version=self.api.api_version,
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={spec.tmpfs_mb}m"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=spec.pids,
            mem_limit=spec.memory_mb * 1024 * 1024,
            memswap_limit=spec.memory_mb * 1024 * 1024,  # the same: no swap beyond the memory limit
            nano_cpus=int(spec.cpus * 1e9),
            cpuset_cpus=self.cpuset_cpus,
            ulimits=[Ulimit(name="fsize", soft=spec.max_file_bytes, hard=spec.max_file_bytes),
                     Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0, hard=0)],
            log_config=LogConfig(type="none"),
            mounts=[DockerMount(target=m.container, source=m.host, type="bind", read_only=m.read_only)
                    for m in spec.mounts],
        )

    def create_options(self, spec: ContainerSpec) -> dict[str, Any]:
        """The arguments of the engine's container create for ``spec``."""
        env = {"PYTHONUNBUFFERED": "1", "HOME": "/tmp", "MPLCONFIGDIR": "/tmp", **spec.env}
        return {
            "image": spec.image, "command": spec.command, "name": spec.name, "user": self.user,
            "working_dir": spec.workdir, "environment": [f"{k}={v}" for k, v in env.items()],
            "labels": {LABEL: self.worker_name},
            "host_config": self.host_config(spec),
        }

    # --- a run ----------------------------------------------------------------------------------

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ExecResult:
        pending = self._pending.get(spec.name)
        if pending is not None:  # the same name ran just before: let its removal end first
            pending.wait(60)
        self.remove(spec.name)
        stdout, stderr = CappedLog(live=spec.live), CappedLog(live=spec.live)
        started = time.monotonic()

        def not_started(error: Exception, what: str) -> ExecResult:
            problem = engine_error(error, what)
            if isinstance(problem, EngineUnreachable):
                raise problem from None  # not this program's doing: the attempt goes back to the platform
            return ExecResult(None, time.monotonic() - started, stdout, stderr,
                              error=f"the container could not start: {problem}")

        try:
            container = self.api.create_container(**self.create_options(spec))["Id"]
        except ENGINE_ERRORS as e:
            return not_started(e, f"create the container {spec.name} from {spec.image}")
        try:
            # attached before the start, so not a byte of output is missed
            stream = self.api.attach(container, stdout=True, stderr=True, stream=True, demux=True)
        except ENGINE_ERRORS as e:
            self._remove_later(spec.name, container)
            return not_started(e, f"attach to the container {spec.name}")
        reader = pump_frames(stream, stdout, stderr)
        try:
            self.api.start(container)
        except ENGINE_ERRORS as e:
            stream.close()
            self._remove_later(spec.name, container)
            return not_started(e, f"start the container {spec.name}")
        state = supervise(lambda: self.api.wait(container, timeout=None), spec, started, cancel, (stdout, stderr),
                          lambda: self.kill(container))
        self._wait_stopped(container)
        reader.join(10)
        stream.close()
        elapsed = time.monotonic() - started
        found = self.inspect(container)
        self._remove_later(spec.name, container)
        if found is None:
            return ExecResult(None, elapsed, stdout, stderr, error=f"the container {spec.name} vanished while it ran")
        return ExecResult(
            exit_code=found["State"].get("ExitCode"),
            elapsed=elapsed,
            stdout=stdout,
            stderr=stderr,
            timed_out=state.timed_out,
            oom_killed=bool(found["State"].get("OOMKilled")),
            cancelled=state.cancelled,
            log_exceeded=state.log_exceeded,
        )

    def _wait_stopped(self, container: str, timeout: float = 30) -> None:
        """Wait until a container (maybe just killed) has stopped, at most ``timeout`` seconds."""
        try:
            self.api.wait(container, timeout=timeout)
        except docker.errors.NotFound:
            pass
        except requests.exceptions.ReadTimeout:
            log.warning("container %s still runs %.0f s after it was killed", container[:12], timeout)
        except ENGINE_ERRORS as e:
            raise engine_error(e, f"wait for the container {container[:12]}") from None

    def inspect(self, name: str) -> dict | None:
        """The container (``Id``, ``HostConfig``, and ``State`` with the exit code and OOM kill), or
        None when there is none."""
        try:
            return self.api.inspect_container(name)
        except docker.errors.NotFound:
            return None
        except ENGINE_ERRORS as e:
            raise engine_error(e, f"inspect the container {name}") from None

    def kill(self, name: str) -> None:
        try:
            self.api.kill(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:  # 409: it stopped on its own meanwhile
            if e.status_code != 409:
                log.warning("%s", engine_error(e, f"kill the container {name}"))
        except ENGINE_ERRORS as e:
            raise engine_error(e, f"kill the container {name}") from None

    def remove(self, name: str) -> None:
        """Remove a container and its anonymous volumes, running or not; none is fine."""
        try:
            self.api.remove_container(name, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:  # 409: a removal of it is already under way
            if e.status_code != 409:
                raise engine_error(e, f"remove the container {name}") from None
        except ENGINE_ERRORS as e:
            raise engine_error(e, f"remove the container {name}") from None

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
            except DockerError as e:  # left for cleanup_leftovers at the next start
                log.warning("%s", e)
            finally:
                done.set()
                with self._pending_lock:
                    if self._pending.get(name) is done:
                        del self._pending[name]

    # --- start-up -------------------------------------------------------------------------------

    def check_cpuset(self) -> None:
        """Refuse a ``cpuset_cpus`` naming cores the engine's host does not have (every run would
        fail to start otherwise)."""
        if not self.cpuset_cpus:
            return
        if self._client is None:
            self.available()
        highest = max(cpuset_cores(self.cpuset_cpus))
        if self.engine_cpus and highest >= self.engine_cpus:
            raise DockerError(f"--cpuset-cpus {self.cpuset_cpus} names core {highest}, but the Docker engine's "
                              f"host has cores 0-{self.engine_cpus - 1}.")

    def cleanup_leftovers(self) -> int:
        """Take this worker's name on the engine (``WorkerNameTaken`` if a live worker holds it),
        then remove the containers a previous run of this name left behind."""
        api = self.api
        if self.name_lock is None:
            lock = WorkerNameLock(self.worker_name, self.engine_id or self.base_url or "docker")
            lock.acquire()
            self.name_lock = lock
        try:
            found = api.containers(all=True, quiet=True, filters={"label": f"{LABEL}={self.worker_name}"})
        except ENGINE_ERRORS as e:
            raise engine_error(e, f"list the containers of worker {self.worker_name}") from None
        for container in found:
            self.remove(container["Id"])
        return len(found)


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
