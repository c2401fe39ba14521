"""Uploads in parts through the API and the client the widgets and ``podium submit`` share: a
dataset and a submission sent in parallel parts, an upload cut off by a dying kernel resumed by a
new client without sending again what arrived, a mismatch refused with nothing left behind, and
the refusals of the protocol (parts of a confirmed object, parts outside the plan, someone else's)."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from podium.widgets.client import PodiumClient
from podium.widgets.part_upload import UploadMemory

MIB = 1024 * 1024
#: the part size is set in the service thread's own options (``five_mib_parts``)
pytestmark = pytest.mark.in_process


@pytest.fixture(autouse=True)
def five_mib_parts(service, monkeypatch) -> None:
    """Parts of 5 MiB (the floor), so a few MiB show several parts."""
    monkeypatch.setattr(service.app, "upload_part_size", 5 * MIB)


class KernelDied(Exception):
    """Raised from inside a part's body, as a kernel that dies mid-upload cuts its connections."""


def client_for(service, user, memory_dir: Path) -> PodiumClient:
    client = PodiumClient(url=service.url, token=user.token, upload_memory=UploadMemory(memory_dir))
    client.parts_from = 1  # everything in parts, so small files show the protocol
    return client


def announce(api, user, data: bytes, name: str, sha256: str | None = None) -> tuple[int, str]:
    """Announce a dataset of ``data`` (or of another checksum); returns its id and upload path."""
    announced = api(user, "POST", "/datasets", json={
        "kind": "input_data", "name": name, "size": len(data),
        "sha256": sha256 or hashlib.sha256(data).hexdigest()}, expect=201).json()
    return announced["id"], f"/datasets/{announced['id']}/upload"


def write_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_a_dataset_cut_off_by_a_dying_kernel_resumes_in_a_new_one(service, creator, tmp_path) -> None:
    path = write_file(tmp_path / "big.bin", 16 * MIB + 7)  # 4 parts of 5 MiB (the last 1 MiB + 7)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    first = client_for(service, creator, tmp_path / "memory")
    first.upload_parallel = 1  # parts in order: the first arrives whole, the second is cut off

    def die_in_the_second_part(sent: int, total: int) -> None:
        if sent > 7 * MIB:
            raise KernelDied()

    with pytest.raises(KernelDied):
        first.upload_dataset(path, kind="public_data", name="big.bin", progress=die_in_the_second_part)
    (remembered,) = UploadMemory(tmp_path / "memory").directory.glob(f"{sha}.json")
    assert remembered.stat().st_mode & 0o077 == 0  # the user's own

    second = client_for(service, creator, tmp_path / "memory")  # a new kernel: nothing in memory but the disk
    reports: list[tuple[int, int]] = []
    dataset = second.upload_dataset(path, kind="public_data", name="big.bin", progress=lambda s, t: reports.append((s, t)))
    assert dataset["state"] == "ready" and dataset["sha256"] == sha and dataset["size"] == path.stat().st_size
    assert reports[0][0] == 5 * MIB, "part 1 arrived before: counted, not sent again"
    sent_again = sum(b[0] - a[0] for a, b in zip(reports, reports[1:], strict=False) if b[0] > a[0])
    assert sent_again == path.stat().st_size - 5 * MIB
    assert reports[-1] == (path.stat().st_size, path.stat().st_size)
    assert not list((tmp_path / "memory").glob("*.json"))  # done: forgotten
    saved = second.download_dataset(dataset["id"], tmp_path / "copy.bin")  # large: the download path for ranges
    assert saved.read_bytes() == path.read_bytes() and not list(tmp_path.glob("*.part"))


def test_a_submission_goes_in_parts_through_the_shared_client(service, users, api, make_competition, tmp_path) -> None:
    comp = make_competition()
    user = users.make("parts")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    phase_id = comp["phases"][0]["id"]
    path = write_file(tmp_path / "submission.zip", 6 * MIB)
    done = client_for(service, user, tmp_path / "memory").submit(phase_id, path, description="in parts")
    assert done["status"] in ("submitted", "running", "finished", "failed")
    assert done["quota"]["used_today"] == 1


def test_a_mismatch_after_completion_is_refused_and_leaves_nothing(service, creator, api) -> None:
    data = os.urandom(6 * MIB)
    dataset_id, base = announce(api, creator, data, "x.bin", sha256="0" * 64)
    started = api(creator, "POST", base, expect=200).json()
    assert (started["part_count"], started["part_size"], started["arrived"]) == (2, 5 * MIB, [])
    parts = api(creator, "POST", base + "/parts", json={"numbers": [1, 2]}, expect=200).json()["parts"]
    for part in parts:
        start = (part["number"] - 1) * started["part_size"]
        r = requests.put(part["url"], data=data[start:start + part["size"]], timeout=60)
        assert r.status_code == 200, r.text
    assert api(creator, "POST", base, expect=200).json()["arrived"] == [1, 2]
    api(creator, "POST", base + "/complete", expect=200)
    refused = api(creator, "POST", f"/datasets/{dataset_id}/uploaded", expect=422).json()["error"]
    assert "does not match what was announced" in refused["message"]
    from podium.server.orm import Artifact

    with service.app.session_factory() as session:
        storage_key = session.get(Artifact, dataset_id).storage_key
    assert service.app.storage.stat(storage_key) is None


