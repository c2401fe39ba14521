"""Storage: key validation, URL signatures, and the service's signed-URL endpoint over HTTP."""

from __future__ import annotations

import hashlib

import pytest
import requests
from podium.server.storage import (
    InvalidStorageKey,
    LocalStorage,
    MethodNotAllowedBySignature,
    SignatureExpired,
    SignatureInvalid,
    UrlSigner,
    validate_key,
)


@pytest.mark.parametrize("key", ["a", "a/b.zip", "x-1/y_2/z.3"])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "..", "a/./b", "sp ace", "a\\b", "x" * 513])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        validate_key(key)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_signer_refusals() -> None:
    clock = FakeTime()
    signer = UrlSigner(b"secret", clock=clock)
    params = signer.sign("a/b", "PUT", int(clock.now) + 60, max_size=10)
    assert signer.verify("a/b", "PUT", params)["max_size"] == "10"
    with pytest.raises(MethodNotAllowedBySignature):
        signer.verify("a/b", "GET", params)
    with pytest.raises(SignatureInvalid):
        signer.verify("a/c", "PUT", params)
    with pytest.raises(SignatureInvalid):
        signer.verify("a/b", "PUT", {**params, "max_size": "1000000"})
    with pytest.raises(SignatureInvalid):
        UrlSigner(b"other", clock=clock).verify("a/b", "PUT", params)
    clock.now += 61
    with pytest.raises(SignatureExpired):
        signer.verify("a/b", "PUT", params)


def test_local_storage_roundtrip(tmp_path) -> None:
    storage = LocalStorage(str(tmp_path), "http://x/", UrlSigner(b"k"))
    info = storage.put("one/two.bin", b"hello")
    assert info.size == 5 and info.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert storage.stat("one/two.bin") == info
    assert storage.open("one/two.bin").read() == b"hello"
    storage.delete("one/two.bin")
    assert storage.stat("one/two.bin") is None
    storage.delete("one/two.bin")  # missing is fine
    assert not any(p.name.startswith(".upload-") for p in tmp_path.rglob("*"))


def test_signed_urls_over_http(service) -> None:
    """The running service honours and refuses its own URLs (expiry moved with the clock seam)."""
    storage = service.app.storage
    data = b"x" * 1000
    put = storage.signed_url("tests/obj.bin", "PUT", expires_in=60, max_size=len(data))
    assert requests.put(put, data=data, timeout=10).json()["sha256"] == hashlib.sha256(data).hexdigest()
    get = storage.signed_url("tests/obj.bin", "GET", expires_in=60, filename="obj.bin")
    r = requests.get(get, timeout=10)
    assert r.content == data and 'filename="obj.bin"' in r.headers["Content-Disposition"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"

    def refused(response: requests.Response, status: int, reason: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"]["reason"] == reason

    refused(requests.get(get.replace("sig=", "sig=f"), timeout=10), 403, "SignatureInvalid")
    refused(requests.get(put, timeout=10), 403, "MethodNotAllowedBySignature")
    refused(requests.put(get, data=b"y", timeout=10), 403, "MethodNotAllowedBySignature")
    refused(requests.put(put, data=data + b"!", timeout=10), 413, "ObjectTooLarge")
    # a body without Content-Length is counted while it streams
    refused(requests.put(put, data=iter([data, b"overflow"]), timeout=10), 413, "ObjectTooLarge")
    assert storage.open("tests/obj.bin").read() == data  # the refused uploads changed nothing
    missing = storage.signed_url("tests/none.bin", "GET", expires_in=60)
    refused(requests.get(missing, timeout=10), 404, "ObjectNotFound")
    bad_key = service.url + "storage/a/../b?method=GET&expires=1&sig=x"
    assert requests.get(bad_key, timeout=10).status_code in (400, 403, 404)
    original = storage.signer.clock
    storage.signer.clock = lambda: original() + 3600
    try:
        refused(requests.get(get, timeout=10), 403, "SignatureExpired")
    finally:
        storage.signer.clock = original
    leftovers = [p for p in __import__("pathlib").Path(storage.root).rglob(".upload-*")]
    assert leftovers == []
