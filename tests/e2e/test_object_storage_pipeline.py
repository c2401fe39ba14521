"""The whole pipeline on object storage: a service configured with S3 (LocalStack) or Azure Blob
(Azurite), create → upload by signed URL → finalize → a Docker `podium worker` with no storage
credentials → scores on the leaderboard; and a finalize whose object does not match is refused
and leaves neither the object nor a charged submission behind."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import (
    Api,
    ServiceThread,
    WorkerProcess,
    competition_body,
    free_port,
    unique_slug,
    wait_for,
)
from helpers import programs
from helpers.emulators import start_azurite, start_s3
from podium.server import db
from traitlets.config import Config


def storage_config(backend: str, workdir: Path) -> tuple[Config, object]:
    """The service's configuration for ``backend``, its emulator running and its bucket made."""
    config = Config()
    name = f"podium-{uuid.uuid4().hex[:10]}"
    if backend == "s3":
        emulator = start_s3(workdir)
        import boto3

        settings = emulator.settings
        boto3.client("s3", endpoint_url=settings["endpoint_url"], region_name="us-east-1",
                     aws_access_key_id=settings["access_key_id"],
                     aws_secret_access_key=settings["secret_access_key"]).create_bucket(Bucket=name)
        config.S3Config.update(bucket=name, endpoint_url=settings["endpoint_url"], key_prefix="podium",
                               access_key_id=settings["access_key_id"], secret_access_key=settings["secret_access_key"])
    else:
        emulator = start_azurite(workdir)
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(emulator.settings["connection_string"]).create_container(name)
        config.AzureConfig.update(container=name, key_prefix="podium",
                                  connection_string=emulator.settings["connection_string"])
    return config, emulator


@pytest.fixture(scope="module", params=["s3", "azure"])
def object_service(request, hub, tmp_path_factory) -> Iterator[ServiceThread]:
    """A second Podium service on the same hub, with its own database, broker virtual host and an
    object-storage backend."""
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"objstore-{backend}")
    config, emulator = storage_config(backend, workdir)
    db_url = f"sqlite:///{workdir / 'podium.sqlite'}"
    db.upgrade(db_url)
    vhost = f"podium-objstore-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    svc = ServiceThread(
        config=config, storage_class=backend, db_url=db_url, data_dir=str(workdir / "data"), ip="127.0.0.1",
        port=free_port(), base_url="/services/podium/", hub_api_url=hub.hub_api_url,
        hub_api_token=hub.service_api_token, service_name=hub.service_name, secret_key="test-secret-key",
        auth_cache_max_age=0, creator_group="creators", broker_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        default_queue_token="test-queue-token", lease_seconds=6, reaper_interval=1.0, dispatch_interval=0.5,
    )
    svc.backend = backend
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()
        emulator.stop()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


@pytest.fixture(scope="module")
def object_api(object_service: ServiceThread) -> Api:
    return Api(object_service)


@pytest.fixture(scope="module")
def object_worker(object_service, runtime_images, tmp_path_factory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(object_service, tmp_path_factory.mktemp("objstore-worker"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def put(answer: dict, data: bytes) -> requests.Response:
    """What a client does with an upload answer: PUT the bytes, with the headers it names."""
    return requests.put(answer["upload_url"], data=data, headers=answer.get("upload_headers", {}), timeout=60)


def upload_dataset(api: Api, user, kind: str, name: str, data: bytes) -> int:
    announced = api(user, "POST", "/datasets", json={"kind": kind, "name": name, "size": len(data),
                                                   "sha256": hashlib.sha256(data).hexdigest()}, expect=201).json()
    assert put(announced, data).status_code in (200, 201)
    api(user, "POST", f"/datasets/{announced['id']}/uploaded", expect=200)
    return announced["id"]


def test_pipeline_on_object_storage(object_service, object_api, object_worker, creator, users) -> None:
    api = object_api
    store = object_service.app.storage
    assert type(store).__name__ == {"s3": "S3Storage", "azure": "AzureStorage"}[object_service.backend]
    # the worker has no storage credentials at all: only signed URLs
    environ = Path(f"/proc/{object_worker.proc.pid}/environ").read_bytes()
    for secret in (b"AccountKey", b"PODIUM_S3", b"AWS_SECRET_ACCESS_KEY", b"PODIUM_AZURE"):
        assert secret not in environ

    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, creator, "scoring_program", "scoring.zip", programs.V2_SCORING),
            "reference_data": upload_dataset(api, creator, "reference_data", "ref.zip", programs.REFERENCE)}
    body = competition_body(unique_slug("objstore"), tasks=[task], docker_image="python:3")
    body["phases"][0].update(max_submissions_per_day=0, max_submissions=0, execution_time_limit=60)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    phase_id = comp["phases"][0]["id"]
    user = users.make("objstore")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)

    data = programs.result_submission("a\nb\nc\nd\n")
    created = api(user, "POST", f"/phases/{phase_id}/submissions",
                  json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, expect=201).json()
    # the upload URL is the storage's own, not the service's
    assert not created["upload_url"].startswith(object_service.url)
    assert put(created, data).status_code in (200, 201)
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    sub = wait_for(api, user, created["id"])
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"]["accuracy"] == 1.0
    board = api(user, "GET", f"/phases/{phase_id}/leaderboard", expect=200).json()
    assert [e["owner"] for e in board["entries"]] == [user.name]
    files = {f["role"]: f for f in api(user, "GET", f"/submissions/{created['id']}/outputs", expect=200).json()["files"]}
    download = requests.get(files["submission"]["download_url"], timeout=30)
    assert download.status_code == 200 and download.content == data
    assert "attachment" in download.headers["Content-Disposition"]


def test_a_mismatching_upload_is_refused_and_leaves_nothing(object_service, object_api, creator) -> None:
    api = object_api
    announced_data, sent = b"the announced bytes", b"something else, longer"
    announced = api(creator, "POST", "/datasets", json={
        "kind": "reference_data", "name": "ref.zip", "size": len(announced_data),
        "sha256": hashlib.sha256(announced_data).hexdigest()}, expect=201).json()
    response = put(announced, sent)
    if object_service.backend == "s3":
        # the signed Content-Length: the storage server itself refuses a body of another size
        assert response.status_code == 403
        same_size = b"X" * len(announced_data)
        assert put(announced, same_size).status_code == 200
    else:
        assert response.status_code == 201  # a SAS cannot bind a size: finalize is the check
    refused = api(creator, "POST", f"/datasets/{announced['id']}/uploaded", expect=422).json()
    assert "does not match" in refused["error"]["message"]
    assert "?" not in refused["error"]["message"]  # no signed link in an error
    from podium.server.orm import Artifact

    with object_service.app.session_factory() as session:
        artifact = session.get(Artifact, announced["id"])
        assert object_service.app.storage.stat(artifact.storage_key) is None
        assert artifact.state.value == "pending"


def test_a_submission_in_parts_on_object_storage(object_service, object_api, creator, users, tmp_path,
                                                 monkeypatch) -> None:
    """The shared client's upload in parts against S3 / Azure: parts go to the storage's own
    signed URLs (never through the service), a cut-off upload resumes with only what is missing,
    and the object is confirmed with its checksum; a wrong checksum leaves no object behind."""
    import os

    from podium.widgets.client import PodiumClient
    from podium.widgets.part_upload import UploadMemory

    api = object_api
    comp = api(creator, "POST", "/competitions", json=competition_body(unique_slug("objparts")), expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    user = users.make("objparts")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    client = PodiumClient(url=object_service.url, token=user.token, upload_memory=UploadMemory(tmp_path / "memory"))
    client.parts_from, client.upload_parallel = 1, 1
    data = os.urandom(11 * 1024 * 1024)
    monkeypatch.setattr(object_service.app, "upload_part_size", 5 * 1024 * 1024)

    class Cut(Exception):
        pass

    def cut_in_part_two(sent: int, total: int) -> None:
        if sent > 6 * 1024 * 1024:
            raise Cut()

    with pytest.raises(Cut):
        client.submit(comp["phases"][0]["id"], data, progress=cut_in_part_two)
    (created,) = api(user, "GET", f"/phases/{comp['phases'][0]['id']}/submissions", expect=200).json()["submissions"]
    state = api(user, "POST", f"/submissions/{created['id']}/upload", expect=200).json()
    assert state["arrived"] == [1]
    signed = api(user, "POST", f"/submissions/{created['id']}/upload/parts", json={"numbers": [2]}, expect=200).json()
    assert not signed["parts"][0]["url"].startswith(object_service.url)  # the storage's own URL
    reports: list[int] = []
    done = client.submit(comp["phases"][0]["id"], data, progress=lambda s, t: reports.append(s))
    assert done["id"] == created["id"] and done["status"] != "submitting"
    assert reports[0] == 5 * 1024 * 1024  # resumed: part 1 was not sent again
    assert done["quota"]["used_today"] == 1