def test_the_protocol_refuses_what_it_must(service, creator, users, api) -> None:
    data = os.urandom(5 * MIB + 1)
    dataset_id, base = announce(api, creator, data, "y.bin")
    api(creator, "POST", base, expect=200)
    outside = api(creator, "POST", base + "/parts", json={"numbers": [3]}, expect=400).json()["error"]
    assert "there is no part 3" in outside["message"]
    api(users.make("stranger"), "POST", base, expect=404)  # someone else's upload is not there for them
    api(creator, "POST", base + "/complete", expect=422)  # nothing arrived yet
    parts = api(creator, "POST", base + "/parts", json={"numbers": [1, 2]}, expect=200).json()["parts"]
    first = parts[0]
    other_part = first["url"].replace("/storage-parts/1/", "/storage-parts/2/")
    assert requests.put(other_part, data=data[:10], timeout=60).status_code == 403  # the number is signed
    read = requests.get(first["url"], timeout=60)
    assert read.status_code == 405 and "Part links accept PUT" in read.json()["error"]["message"]
    too_long = requests.put(first["url"], data=data[:first["size"]] + b"more", timeout=60)
    assert too_long.status_code == 413  # the local part link carries its size bound
    for part in parts:
        start = (part["number"] - 1) * 5 * MIB
        assert requests.put(part["url"], data=data[start:start + part["size"]], timeout=60).status_code == 200
    api(creator, "POST", base + "/complete", expect=200)
    api(creator, "POST", f"/datasets/{dataset_id}/uploaded", expect=200)
    again = api(creator, "POST", base, expect=409).json()["error"]
    assert "already uploaded" in again["message"]
    late = requests.put(parts[0]["url"], data=data[:parts[0]["size"]], timeout=60)
    assert late.status_code == 409  # a part link dies with its purpose, like a single upload link
    api(creator, "DELETE", base, expect=409)


def test_the_service_drops_abandoned_uploads_in_parts(service, creator, api, monkeypatch) -> None:
    """What the service's timer runs: uploads older than ``abandoned_part_upload_age`` lose their
    parts; a young one keeps them."""
    data = os.urandom(5 * MIB + 1)
    dataset_id, base = announce(api, creator, data, "z.bin")
    api(creator, "POST", base, expect=200)
    (part, _) = api(creator, "POST", base + "/parts", json={"numbers": [1, 2]}, expect=200).json()["parts"]
    assert requests.put(part["url"], data=data[:part["size"]], timeout=60).status_code == 200
    assert service.app.clean_abandoned_part_uploads() == []
    assert api(creator, "POST", base, expect=200).json()["arrived"] == [1]
    monkeypatch.setattr(service.app, "abandoned_part_upload_age", -1)
    from podium.server.orm import Artifact

    with service.app.session_factory() as session:
        key = session.get(Artifact, dataset_id).storage_key
    assert key in service.app.clean_abandoned_part_uploads()
    assert service.app.storage.arrived_parts(key) == {}
    assert api(creator, "POST", base, expect=200).json()["arrived"] == []  # it can start again


def test_a_long_upload_in_parts_is_not_taken_for_abandoned(service, users, api, make_competition, clock) -> None:
    """The reaper cancels a submission whose upload never completed, counting from its last
    start or part request: an upload in parts that keeps moving for longer than the timeout
    stays, one that stops is cancelled (and costs nothing)."""
    from podium.server.clock import utcnow

    comp = make_competition()
    phase_id = comp["phases"][0]["id"]
    user = users.make("longup")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    data = os.urandom(6 * MIB)
    created = api(user, "POST", f"/phases/{phase_id}/submissions", json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
                  expect=201).json()
    base = f"/submissions/{created['id']}/upload"
    api(user, "POST", base, expect=200)
    timeout = service.app.job_limits.abandoned_upload_timeout
    start = utcnow()
    for step in range(1, 4):  # three times two thirds of the timeout, a part asked for each time
        clock.set(start + timedelta(seconds=step * timeout * 2 / 3))
        api(user, "POST", base + "/parts", json={"numbers": [1]}, expect=200)
        service.app.reap()
        assert api(user, "GET", f"/submissions/{created['id']}", expect=200).json()["status"] == "submitting"
    clock.set(start + timedelta(seconds=3 * timeout * 2 / 3 + timeout + 1))  # then it stops
    service.app.reap()
    stopped = api(user, "GET", f"/submissions/{created['id']}", expect=200).json()
    assert stopped["status"] == "cancelled" and "never completed" in stopped["failure_reason"]
