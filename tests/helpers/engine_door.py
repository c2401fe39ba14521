"""A door to the Docker engine that a test can close: a Unix socket that forwards every connection,
byte for byte, to the engine's own socket. A worker given ``DOCKER_HOST=unix://<door>`` talks to
the real engine while the door is open; closed, the socket is gone and every connection to it is
refused, as with an engine that stopped; opened again, the engine answers again."""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading

ENGINE_SOCKET = "/var/run/docker.sock"


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class _Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            engine.connect(self.server.target)  # type: ignore[attr-defined]
        except OSError:
            return
        self.server.open_connections.add((self.request, engine))  # type: ignore[attr-defined]
        back = threading.Thread(target=_pump, args=(engine, self.request), daemon=True)
        back.start()
        _pump(self.request, engine)
        back.join()
        engine.close()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class EngineDoor:
    """``open()`` / ``close()`` a forwarding socket at ``path`` to ``target``."""

    def __init__(self, path: str, target: str = ENGINE_SOCKET) -> None:
        self.path, self.target = path, target
        self._server: _Server | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def open(self) -> None:
        server = _Server(self.path, _Forward)
        server.target = self.target  # type: ignore[attr-defined]
        server.open_connections = set()  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        self._server = server

    def close(self) -> None:
        """Stop answering: the socket file is removed and open connections are cut."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for client, engine in list(server.open_connections):  # type: ignore[attr-defined]
            for end in (client, engine):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
