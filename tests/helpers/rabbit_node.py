"""A private RabbitMQ node for hostile tests: broker settings a test needs (a short
``consumer_timeout`` is node-wide in RabbitMQ 3.10) without touching the machine's node on 5672.

The node has its own name, ports, data and log directories, configuration and Erlang cookie (so
its ``rabbitmqctl`` cannot reach the machine's node by mistake), no plugins, and runs as a child
of the test process, which stops it at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # the scripts themselves, not /usr/sbin's su wrappers


class RabbitNode:
    """``start()``, ``url``, ``ctl(...)`` (rabbitmqctl against this node only), ``stop()``.

    ``channel_tick_interval`` is how often RabbitMQ checks consumer timeouts (60 s by default);
    tests lower it with the timeout so a timeout fires within seconds of its value.
    """

    def __init__(self, base: Path, port: int, dist_port: int, consumer_timeout_ms: int = 3000,
                 channel_tick_ms: int = 1000) -> None:
        self.base = base
        self.name = f"podium-ct-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = port, dist_port
        self.log_path = base / "node.out"
        self.proc: subprocess.Popen | None = None
        home = base / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)
        (base / "rabbitmq.conf").write_text(f"consumer_timeout = {consumer_timeout_ms}\n")
        (base / "advanced.config").write_text(f"[{{rabbit, [{{channel_tick_interval, {channel_tick_ms}}}]}}].\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's, which names the machine's node

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        b = self.base
        return {
            **os.environ,
            "HOME": str(b / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(b / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(b / "mnesia"),
            "RABBITMQ_LOG_BASE": str(b / "log"),
            "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(b / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(b / "plugins-expand"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self, timeout: float = 180) -> None:
        self.proc = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env(), cwd=self.base,
                                     stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.wait_listening(timeout)

    def wait_listening(self, timeout: float = 180) -> None:
        """Wait until the node accepts AMQP connections (its listener opens last in its boot)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"RabbitMQ node {self.name} did not listen within {timeout} s")

    def ctl(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.name, *args], env=self.env(),
                             cwd=self.base, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 or not check, out.stderr
        return out.stdout

    def server_log(self) -> str:
        """Everything the node logged (its log files)."""
        return "".join(p.read_text(errors="replace") for p in sorted((self.base / "log").glob("*.log")))

    def crash(self) -> None:
        """Kill the node at once (SIGKILL): what it held in memory and socket buffers is gone."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        deadline = time.monotonic() + 30  # the Erlang VM dies a moment after the script
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return
            time.sleep(0.2)
        raise AssertionError(f"RabbitMQ node {self.name} still listens after SIGKILL")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.ctl("stop", check=False)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
