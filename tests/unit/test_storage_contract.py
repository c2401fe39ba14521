"""One contract for every storage backend, run unchanged on the local directory, on S3 (LocalStack,
which verifies SigV4 signatures and expiry itself) and on Azure Blob (Azurite, which verifies SAS),
with an account key and with Azure AD (``azure_ad``: bearer tokens, user-delegation SAS):
put, get, stat, signed GET and PUT, expiry, tampering, wrong method, wrong key, the size bound the
storage server enforces, Content-Disposition, delete. Refusals here come from the storage server."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from helpers.emulators import Emulator, EmulatorTokenCredential
from podium.server.errors import StorageMisconfigured, UploadMismatch
from podium.server.storage import ObjectInfo, Storage
from podium.server.storage.azure import AzureConfig, AzureStorage
from podium.server.storage.s3 import S3Config, S3Storage
from test_storage import Server

BACKENDS = ["local", "s3", "azure", "azure_ad"]


def s3_storage(server: Emulator, bucket: str, prefix: str = "", **overrides: str) -> S3Storage:
    settings = {k: server.settings[k] for k in ("endpoint_url", "access_key_id", "secret_access_key", "region")}
    return S3Storage(S3Config(bucket=bucket, key_prefix=prefix, **{**settings, **overrides}))


def azure_storage(server: Emulator, container: str, prefix: str = "", **overrides: str) -> AzureStorage:
    settings = {"connection_string": server.settings["connection_string"], **overrides}
    return AzureStorage(AzureConfig(container=container, key_prefix=prefix, **settings))


def azure_ad_storage(server: Emulator, container: str, prefix: str = "") -> AzureStorage:
    """The Azure backend with Azure AD: the test's token for Azurite's --oauth basic (no Azure AD
    runs here), every URL a user-delegation SAS."""
    config = AzureConfig(container=container, key_prefix=prefix, credential="azure_ad",
                         account_url=server.settings["account_url"])
    return AzureStorage(config, token=EmulatorTokenCredential())


def forge_delegation_key(storage: AzureStorage) -> None:
    """Swap the storage's delegation key for one with the same fields and another secret."""
    key = storage.delegation.key_for(60)
    key.value = base64.b64encode(b"not-the-delegation-key-azurite-gave-out!").decode()


@dataclass
class Backend:
    """A storage under test and what the contract needs besides: the key's other-secret twin."""

    name: str
    storage: Storage
    other_secret: Storage
    expires_soon: int  # the shortest expiry each server accepts, in seconds


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name = request.param
    if name == "local":
        server = Server(tmp_path / "store")
        server.start()
        try:
            from podium.server.storage import LocalStorage, UrlSigner

            other = LocalStorage(str(tmp_path / "store"), server.base_url, UrlSigner(b"another-secret"))
            yield Backend(name, server.storage, other, 1)
        finally:
            server.stop()
        return
    bucket = f"podium-{uuid.uuid4().hex[:12]}"
    if name == "s3":
        emulator = request.getfixturevalue("s3_server")
        storage = s3_storage(emulator, bucket, "inst1")
        storage.client.create_bucket(Bucket=bucket)
        other = s3_storage(emulator, bucket, "inst1", secret_access_key="not-the-secret")
    elif name == "azure":
        emulator = request.getfixturevalue("azurite")
        storage = azure_storage(emulator, bucket, "inst1")
        storage.container.create_container()
        other = azure_storage(emulator, bucket, "inst1", connection_string="", account_url=emulator.url,
                              account_name="devstoreaccount1", account_key="bm90LXRoZS1rZXk=")
    else:  # azure_ad: the same contract, on the same branches as azure
        emulator = request.getfixturevalue("azurite_oauth")
        storage = azure_ad_storage(emulator, bucket, "inst1")
        storage.container.create_container()
        other = azure_ad_storage(emulator, bucket, "inst1")
        forge_delegation_key(other)
        name = "azure"
    storage.check()
    yield Backend(name, storage, other, 1)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(url: str, data: bytes, storage: Storage, **headers: str) -> requests.Response:
    return requests.put(url, data=data, headers={**storage.upload_headers(), **headers}, timeout=30)


def test_put_get_stat_delete(backend: Backend) -> None:
    storage = backend.storage
    info = storage.put("subs/a/file.zip", b"hello world")
    assert (info.size, info.sha256) == (11, sha(b"hello world"))
    assert storage.stat("subs/a/file.zip") == info
    with storage.open("subs/a/file.zip") as f:
        assert f.read() == b"hello world"
    assert storage.exists("subs/a/file.zip")
    storage.put("subs/a/file.zip", b"replaced")
    assert storage.stat("subs/a/file.zip").sha256 == sha(b"replaced")
    storage.delete("subs/a/file.zip")
    storage.delete("subs/a/file.zip")  # a second delete is not an error
    assert storage.stat("subs/a/file.zip") is None


