"""Storage: key validation, URL signatures, the local backend, and its signed-URL endpoint over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import tornado.web
from podium.server.errors import (
    InvalidStorageKey,
    MethodNotAllowedBySignature,
    ObjectNotFound,
    ObjectTooLarge,
    SignatureExpired,
    SignatureInvalid,
    StorageError,
)
from podium.server.storage import Grant, LocalStorage, ObjectInfo, Storage, UrlSigner, validate_key
from podium.server.storage.local_handlers import SignedObjectHandler, default_handlers
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

NOW = 1_700_000_000.0
PREFIX = "/services/podium/"


class FakeClock:
    """Time that tests move by hand instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp_files(root: str | Path) -> list[Path]:
    return [p for p in Path(root).rglob(".upload-*")]


# --- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "a/b.zip", "x-1/y_2/z.3", "A.B-c_d/..e", "x" * 512])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/", "a//b", "..", ".", "a/../b", "a/./b", "sp ace", "a\\b", "a\n", "é", "a?b", "a%2Fb", "x" * 513],
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidStorageKey) as info:
        validate_key(key)
    assert info.value.status_code == 400 and "not valid" in info.value.message


def test_error_tree_statuses_and_messages() -> None:
    expected = {
        InvalidStorageKey: 400, ObjectNotFound: 404, SignatureInvalid: 403, SignatureExpired: 403,
        MethodNotAllowedBySignature: 403, ObjectTooLarge: 413,
    }
    for cls, status in expected.items():
        error = cls()
        assert isinstance(error, StorageError) and error.status_code == status
        assert str(error) == error.message and len(error.message) > 20
    assert str(ObjectTooLarge("custom")) == "custom"


# --- signer --------------------------------------------------------------------------------------


def test_signer_accepts_its_own_signature_until_expiry() -> None:
    clock = FakeClock()
    signer = UrlSigner(b"secret", clock=clock)
    params = signer.sign("a/b", "PUT", int(NOW) + 60, max_size=10, filename="b.txt")
    assert list(params) == ["method", "expires", "max_size", "filename", "sig"]
    grant = signer.verify("a/b", "PUT", params)
    assert grant == Grant(key="a/b", method="PUT", expires=int(NOW) + 60, max_size=10, filename="b.txt")
    clock.now += 60  # the last valid second
    assert signer.verify("a/b", "PUT", params).max_size == 10
    clock.now += 1
    with pytest.raises(SignatureExpired):
        signer.verify("a/b", "PUT", params)


def test_signer_refuses_the_other_method() -> None:
    signer = UrlSigner(b"secret", clock=FakeClock())
    put = signer.sign("a/b", "PUT", int(NOW) + 60)
    get = signer.sign("a/b", "GET", int(NOW) + 60)
    with pytest.raises(MethodNotAllowedBySignature):
        signer.verify("a/b", "GET", put)
    with pytest.raises(MethodNotAllowedBySignature):
        signer.verify("a/b", "PUT", get)


@pytest.mark.parametrize(
    "change",
    [
        {"sig": None},
        {"sig": ""},
        {"sig": "0" * 64},
        {"method": "GET"},
        {"expires": str(int(NOW) + 6000)},
        {"max_size": "1000000"},
        {"max_size": None},
        {"filename": "evil.html"},
        {"filename": None},
    ],
)
def test_signer_refuses_any_tampered_field(change: dict) -> None:
    signer = UrlSigner(b"secret", clock=FakeClock())
    params = signer.sign("a/b", "PUT", int(NOW) + 60, max_size=10, filename="b.txt")
    for field, value in change.items():
        if value is None:
            del params[field]
        else:
            params[field] = value
    with pytest.raises(SignatureInvalid):
        signer.verify("a/b", "PUT", params)


def test_signer_refuses_other_key_other_secret_and_added_fields() -> None:
    clock = FakeClock()
    signer = UrlSigner(b"secret", clock=clock)
    params = signer.sign("a/b", "PUT", int(NOW) + 60)
    with pytest.raises(SignatureInvalid):
        signer.verify("a/c", "PUT", params)
    with pytest.raises(SignatureInvalid):
        UrlSigner(b"other", clock=clock).verify("a/b", "PUT", params)
    with pytest.raises(SignatureInvalid):  # an empty cap must not pass for "no cap"
        signer.verify("a/b", "PUT", {**params, "max_size": ""})
    with pytest.raises(SignatureInvalid):
        signer.verify("a/b", "PUT", {**params, "filename": "x"})
    with pytest.raises(SignatureInvalid):  # nor an empty name for "no name"
        signer.verify("a/b", "PUT", {**params, "filename": ""})
    with pytest.raises(SignatureInvalid):
        signer.verify("a/b", "PUT", {**params, "sig": "é" * 64})


def test_signer_refuses_to_sign_nonsense() -> None:
    signer = UrlSigner(b"secret")
    with pytest.raises(ValueError):
        signer.sign("a", "DELETE", 1)
    with pytest.raises(ValueError):
        signer.sign("a", "PUT", 1, max_size=-1)
    with pytest.raises(ValueError):
        UrlSigner(b"")


# --- local backend -------------------------------------------------------------------------------


@pytest.fixture()
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(str(tmp_path / "store"), "http://svc/base/", UrlSigner(b"k", clock=FakeClock()))


def test_local_storage_is_a_storage_and_round_trips(local: LocalStorage) -> None:
    assert isinstance(local, Storage)
    info = local.put("one/two.bin", b"hello")
    assert info == ObjectInfo("one/two.bin", 5, sha(b"hello"))
    assert local.stat("one/two.bin") == info and local.exists("one/two.bin")
    with local.open("one/two.bin") as f:
        assert f.read() == b"hello"
    big = os.urandom(2 * 1024 * 1024 + 7)  # several read chunks
    assert local.put("one/big", io.BytesIO(big)) == ObjectInfo("one/big", len(big), sha(big))
    assert local.stat("one/big") == ObjectInfo("one/big", len(big), sha(big))
    local.delete("one/two.bin")
    assert local.stat("one/two.bin") is None and not local.exists("one/two.bin")
    local.delete("one/two.bin")  # missing is fine
    assert temp_files(local.root) == []


def test_local_stat_reuses_an_upload_digest_only_for_the_file_written(local: LocalStorage) -> None:
    """The digest computed while an upload streamed answers ``stat`` (no read-back) only while
    the key holds that very file: replaced by another writer (another service replica) or
    changed in place, the object is hashed again."""
    info = local.put("m/obj", b"first")
    assert local.stat("m/obj") == info
    path = local.path("m/obj")
    with open(path + ".other", "wb") as f:
        f.write(b"second")
    os.replace(path + ".other", path)
    assert local.stat("m/obj") == ObjectInfo("m/obj", 6, sha(b"second"))
    local.put("m/obj", b"third")
    with open(path, "ab") as f:
        f.write(b"!")
    assert local.stat("m/obj") == ObjectInfo("m/obj", 6, sha(b"third!"))
    local.put("m/obj", b"fourth")
    local.delete("m/obj")
    with open(path, "wb") as f:
        f.write(b"fifth!")
    assert local.stat("m/obj") == ObjectInfo("m/obj", 6, sha(b"fifth!"))


def test_local_storage_missing_and_folder_keys(local: LocalStorage) -> None:
    local.put("d/x", b"1")
    for key in ("nothing", "d", "d/x/y"):  # absent, a folder, below a file
        assert local.stat(key) is None
        with pytest.raises(ObjectNotFound):
            local.open(key)
        local.delete(key)
    assert local.stat("d/x") is not None
    with pytest.raises(InvalidStorageKey):
        local.open("../etc/passwd")


def test_local_storage_delete_prefix(local: LocalStorage) -> None:
    for key in ("p/a", "p/b/c", "pq/a", "p.txt"):
        local.put(key, b"x")
    local.delete_prefix("p")
    assert [k for k in ("p/a", "p/b/c", "pq/a", "p.txt") if local.exists(k)] == ["pq/a", "p.txt"]
    local.delete_prefix("p")  # missing is fine
    local.delete_prefix("p.txt")  # an object, not a prefix: nothing under it
    assert local.exists("p.txt")
    with pytest.raises(InvalidStorageKey):
        local.delete_prefix("")


def test_local_put_is_atomic_and_cleans_up(local: LocalStorage) -> None:
    local.put("a/obj", b"old")

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("disk went away")
            return b"new-partial"

    with pytest.raises(OSError, match="disk went away"):
        local.put("a/obj", Broken())
    assert local.open("a/obj").read() == b"old"
    assert temp_files(local.root) == []


def test_local_put_over_a_folder_or_below_a_file_is_refused(local: LocalStorage) -> None:
    local.put("f/inner", b"1")
    with pytest.raises(InvalidStorageKey, match="clashes"):
        local.put("f", b"2")
    with pytest.raises(InvalidStorageKey, match="clashes"):
        local.put("f/inner/deeper", b"3")
    assert temp_files(local.root) == [] and local.open("f/inner").read() == b"1"


def test_local_signed_url_shape(local: LocalStorage) -> None:
    url = local.signed_url("a/b.zip", "PUT", expires_in=30, max_size=99)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://svc/base/storage/a/b.zip"
    assert parts.query.startswith(f"method=PUT&expires={int(NOW) + 30}&max_size=99&sig=")
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert local.signer.verify("a/b.zip", "PUT", params).max_size == 99
    with pytest.raises(InvalidStorageKey):
        local.signed_url("a/../b", "GET", expires_in=30)


# --- over HTTP -----------------------------------------------------------------------------------


class Server:
    """A Tornado app with only the storage handler, mounted under PREFIX like the real service,
    listening on a free port of 127.0.0.1 in a thread of its own."""

    def __init__(self, root: Path) -> None:
        self.sockets = bind_sockets(0, "127.0.0.1")
        self.port = self.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.clock = FakeClock()
        self.storage = LocalStorage(str(root), self.base_url, UrlSigner(b"test-secret", clock=self.clock))
        handlers = [(PREFIX.rstrip("/") + pattern, handler) for pattern, handler in default_handlers]
        self.app = tornado.web.Application(handlers, podium_storage=self.storage)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def listen() -> None:
            self.server = HTTPServer(self.app)
            self.server.add_sockets(self.sockets)

        self.loop.run_until_complete(listen())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> None:
        self.thread.start()
        assert self._ready.wait(10), "the test server did not start"

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def url(self, key: str, method: str, expires_in: int = 60, **kw) -> str:
        return self.storage.signed_url(key, method, expires_in=expires_in, **kw)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "store")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def assert_refused(response: requests.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    error = response.json()["error"]
    assert (error["status"], error["reason"]) == (status, reason), error
    assert error["message"]


def test_put_then_get_round_trip(server: Server) -> None:
    data = os.urandom(2 * 1024 * 1024 + 123)  # more than one read chunk each way
    put = requests.put(server.url("sub/obj.bin", "PUT", max_size=len(data)), data=data, timeout=10)
    assert put.status_code == 200, put.text
    assert put.headers["Content-Type"] == "application/json"
    assert put.json() == {"key": "sub/obj.bin", "size": len(data), "sha256": sha(data)}
    assert server.storage.stat("sub/obj.bin") == ObjectInfo("sub/obj.bin", len(data), sha(data))

    got = requests.get(server.url("sub/obj.bin", "GET", filename="résumé 1.bin"), timeout=10)
    assert got.status_code == 200
    assert got.content == data and sha(got.content) == sha(data)
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Length"] == str(len(data))
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"r_sum_ 1.bin\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.bin"
    )
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Cache-Control"] == "no-store"
    assert temp_files(server.storage.root) == []


def test_get_without_filename_has_no_disposition(server: Server) -> None:
    server.storage.put("plain", b"abc")
    got = requests.get(server.url("plain", "GET"), timeout=10)
    assert got.status_code == 200 and got.content == b"abc"
    assert "Content-Disposition" not in got.headers


def test_uploads_exactly_at_the_cap_are_accepted(server: Server) -> None:
    url = server.url("cap/exact", "PUT", max_size=10)
    assert requests.put(url, data=b"0123456789", timeout=10).json()["size"] == 10
    chunked = requests.put(url, data=iter([b"01234", b"56789"]), timeout=10)
    assert "Content-Length" not in chunked.request.headers
    assert chunked.json() == {"key": "cap/exact", "size": 10, "sha256": sha(b"0123456789")}


def test_tampered_or_missing_signature_is_403(server: Server) -> None:
    server.storage.put("obj", b"secret data")
    get = server.url("obj", "GET")
    sig = parse_qs(urlsplit(get).query)["sig"][0]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert_refused(requests.get(get.replace(sig, flipped), timeout=10), 403, "SignatureInvalid")
    assert_refused(requests.get(get.replace("sig=" + sig, ""), timeout=10), 403, "SignatureInvalid")
    assert_refused(requests.get(get.replace("/obj?", "/other?"), timeout=10), 403, "SignatureInvalid")
    put = server.url("obj", "PUT", max_size=4)
    bigger = put.replace("max_size=4", "max_size=4000")
    assert_refused(requests.put(bigger, data=b"x" * 100, timeout=10), 403, "SignatureInvalid")
    assert server.storage.open("obj").read() == b"secret data"


def test_expired_links_are_403(server: Server) -> None:
    server.storage.put("obj", b"data")
    get = server.url("obj", "GET", expires_in=60)
    put = server.url("obj", "PUT", expires_in=60)
    assert requests.get(get, timeout=10).status_code == 200
    server.clock.now += 61
    assert_refused(requests.get(get, timeout=10), 403, "SignatureExpired")
    assert_refused(requests.put(put, data=b"new", timeout=10), 403, "SignatureExpired")
    assert server.storage.open("obj").read() == b"data"


def test_links_only_allow_their_own_method(server: Server) -> None:
    server.storage.put("obj", b"data")
    get, put = server.url("obj", "GET"), server.url("obj", "PUT")
    assert_refused(requests.get(put, timeout=10), 403, "MethodNotAllowedBySignature")
    assert_refused(requests.put(get, data=b"overwrite", timeout=10), 403, "MethodNotAllowedBySignature")
    assert server.storage.open("obj").read() == b"data"


def test_oversized_upload_with_content_length_is_413_before_reading(server: Server) -> None:
    url = server.url("big/nested/obj", "PUT", max_size=1000)
    response = requests.put(url, data=b"x" * 5_000_000, timeout=30)
    assert response.request.headers["Content-Length"] == "5000000"
    assert_refused(response, 413, "ObjectTooLarge")
    assert "1000" in response.json()["error"]["message"]
    assert server.storage.stat("big/nested/obj") is None
    assert not (Path(server.storage.root) / "big").exists()  # refused before any file was made
    assert temp_files(server.storage.root) == []


def test_oversized_chunked_upload_is_413_and_leaves_nothing(server: Server) -> None:
    server.storage.put("obj", b"previous")
    url = server.url("obj", "PUT", max_size=1000)
    body = iter([b"x" * 600, b"y" * 600, b"z" * 5_000_000])
    response = requests.put(url, data=body, timeout=30)
    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert_refused(response, 413, "ObjectTooLarge")
    assert server.storage.open("obj").read() == b"previous"
    assert temp_files(server.storage.root) == []


def test_upload_larger_than_tornados_default_cap_is_accepted(server: Server) -> None:
    """Tornado refuses bodies over 100 MB on its own; a link signed for more must still work."""
    size = 100 * 1024 * 1024 + 1
    piece = b"\0" * (1024 * 1024)
    url = server.url("huge", "PUT", max_size=size)
    body = (piece[: min(len(piece), size - i)] for i in range(0, size, len(piece)))
    response = requests.put(url, data=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == size


def test_disk_failure_mid_upload_is_500_and_leaves_nothing(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podium.server.storage.local import AtomicWriter

    real_write = AtomicWriter.write

    def failing_write(self: AtomicWriter, chunk: bytes) -> None:
        if self.size + len(chunk) > 150:
            raise OSError(28, "No space left on device")
        real_write(self, chunk)

    monkeypatch.setattr(AtomicWriter, "write", failing_write)
    server.storage.put("obj", b"previous")
    response = requests.put(server.url("obj", "PUT"), data=iter([b"a" * 100, b"b" * 100]), timeout=10)
    assert_refused(response, 500, "StorageFailure")
    assert server.storage.open("obj").read() == b"previous"
    assert temp_files(server.storage.root) == []


def test_invalid_key_is_400(server: Server) -> None:
    params = "?method=GET&expires=9999999999&sig=x"
    for path in ("sp%20ace", "a/%2e%2e/b", "a//b", "%C3%A9"):
        response = requests.get(server.base_url + "storage/" + path + params, timeout=10)
        assert_refused(response, 400, "InvalidStorageKey")


def test_missing_object_is_404(server: Server) -> None:
    assert_refused(requests.get(server.url("nope/none.bin", "GET"), timeout=10), 404, "ObjectNotFound")
    server.storage.put("folder/inside", b"1")
    assert_refused(requests.get(server.url("folder", "GET"), timeout=10), 404, "ObjectNotFound")


def test_put_onto_a_folder_is_400_and_leaves_nothing(server: Server) -> None:
    server.storage.put("folder/inside", b"1")
    response = requests.put(server.url("folder", "PUT"), data=b"2", timeout=10)
    assert_refused(response, 400, "InvalidStorageKey")
    assert temp_files(server.storage.root) == []


@pytest.mark.parametrize("method", ["DELETE", "POST", "HEAD", "PATCH"])
def test_other_methods_are_405(server: Server, method: str) -> None:
    server.storage.put("obj", b"data")
    response = requests.request(method, server.url("obj", "GET"), timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PUT"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if method != "HEAD":
        assert response.json()["error"]["reason"] == "MethodNotAllowed"
    assert server.storage.open("obj").read() == b"data"


def test_upload_cut_short_leaves_no_temp_file(server: Server) -> None:
    url = urlsplit(server.url("cut/obj", "PUT", max_size=10_000))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n".encode()
            + b"x" * 100
        )
        deadline = time.monotonic() + 5
        while not temp_files(server.storage.root) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(temp_files(server.storage.root)) == 1  # the upload was under way
    deadline = time.monotonic() + 5
    while temp_files(server.storage.root) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert temp_files(server.storage.root) == []
    assert server.storage.stat("cut/obj") is None


def test_service_routes_mount_the_handler_under_the_base_url() -> None:
    from podium.server.routes import build_handlers

    assert ("/services/podium/storage/(.+)", SignedObjectHandler) in build_handlers("/services/podium/")
