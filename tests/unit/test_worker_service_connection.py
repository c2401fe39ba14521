"""The worker's calls to the service (``ServiceConnection``): urllib3 directly, reached the way
``requests`` would reach the service (its proxy and ``NO_PROXY`` settings), over one kept-alive
connection, with a clear error when the service cannot be reached or answers something else."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from podium.worker.client import ServiceClient
from podium.worker.errors import LeaseLost, ProtocolError


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with JSON; records the request line, headers, body and connection."""

    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[dict] = []
    answer: tuple[int, bytes] = (200, b'{"ok": true}')

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"line": self.requestline, "target": self.path, "connection": self.client_address[1],
                          "authorization": self.headers.get("Authorization"), "body": body})
        status, data = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch) -> Iterator[tuple[str, type[Recorder]]]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    handler = type("Handler", (Recorder,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_calls_go_under_the_service_path_with_the_token_over_one_connection(server) -> None:
    url, handler = server
    client = ServiceClient(url + "/services/podium/", "queue-token", "w1")
    assert client.config() == {"ok": True}
    assert client.heartbeat(7) == {"ok": True}
    get, post = handler.seen
    assert get["line"] == "GET /services/podium/api/v1/worker/config HTTP/1.1"
    assert post["line"] == "POST /services/podium/api/v1/worker/attempts/7/heartbeat HTTP/1.1"
    assert get["authorization"] == post["authorization"] == "Bearer queue-token"
    assert json.loads(post["body"]) == {"worker": "w1"}
    assert get["connection"] == post["connection"]  # the second call reused the first one's connection


def test_a_proxy_from_the_environment_is_used_as_requests_would(server, monkeypatch) -> None:
    url, handler = server
    monkeypatch.setenv("HTTP_PROXY", url)
    ServiceClient("http://podium.invalid:8000/services/podium/", "t", "w1").config()
    assert handler.seen[-1]["target"] == "http://podium.invalid:8000/services/podium/api/v1/worker/config"
    # NO_PROXY names the service's host: the call goes to it directly
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    ServiceClient(url, "t", "w1").config()
    assert handler.seen[-1]["target"] == "/api/v1/worker/config"


def test_an_unreachable_service_and_an_answer_that_is_not_json_are_protocol_errors(server) -> None:
    url, handler = server
    with pytest.raises(ProtocolError, match="the service did not answer"):
        ServiceClient("http://127.0.0.1:9/", "t", "w1", timeout=5).heartbeat(1)
    handler.answer = (200, b"<html>a proxy's page</html>")
    with pytest.raises(ProtocolError, match="something else than JSON"):
        ServiceClient(url, "t", "w1").heartbeat(1)
    handler.answer = (409, b'{"error": {"message": "Attempt 1 is finished."}}')
    with pytest.raises(LeaseLost, match="Attempt 1 is finished"):
        ServiceClient(url, "t", "w1").heartbeat(1)
    handler.answer = (500, b"boom")
    with pytest.raises(ProtocolError, match="POST /worker/attempts/1/heartbeat → 500: boom") as refused:
        ServiceClient(url, "t", "w1").heartbeat(1)
    assert refused.value.status == 500


def test_downloads_and_uploads_never_carry_the_queue_token(server, tmp_path) -> None:
    """Signed storage URLs go to any host (S3, Azure, the service's own storage): the worker's
    token is for the service's calls alone."""
    url, handler = server
    client = ServiceClient(url, "queue-token", "w1")
    body = handler.answer[1]
    client.download({"url": url + "/storage/in.zip?sig=x", "sha256": hashlib.sha256(body).hexdigest(),
                     "size": len(body)}, str(tmp_path / "in.zip"))
    (tmp_path / "out.zip").write_bytes(b"output")
    client.upload({"url": url + "/storage/out.zip?sig=y", "max_size": 100}, str(tmp_path / "out.zip"))
    client.heartbeat(3)
    download, upload, heartbeat = handler.seen
    assert download["line"].startswith("GET /storage/in.zip") and upload["line"].startswith("PUT /storage/out.zip")
    assert download["authorization"] is None and upload["authorization"] is None and upload["body"] == b"output"
    assert heartbeat["authorization"] == "Bearer queue-token"
