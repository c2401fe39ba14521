"""`podium service` as commands, the way a site runs several processes (``--processes``) and
several replicas: each command has its own port and data directory and shares only the
PostgreSQL database, the broker's virtual host, the storage directory, the secret key and the
queue token with the others. Their time is moved through one clock file
(``PODIUM_CLOCK_FILE``, read by ``podium.server.clock``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
PODIUM = Path(sys.executable).parent / "podium"


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` forked (Linux's /proc), none once it has ended."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


class FileClock:
    """The services' time, written to the clock file they all read (moved, never slept)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now: datetime | None = None
        self.reset()

    def _write(self, text: str) -> None:
        # a new file renamed over the old one: every process sees it whole, at its next read
        fresh = self.path.with_suffix(".new")
        fresh.write_text(text)
        os.replace(fresh, self.path)

    def set(self, moment: datetime) -> None:
        self.now = moment
        self._write(moment.isoformat())

    def advance(self, **delta: float) -> None:
        from podium.server.clock import utcnow

        self.set((self.now or utcnow()) + timedelta(**delta))

    def reset(self) -> None:
        self.now = None
        self._write("")


class ServiceCommand:
    """One `podium service` command (one replica), on a port of its own or shared (reuse_port)."""

    def __init__(self, name: str, *, hub: Any, db_url: str, broker_url: str, port: int, data_dir: Path,
                 storage_root: Path, clock_file: Path, processes: int = 1, reuse_port: bool = False,
                 options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.port = port
        self.processes = processes
        self.log = ROOT / "test-artifacts" / f"service-{name}.log"
        settings = {"creator_group": "creators", "auth_cache_max_age": 0, "lease_seconds": 6,
                    "reaper_interval": 1.0, "dispatch_interval": 0.5, **(options or {})}
        self.argv = [str(PODIUM), "service", f"--port={port}", f"--processes={processes}", "--log-level=WARN",
                     *(["--reuse-port"] if reuse_port else []),
                     *(f"--PodiumService.{key}={value}" for key, value in settings.items())]
        self.env = {**os.environ, "JUPYTERHUB_API_URL": hub.hub_api_url, "JUPYTERHUB_API_TOKEN": hub.service_api_token,
                    "JUPYTERHUB_SERVICE_NAME": hub.service_name, "PODIUM_DB_URL": db_url,
                    "PODIUM_BROKER_URL": broker_url, "PODIUM_DATA_DIR": str(data_dir),
                    "PODIUM_STORAGE_ROOT": str(storage_root), "PODIUM_SECRET_KEY": "test-secret-key",
                    "PODIUM_QUEUE_TOKEN": "test-queue-token", "PODIUM_CLOCK_FILE": str(clock_file)}
        for inherited in ("JUPYTERHUB_SERVICE_URL", "JUPYTERHUB_SERVICE_PREFIX", "PODIUM_PUBLIC_URL"):
            self.env.pop(inherited, None)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/podium/"

    @property
    def api_url(self) -> str:
        return self.url + "api/v1"

    def start(self, timeout: float = 60) -> ServiceCommand:
        """Start the command; return once its processes are forked and the port answers (on a
        shared port, connections the kernel gives the command wait in its backlog meanwhile)."""
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if (self.processes == 1 or len(self.children()) == self.processes) and requests.get(
                        self.api_url + "/", timeout=2, headers={"Connection": "close"}).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s: {self.log.read_text()[-3000:]}")

    def children(self) -> list[int]:
        """The service processes the command forked (none when it serves from one process)."""
        assert self.proc is not None
        return child_pids(self.proc.pid)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the command only (as JupyterHub stops a managed service); it stops the rest."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise
