"""A second "host" on this machine for a worker that must reach the platform over the network
only: a network namespace joined to this one by a veth pair, and a TCP forwarder that publishes
a loopback-only server (RabbitMQ here) on this side's veth address.

Inside the namespace, 127.0.0.1 is the namespace's own loopback: nothing of this machine listens
there, so a program run with ``NetnsHost.prefix`` reaches the service and the broker through the
veth addresses or not at all. The Docker engine's Unix socket is a file, not a network address,
so the worker still drives the local engine (as a worker box drives its own).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 in 10.64.0.0/10 that no interface of this machine uses (other tests make theirs)."""
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    taken = [ipaddress.ip_interface(word).network for line in used.splitlines() for word in line.split()
             if "/" in word and word[0].isdigit()]
    while True:
        subnet = ipaddress.ip_network(f"10.{random.randint(64, 127)}.{random.randint(0, 255)}."
                                      f"{random.randrange(0, 256, 4)}/30")
        if not any(subnet.overlaps(other) for other in taken):
            return subnet


@dataclass
class NetnsHost:
    """A network namespace with a veth link to this one: ``host_ip`` is this side's address,
    ``ip`` the namespace's. Unique names; ``remove`` deletes both."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.name = f"podium-{self.tag}"
        self.outside, self.inside = f"pv{self.tag}o", f"pv{self.tag}i"  # at most 15 characters
        subnet = _free_subnet()
        first, second = list(subnet.hosts())
        self.host_ip, self.ip, self.prefixlen = str(first), str(second), subnet.prefixlen

    def create(self) -> NetnsHost:
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
            _ip("link", "set", self.inside, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/{self.prefixlen}", "dev", self.outside)
            _ip("link", "set", self.outside, "up")
            _ip("-n", self.name, "addr", "add", f"{self.ip}/{self.prefixlen}", "dev", self.inside)
            _ip("-n", self.name, "link", "set", self.inside, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except Exception:
            self.remove()
            raise
        return self

    @property
    def prefix(self) -> list[str]:
        """Put before a command to run it on this host. ``nsenter --net``, not ``ip netns exec``:
        the latter also gives the command a mount namespace of its own, where the tmpfs caps and
        link-proof views a worker mounts would be invisible to the Docker engine (a worker and its
        engine share one mount namespace on any real host)."""
        return ["nsenter", f"--net=/run/netns/{self.name}", "--"]

    def can_connect(self, host: str, port: int) -> bool:
        """Whether a TCP connection from inside the namespace to ``host:port`` succeeds."""
        probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3)"
        return subprocess.run([*self.prefix, "python3", "-c", probe], capture_output=True).returncode == 0

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)  # takes its veth end along
        subprocess.run(["ip", "link", "del", self.outside], capture_output=True)


class TcpForwarder:
    """Accepts on ``listen_host`` (a free port) and pipes each connection to ``target``;
    ``connections`` counts what came through."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((listen_host, 0))
        self.host, self.port = self.server.getsockname()[:2]
        self.connections = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> TcpForwarder:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self.server.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
