"""The test suite's JupyterHub: ``podium.hub.launcher.HubProcess`` in a temp dir, proxy included."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import jupyterhub
import requests
from podium.hub.launcher import HubError, HubProcess, pid_alive  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PROXY = ROOT / ".cache" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
ENSURE_NODE_TOOLS = ROOT / "scripts" / "ensure-node-tools.sh"


def ensure_proxy() -> str:
    """configurable-http-proxy: on PATH, in the project's .cache/node, or installed there by npm."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    if not LOCAL_PROXY.exists():
        done = subprocess.run(["bash", str(ENSURE_NODE_TOOLS)], capture_output=True, text=True)
        if done.returncode != 0 or not LOCAL_PROXY.exists():
            raise HubError(f"{ENSURE_NODE_TOOLS} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return str(LOCAL_PROXY)


class HubHarness(HubProcess):
    """A hub for tests, with Podium registered as an external service at ``service_url``.

    Everything else (config, users, groups, tokens) is ``HubProcess``; this adds the temporary
    directory, the proxy from ``.cache/node``, a start that returns only once the proxy routes to
    the hub, a stop that also ends an orphaned proxy, the measured start-up time, and a copy of
    the hub's log in ``test-artifacts/``.

    ``service_wait``: seconds the hub waits at start-up for Podium to answer at ``service_url``
    before it adds its proxy routes (JupyterHub >= 6 ``timeout`` of a service, default 30 there).
    Tests start the hub before the service, so the harness does not wait.
    """

    def __init__(
        self,
        service_url: str,
        *,
        artifact_name: str = "jupyterhub.log",
        service_wait: int = 0,
        **kwargs: Any,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="podium-hub-")
        kwargs.setdefault("creator_group", "creators")
        super().__init__(self._tmp.name, service_url=service_url, project_dir=ROOT, **kwargs)
        self.artifact_name = artifact_name
        self.service_wait = service_wait
        self.startup_seconds: float | None = None
        self._proxy_pid: int | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/health"

    def config_source(self) -> str:
        source = super().config_source()
        if int(jupyterhub.__version__.split(".")[0]) >= 6:
            source += (
                "for _service in c.JupyterHub.services:\n"
                f"    _service.setdefault('timeout', {self.service_wait})\n"
            )
        return source

    def start(self, timeout: float = 30) -> None:
        """Start the hub; return once its API answers and the proxy routes ``/hub/`` to it."""
        ensure_proxy()
        began = time.monotonic()
        super().start(timeout)
        self._proxy_pid = self.proxy_pid
        # the hub answers on its own port before it has told the proxy its routes
        while not self._proxied():
            if time.monotonic() - began > timeout:
                self.stop()
                raise HubError(
                    f"The proxy did not route to the hub within {timeout:.0f} s; see "
                    f"{self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - began
        self._proxy_pid = self.proxy_pid

    def _proxied(self) -> bool:
        try:
            return requests.get(f"{self.public_url}/hub/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, timeout: float = 15) -> None:
        """Stop the hub's process group, then the proxy if the hub could not stop it itself."""
        super().stop(timeout)
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        if self.log_path.exists():
            (artifacts / self.artifact_name).write_text(self.log_path.read_text(errors="replace"))

    def __enter__(self) -> HubHarness:
        self.start()
        return self
