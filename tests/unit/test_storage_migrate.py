"""``podium storage migrate --to s3|azure``, driven through the real command line: every object of
a local storage ends up in the emulator, verified; a second run sends nothing again; a run after an
interruption sends only what is missing; bad target settings give one sentence."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers.emulators import Emulator
from podium.server.storage import LocalStorage, UrlSigner
from test_storage_contract import azure_storage, s3_storage

OBJECTS = {
    "artifacts/2026/12/06/aa": b"a dataset" * 1000,
    "submissions/2026/12/06/bb": b"a submission",
    "outputs/1/2/scores.txt": b"accuracy: 1\n",
    "empty": b"",
}


def podium(*args: str) -> subprocess.CompletedProcess:
    command = str(Path(sys.executable).with_name("podium"))
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(params=["s3", "azure"])
def target(request: pytest.FixtureRequest):
    """(backend, its command-line settings, a Storage on the same place to look with)."""
    name = f"podium-{uuid.uuid4().hex[:12]}"
    if request.param == "s3":
        emulator: Emulator = request.getfixturevalue("s3_server")
        storage = s3_storage(emulator, name, "inst")
        storage.client.create_bucket(Bucket=name)
        settings = {"bucket": name, "key_prefix": "inst", **{k: emulator.settings[k] for k in
                    ("endpoint_url", "access_key_id", "secret_access_key", "region")}}
        args = [f"--S3Config.{k}={v}" for k, v in settings.items()]
    else:
        emulator = request.getfixturevalue("azurite")
        storage = azure_storage(emulator, name, "inst")
        storage.container.create_container()
        args = [f"--AzureConfig.container={name}", "--AzureConfig.key_prefix=inst",
                f"--AzureConfig.connection_string={emulator.settings['connection_string']}"]
    return request.param, args, storage


def test_migrate_copies_every_object_verified_and_resumes(tmp_path: Path, target) -> None:
    backend, settings, storage = target
    local = LocalStorage(str(tmp_path / "storage"), "http://127.0.0.1/", UrlSigner(b"k"))
    for key, data in OBJECTS.items():
        local.put(key, data)
    (tmp_path / "storage" / ".upload-halfway").write_bytes(b"an upload in progress")
    base = ["storage", "migrate", "--to", backend, f"--PodiumService.db_url=sqlite:///{tmp_path}/p.sqlite",
            f"--PodiumService.storage_root={tmp_path / 'storage'}", *settings]

    first = podium(*base)
    assert first.returncode == 0, first.stderr
    assert "4 objects copied" in first.stdout and f"storage_class = '{backend}'" in first.stdout
    for key, data in OBJECTS.items():
        assert storage.stat(key).sha256 == hashlib.sha256(data).hexdigest()

    again = podium(*base)
    assert "0 objects copied (0 bytes), 4 already there" in again.stdout, again.stderr

    storage.delete("submissions/2026/12/06/bb")  # as if the first run had stopped before it
    storage.put("outputs/1/2/scores.txt", b"corrupted")  # or a copy had gone wrong
    resumed = podium(*base)
    assert "2 objects copied" in resumed.stdout and "2 already there" in resumed.stdout, resumed.stderr
    assert storage.stat("outputs/1/2/scores.txt").sha256 == hashlib.sha256(OBJECTS["outputs/1/2/scores.txt"]).hexdigest()


def test_migrate_to_a_missing_bucket_says_which_setting(tmp_path: Path, s3_server: Emulator) -> None:
    done = podium("storage", "migrate", "--to", "s3", f"--PodiumService.db_url=sqlite:///{tmp_path}/p.sqlite",
                  f"--PodiumService.storage_root={tmp_path / 'storage'}", "--S3Config.bucket=no-such-bucket-x",
                  f"--S3Config.endpoint_url={s3_server.url}", "--S3Config.access_key_id=test",
                  "--S3Config.secret_access_key=test")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"podium storage migrate: The S3 bucket 'no-such-bucket-x' does not exist at {s3_server.url}: "
        "check S3Config.bucket."]
