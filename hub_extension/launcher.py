"""Run a real JupyterHub (with configurable-http-proxy) as a child process, with Podium registered.

Used by ``podium up`` and by the test suite: one code path starts the hub the same way both
times. The hub gets a generated ``jupyterhub_config.py`` in its own directory, a setup service
whose token may create users, groups and tokens (so a script can prepare demo or test users),
and the Podium service entry and roles from ``podium.hub.service``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from ..worker.engine import pid_alive
from .service import SERVICE_NAME, access_scope

__all__ = ["HubError", "HubProcess", "free_port", "find_proxy", "pid_alive"]

SETUP_SERVICE = "podium-setup"


class HubError(RuntimeError):
    """The hub did not start or refused a setup call; the message says where to look."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_proxy(project_dir: Path | None = None) -> str:
    """configurable-http-proxy from PATH, the project's .cache/node, or ~/.cache/podium/node,
    installing it there with npm when it is nowhere."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    candidates = []
    if project_dir is not None:
        candidates.append(project_dir / ".cache" / "node")
    candidates.append(Path.home() / ".cache" / "podium" / "node")
    for prefix in candidates:
        binary = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
        if binary.exists():
            return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        raise HubError(
            "JupyterHub needs configurable-http-proxy, and npm is not installed to fetch it: "
            "install Node.js and npm (apt-get install npm), or `npm install -g configurable-http-proxy`."
        )
    prefix = candidates[-1]
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix), "configurable-http-proxy@5"],
        check=True,
    )
    return str(prefix / "node_modules" / ".bin" / "configurable-http-proxy")


class HubProcess:
    """A JupyterHub child process with Podium registered as a service."""

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        service_url: str,
        service_managed: bool = False,
        service_environment: dict[str, str] | None = None,
        service_args: list[str] | None = None,
        port: int | None = None,
        admin_users: Iterable[str] = (),
        creator_group: str = "podium-creators",
        password: str | None = None,
        project_dir: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.service_name = SERVICE_NAME
        self.service_url = service_url
        self.service_api_token = secrets.token_hex(32)
        self.setup_token = secrets.token_hex(32)
        self.service_managed = service_managed
        self.service_environment = service_environment or {}
        self.service_args = service_args or []
        self.admin_users = list(admin_users)
        self.creator_group = creator_group
        self.password = password
        self.project_dir = project_dir
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterhub.log"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {self.setup_token}"

    # --- addresses -------------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub_api_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    @property
    def service_prefix(self) -> str:
        return f"/services/{self.service_name}/"

    def env_for_service(self) -> dict[str, str]:
        """The environment a hub sets for a managed service, for running one by hand."""
        return {
            "JUPYTERHUB_API_URL": self.hub_api_url,
            "JUPYTERHUB_API_TOKEN": self.service_api_token,
            "JUPYTERHUB_SERVICE_NAME": self.service_name,
            "JUPYTERHUB_SERVICE_PREFIX": self.service_prefix,
            "JUPYTERHUB_SERVICE_URL": self.service_url,
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_HOST": "",
            "JUPYTERHUB_CLIENT_ID": f"service-{self.service_name}",
        }

    @property
    def proxy_pid(self) -> int | None:
        """The proxy's pid from the hub's pid file (the hub starts it in a session of its own)."""
        try:
            return int((self.workdir / "jupyterhub-proxy.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    # --- configuration ---------------------------------------------------------------------

    def config_source(self) -> str:
        """A ``jupyterhub_config.py``: the hub's own settings here, Podium's from
        ``podium.hub.service.configure`` (what a site adds to its own configuration), plus a setup
        service that may create users, groups and tokens."""
        podium = {
            "url": self.service_url,
            "managed": self.service_managed,
            "api_token": self.service_api_token,
            "environment": self.service_environment,
            "extra_args": self.service_args,
            "public_url": self.public_url,
            "creator_group": self.creator_group,
        }
        lines = [
            "# Generated by podium.hub.launcher; edit the code, not this file.",
            "from podium.hub.service import configure",
            "c.JupyterHub.ip = '127.0.0.1'",
            f"c.JupyterHub.port = {self.port}",
            "c.JupyterHub.hub_ip = '127.0.0.1'",
            f"c.JupyterHub.hub_port = {self.hub_port}",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.proxy_api_port}'",
            f"c.ConfigurableHTTPProxy.command = [{find_proxy(self.project_dir)!r}]",
            f"c.JupyterHub.db_url = 'sqlite:///{self.workdir / 'jupyterhub.sqlite'}'",
            f"c.JupyterHub.cookie_secret_file = '{self.workdir / 'cookie_secret'}'",
            "c.JupyterHub.authenticator_class = 'dummy'",
            f"c.DummyAuthenticator.password = {self.password or ''!r}",
            f"c.Authenticator.admin_users = set({self.admin_users!r})",
            "c.Authenticator.allow_all = True",
            "c.JupyterHub.cleanup_servers = True",
            "c.JupyterHub.cleanup_proxy = True",
            "c.Spawner.args = ['--allow-root']",
            # users are hub accounts, not system accounts: each gets JupyterLab from this
            # environment, run as this user, with a home folder under the hub's directory
            "c.JupyterHub.spawner_class = 'simple'",
            f"c.SimpleLocalProcessSpawner.home_dir_template = {str(self.workdir / 'homes' / '{username}')!r}",
            f"c.Spawner.cmd = [{str(Path(sys.executable).parent / 'jupyterhub-singleuser')!r}]",
            "c.Spawner.default_url = '/lab'",
            "c.Spawner.start_timeout = 120",
            "c.Spawner.http_timeout = 120",
            # the setup service prepares users (and may make admins, which needs the admin role)
            f"c.JupyterHub.services = [{{'name': {SETUP_SERVICE!r}, 'api_token': {self.setup_token!r}}}]",
            f"c.JupyterHub.load_roles = [{{'name': 'admin', 'services': [{SETUP_SERVICE!r}]}}]",
            f"configure(c, **{podium!r})",
        ]
        return "\n".join(lines) + "\n"

    # --- life --------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        config = self.workdir / "jupyterhub_config.py"
        config.unlink(missing_ok=True)
        # owner-only: it holds the setup service's token, a hub admin while this hub runs
        with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(self.config_source())
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HubError(f"JupyterHub exited with {self.process.returncode}; see {self.log_path}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.hub_api_url}/", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise HubError(f"JupyterHub did not answer within {timeout:.0f} s; see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        """Stop the hub, then its proxy if the hub could not (it runs in a session of its own)."""
        proxy = self.proxy_pid or getattr(self, "_proxy_pid", None)
        self._stop_hub(timeout)
        if proxy is not None and pid_alive(proxy):
            self._end_proxy(proxy)

    def _stop_hub(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(5)

    @staticmethod
    def _end_proxy(pid: int) -> None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if cmdline and b"configurable-http-proxy" not in cmdline:
            return  # the pid was reused by something that is not ours
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)  # the proxy leads its own session: pgid == pid
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if not pid_alive(pid):
                    return
                time.sleep(0.05)

    def __enter__(self) -> HubProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- setup calls (users, groups, tokens) -------------------------------------------------

    def _call(self, method: str, path: str, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> Any:
        response = self.http.request(method, self.hub_api_url + path, timeout=30, **kwargs)
        if response.status_code not in ok:
            raise HubError(f"{method} {path} → {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def create_user(self, name: str, admin: bool = False, groups: Iterable[str] = ()) -> None:
        self._call("POST", f"/users/{name}", ok=(201, 409))
        if admin:
            self.set_admin(name, True)
        for group in groups:
            self.add_to_group(group, [name])

    def set_admin(self, name: str, admin: bool) -> None:
        self._call("PATCH", f"/users/{name}", json={"admin": admin})

    def delete_user(self, name: str) -> None:
        self._call("DELETE", f"/users/{name}", ok=(204, 404))

    def create_group(self, name: str) -> None:
        self._call("POST", f"/groups/{name}", ok=(201, 409))

    def add_to_group(self, group: str, users: Iterable[str]) -> None:
        self.create_group(group)
        self._call("POST", f"/groups/{group}/users", json={"users": list(users)})

    def remove_from_group(self, group: str, users: Iterable[str]) -> None:
        self._call("DELETE", f"/groups/{group}/users", json={"users": list(users)})

    def token_for(self, user: str, scopes: Iterable[str] | None = None, note: str = "podium") -> str:
        """A new API token of ``user``; by default it may call the Podium service only."""
        wanted = [access_scope()] if scopes is None else list(scopes)
        body: dict[str, Any] = {"note": note, "scopes": wanted}
        return self._call("POST", f"/users/{user}/tokens", json=body)["token"]