def test_delete_prefix_removes_only_below_it(backend: Backend) -> None:
    storage = backend.storage
    for key in ("c1/x", "c1/y/z", "c10/x"):
        storage.put(key, b"1")
    storage.delete_prefix("c1")
    assert [storage.exists(k) for k in ("c1/x", "c1/y/z", "c10/x")] == [False, False, True]


def test_signed_get_names_the_file(backend: Backend) -> None:
    backend.storage.put("out/predictions", b"1,2,3")
    url = backend.storage.signed_url("out/predictions", "GET", expires_in=60, filename="predictions.csv")
    response = requests.get(url, timeout=30)
    assert response.status_code == 200 and response.content == b"1,2,3"
    assert 'filename="predictions.csv"' in response.headers["Content-Disposition"]


def test_signed_put_of_the_announced_size_is_stored(backend: Backend) -> None:
    url = backend.storage.signed_url("up/ok", "PUT", expires_in=60, max_size=5, exact_size=5)
    response = put(url, b"12345", backend.storage)
    assert response.status_code in (200, 201), response.text
    assert backend.storage.stat("up/ok").sha256 == sha(b"12345")


def test_expired_link_is_refused_by_the_storage(backend: Backend) -> None:
    backend.storage.put("exp/x", b"data")
    url = backend.storage.signed_url("exp/x", "GET", expires_in=backend.expires_soon)
    if backend.name == "local":
        backend.storage.signer.clock.now += 5  # the local signer's clock is a seam
    else:
        time.sleep(backend.expires_soon + 1.5)
    assert requests.get(url, timeout=30).status_code == 403


def _tamper(url: str, backend: Backend) -> list[str]:
    """The link with another key, and with its signature changed."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    signature = {"local": "sig", "s3": "X-Amz-Signature", "azure": "sig"}[backend.name]
    forged = [(k, ("0" * len(v) if k == signature else v)) for k, v in query]
    return [url.replace("tamper/x", "tamper/y"), urlunsplit(parts._replace(query=urlencode(forged)))]


def test_tampered_link_is_refused_by_the_storage(backend: Backend) -> None:
    backend.storage.put("tamper/x", b"secret")
    backend.storage.put("tamper/y", b"other secret")
    url = backend.storage.signed_url("tamper/x", "GET", expires_in=60)
    for forged in _tamper(url, backend):
        assert requests.get(forged, timeout=30).status_code == 403, forged.split("?")[0]


def test_link_signed_with_another_key_is_refused(backend: Backend) -> None:
    backend.storage.put("key/x", b"data")
    url = backend.other_secret.signed_url("key/x", "GET", expires_in=60)
    assert requests.get(url, timeout=30).status_code == 403


def test_wrong_method_is_refused_by_the_storage(backend: Backend) -> None:
    backend.storage.put("method/x", b"data")
    download = backend.storage.signed_url("method/x", "GET", expires_in=60)
    assert put(download, b"overwrite", backend.storage).status_code == 403
    assert backend.storage.stat("method/x").sha256 == sha(b"data")
    upload = backend.storage.signed_url("method/y", "PUT", expires_in=60, max_size=4, exact_size=4)
    assert requests.get(upload, timeout=30).status_code == 403


@pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)
def test_size_bound_is_enforced_by_the_storage_server(backend: Backend) -> None:
    """Local and S3 refuse a body of another size at the door (S3: a signed Content-Length);
    Azure cannot bind a size in a SAS, so its bound is the check at finalize (next test)."""
    url = backend.storage.signed_url("big/x", "PUT", expires_in=60, max_size=5, exact_size=5)
    response = put(url, b"123456789", backend.storage)
    assert response.status_code in (403, 413), response.text
    assert backend.storage.stat("big/x") is None


def test_stat_reads_back_what_was_uploaded_so_finalize_catches_a_mismatch(backend: Backend) -> None:
    """Whatever a client managed to store, ``stat`` reports its real size and sha256 (read back),
    which is what finalize compares with the announced ones."""
    url = backend.storage.signed_url("fin/x", "PUT", expires_in=60, max_size=None)
    assert put(url, b"not what was announced", backend.storage).status_code in (200, 201)
    info = backend.storage.stat("fin/x")
    assert (info.size, info.sha256) == (22, sha(b"not what was announced"))


def test_key_prefix_keeps_installations_apart(s3_server: Emulator, azurite: Emulator) -> None:
    bucket = f"podium-{uuid.uuid4().hex[:12]}"
    first, second = s3_storage(s3_server, bucket, "one"), s3_storage(s3_server, bucket, "two")
    first.client.create_bucket(Bucket=bucket)
    first.put("k", b"1")
    assert second.stat("k") is None
    assert first.client.head_object(Bucket=bucket, Key="one/k")["ContentLength"] == 1
    a, b = azure_storage(azurite, bucket, "one"), azure_storage(azurite, bucket, "two")
    a.container.create_container()
    a.put("k", b"1")
    assert b.stat("k") is None and a.container.get_blob_client("one/k").exists()


# --- bad settings at start-up: one sentence naming the setting ------------------------------------


def test_s3_misconfiguration_names_the_setting(s3_server: Emulator) -> None:
    with pytest.raises(StorageMisconfigured, match=r"S3Config\.bucket"):
        S3Storage(S3Config(bucket=""))
    with pytest.raises(StorageMisconfigured, match=r"does not exist .*S3Config\.bucket"):
        s3_storage(s3_server, "no-such-bucket-here").check()
    with pytest.raises(StorageMisconfigured, match=r"cannot be reached: check S3Config\.endpoint_url"):
        s3_storage(s3_server, "x", endpoint_url="http://127.0.0.1:9").check()
    with pytest.raises(StorageMisconfigured, match=r"set together"):
        S3Storage(S3Config(bucket="x", access_key_id="only-the-id"))


def test_azure_misconfiguration_names_the_setting(azurite: Emulator) -> None:
    with pytest.raises(StorageMisconfigured, match=r"AzureConfig\.container"):
        AzureStorage(AzureConfig(container=""))
    with pytest.raises(StorageMisconfigured, match=r"AzureConfig\.connection_string"):
        AzureStorage(AzureConfig(container="c", connection_string=""))
    with pytest.raises(StorageMisconfigured, match=r"does not exist .*AzureConfig\.container"):
        azure_storage(azurite, "no-such-container").check()
    unreachable = azurite.settings["connection_string"].replace(azurite.url, "http://127.0.0.1:9/devstoreaccount1")
    with pytest.raises(StorageMisconfigured, match=r"cannot be reached"):
        azure_storage(azurite, "c", connection_string=unreachable).check()


def test_client_errors_never_carry_a_signed_link() -> None:
    from podium.worker.redaction import PLACEHOLDER, without_urls

    text = ("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
            "/bucket/k?X-Amz-Signature=abc&X-Amz-Credential=test (Caused by ...)")
    redacted = without_urls(text)
    assert "X-Amz" not in redacted and PLACEHOLDER in redacted and "port=9" in redacted


def test_the_service_refuses_to_start_on_unusable_storage(tmp_path: Path) -> None:
    """``podium service`` with a bucket that is not set says so in one sentence, no traceback."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "PODIUM_DATA_DIR": str(tmp_path), "PODIUM_STORAGE": "s3"}
    podium = str(Path(sys.executable).with_name("podium"))
    done = subprocess.run([podium, "service", "--upgrade-db"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "No S3 bucket is set: set S3Config.bucket" in done.stderr
    assert "Traceback" not in done.stderr


# --- uploads in parts: one protocol, the same on every backend ------------------------------------

MIB = 1024 * 1024


def _plan(size: int):
    from podium.server.storage.base import MIN_PART_SIZE, PartPlan

    return PartPlan.for_size(size, MIN_PART_SIZE)


def _put_part(storage: Storage, key: str, plan, number: int, data: bytes, body: bytes | None = None) -> requests.Response:
    url = storage.part_url(key, number, plan.size_of(number), expires_in=60)
    start = (number - 1) * plan.part_size
    part = data[start:start + plan.size_of(number)] if body is None else body
    return requests.put(url, data=part, headers=storage.part_headers(), timeout=60)


def _cut_off(url: str, headers: dict[str, str], body: bytes, sent: int) -> None:
    """Announce ``body`` whole, send its first ``sent`` bytes, then drop the connection."""
    import http.client
    import socket

    parts = urlsplit(url)
    if parts.scheme == "https":  # azure_ad: Azurite over TLS, its certificate in the bundle
        import ssl

        context = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=30, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("PUT", f"{parts.path}?{parts.query}", skip_accept_encoding=True)
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(body[:sent])
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()


def test_upload_in_parts_assembles_the_object(backend: Backend) -> None:
    storage, data = backend.storage, os.urandom(11 * MIB + 123)
    plan = _plan(len(data))
    assert (plan.count, plan.size_of(3)) == (3, MIB + 123)
    storage.start_parts("big/obj")
    storage.start_parts("big/obj")  # idempotent: the same upload
    for number in (3, 1, 2):  # any order, as parallel parts arrive
        response = _put_part(storage, "big/obj", plan, number, data)
        assert response.status_code in (200, 201), response.text
    assert storage.arrived_parts("big/obj") == {1: 5 * MIB, 2: 5 * MIB, 3: MIB + 123}
    assert storage.stat("big/obj") is None  # nothing is visible before completion
    storage.complete_parts("big/obj", plan)
    assert storage.stat("big/obj") == ObjectInfo("big/obj", len(data), sha(data))
    assert storage.arrived_parts("big/obj") == {}
    assert "big/obj" not in storage.abandoned_part_uploads(0)


def test_resume_after_a_part_cut_off_mid_body(backend: Backend) -> None:
    """A part whose connection drops half-way leaves nothing of itself: the resume sees the parts
    that arrived whole, sends only the others, and the object is exact."""
    storage, data = backend.storage, os.urandom(11 * MIB)
    plan = _plan(len(data))
    storage.start_parts("resume/obj")
    assert _put_part(storage, "resume/obj", plan, 1, data).status_code in (200, 201)
    part2 = data[5 * MIB:10 * MIB]
    url = storage.part_url("resume/obj", 2, len(part2), expires_in=60)
    _cut_off(url, storage.part_headers(), part2, 2 * MIB)
    time.sleep(1)  # the storage notices the closed connection
    assert storage.arrived_parts("resume/obj") == {1: 5 * MIB}
    with pytest.raises(UploadMismatch, match="Part 2 of 3 has not arrived"):
        storage.complete_parts("resume/obj", plan)
    for number in sorted(set(range(1, plan.count + 1)) - set(storage.arrived_parts("resume/obj"))):
        assert _put_part(storage, "resume/obj", plan, number, data).status_code in (200, 201)
    storage.complete_parts("resume/obj", plan)
    assert storage.stat("resume/obj").sha256 == sha(data)


def test_a_part_over_its_size_never_becomes_part_of_the_object(backend: Backend) -> None:
    """Local and S3 refuse the oversized part at the door (a signed size); Azure cannot bind a
    size in a SAS, so it stores the block and completion refuses it, naming the part."""
    storage, data = backend.storage, os.urandom(6 * MIB)
    plan = _plan(len(data))
    storage.start_parts("bound/obj")
    oversized = _put_part(storage, "bound/obj", plan, 2, data, body=data[5 * MIB:] + b"extra bytes")
    assert _put_part(storage, "bound/obj", plan, 1, data).status_code in (200, 201)
    if backend.name == "azure":
        assert oversized.status_code == 201
        with pytest.raises(UploadMismatch, match=r"Part 2 of 2 is \d+ bytes where 1048576 were expected"):
            storage.complete_parts("bound/obj", plan)
        assert storage.stat("bound/obj") is None
    else:
        assert oversized.status_code in (403, 413), oversized.text
        assert 2 not in storage.arrived_parts("bound/obj")
    assert _put_part(storage, "bound/obj", plan, 2, data).status_code in (200, 201)  # sent again, right
    storage.complete_parts("bound/obj", plan)
    assert storage.stat("bound/obj").sha256 == sha(data)


def test_abandoned_uploads_in_parts_are_cleaned_up(backend: Backend) -> None:
    from podium.server.part_uploads import clean_abandoned

    storage, data = backend.storage, os.urandom(5 * MIB + 1)
    plan = _plan(len(data))
    storage.put("kept/obj", b"a finished object")
    for key in ("gone/a", "gone/b"):
        storage.start_parts(key)
        assert _put_part(storage, key, plan, 1, data).status_code in (200, 201)
    assert clean_abandoned(storage, max_age=3600) == []  # young uploads are left alone
    time.sleep(2.5)
    assert clean_abandoned(storage, max_age=1) == ["gone/a", "gone/b"]
    for key in ("gone/a", "gone/b"):
        assert storage.arrived_parts(key) == {} and storage.stat(key) is None
    assert storage.abandoned_part_uploads(0) == []
    assert storage.stat("kept/obj").sha256 == sha(b"a finished object")
    if backend.name == "s3":
        listed = storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
        assert not [u for u in listed if u["Key"].startswith("inst1/gone/")]
    elif backend.name == "azure":
        names = [b.name for b in storage.container.list_blobs(include=["uncommittedblobs"])]
        assert not [n for n in names if "gone/" in n]
    else:
        assert not os.path.exists(os.path.join(storage.root, "#parts"))  or not os.listdir(os.path.join(storage.root, "#parts"))


def test_a_signed_download_in_parallel_ranges_is_exact(backend: Backend, tmp_path: Path) -> None:
    """What the client does with a large download: byte ranges in parallel where the storage
    serves them (S3, Azure), one stream where it does not (the local backend)."""
    from podium.widgets.part_upload import download_in_parts

    data = os.urandom(3 * MIB + 5)
    backend.storage.put("dl/obj", data)
    url = backend.storage.signed_url("dl/obj", "GET", expires_in=60, filename="obj.bin")
    saved = download_in_parts(url, len(data), tmp_path / "obj.bin", part_size=MIB, parallel=3)
    assert saved.read_bytes() == data
