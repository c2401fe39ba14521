"""A client's next request on the same connection gets an answer, whatever the last one was.

Keep-alive answers keep the connection open; an answer sent before the request's body was read
(Tornado then hangs up, to skip the body) says ``Connection: close``, so the client reconnects.
Found in CI: the request after a JSON 404 met ``ConnectionResetError``, because the 404 was
raised before the (empty) body was read and the service hung up without saying so.
"""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlparse

import pytest

MIB = 1 << 20


def open_connection(service) -> tuple[http.client.HTTPConnection, str]:
    url = urlparse(service.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30), url.path.rstrip("/")


def answer(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    response = conn.getresponse()
    response.read()
    return response


def next_request_is_answered(conn: http.client.HTTPConnection, base: str, creator) -> None:
    time.sleep(0.2)  # had the service hung up, its FIN would be here by now
    conn.request("GET", base + "/api/v1/", headers=creator.headers)
    assert answer(conn).status == 200


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_endpoint_keeps_the_connection_open(service, creator, method) -> None:
    conn, base = open_connection(service)
    try:
        body = b'{"a": 1}' if method == "POST" else None
        conn.request(method, base + "/api/v1/nothing/here", body=body, headers=creator.headers)
        refused = answer(conn)
        assert refused.status == 404
        assert refused.getheader("Connection") != "close"
        next_request_is_answered(conn, base, creator)
    finally:
        conn.close()


def unsent_body(conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str]) -> None:
    """A request's head announcing 64 MiB that never follow."""
    conn.putrequest(method, path)
    for name, value in {**headers, "Content-Length": str(64 * MIB)}.items():
        conn.putheader(name, value)
    conn.endheaders()


def test_a_refusal_before_the_body_says_the_connection_closes(service, creator) -> None:
    conn, base = open_connection(service)
    try:
        unsent_body(conn, "POST", base + "/api/v1/competitions", creator.headers)
        refused = answer(conn)
        assert refused.status == 413
        assert refused.getheader("Connection") == "close"
        next_request_is_answered(conn, base, creator)  # http.client reconnects, as told
    finally:
        conn.close()


def test_a_storage_link_refused_before_the_body_says_the_connection_closes(service, creator) -> None:
    conn, base = open_connection(service)
    try:
        unsent_body(conn, "PUT", base + "/storage/some/key.zip?method=PUT&expires=1&sig=forged", {})
        refused = answer(conn)
        assert 400 <= refused.status < 500
        assert refused.getheader("Connection") == "close"
        next_request_is_answered(conn, base, creator)
    finally:
        conn.close()
