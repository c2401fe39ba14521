"""A signed URL serves one purpose and dies with it: an upload link stops working when its object
is confirmed, a worker's output link when its attempt ends, and no signed URL ever shows in a
failure reason. Played against the real service over HTTP (and a real worker runner whose storage
is out of reach)."""

from __future__ import annotations

import hashlib

import requests
from helpers import programs
from helpers.worker_over_http import claim, competition_on_own_queue, finish, queued_attempt, submit
from podium.worker.cache import DatasetCache
from podium.worker.client import ServiceClient
from podium.worker.executors.local import LocalExecutor
from podium.worker.runner import AttemptRunner, WorkerSettings

SUBMISSION = programs.result_submission("a\nb\nc\nd\n")


def test_an_upload_link_dies_when_the_submission_is_confirmed(api, service, creator, users) -> None:
    comp, user, _ = competition_on_own_queue(api, service, creator, users)
    sid, upload_url = submit(api, user, comp["phases"][0]["id"], SUBMISSION)
    replaced = api.upload(upload_url, programs.result_submission("forged"), expect=409)
    assert replaced.json()["error"]["reason"] == "UploadClosed"
    files = api(creator, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]
    stored = requests.get(next(f for f in files if f["role"] == "submission")["download_url"], timeout=10).content
    assert stored == SUBMISSION


def test_a_dataset_upload_link_dies_when_the_dataset_is_confirmed(api, creator) -> None:
    data = b"organizer data"
    announced = api(creator, "POST", "/datasets", expect=201, json={
        "kind": "input_data", "name": "d.zip", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json()
    api.upload(announced["upload_url"], data)
    api.upload(announced["upload_url"], b"organizer dat!", expect=200)  # before confirming: a retry is fine
    api.upload(announced["upload_url"], data)
    api(creator, "POST", f"/datasets/{announced['id']}/uploaded", expect=200)
    api.upload(announced["upload_url"], b"organizer dat!", expect=409)


def test_an_attempts_output_links_die_when_the_attempt_ends(api, service, creator, users) -> None:
    comp, user, worker = competition_on_own_queue(api, service, creator, users)
    sid, _ = submit(api, user, comp["phases"][0]["id"], SUBMISSION)
    attempt = queued_attempt(service, sid)
    spec = claim(api, worker, attempt)
    api.upload(spec["outputs"]["output"]["url"], b"the real scoring output")
    api.upload(spec["outputs"]["log"]["url"], b"the real log")
    finish(api, worker, attempt, state="succeeded", scores={"accuracy": 0.5, "runtime": 1.0}, files=["output", "log"])
    # replaying the worker's links after the attempt ended: attached outputs and an unused slot alike
    for name in ("output", "log", "detailed_results"):
        refused = api.upload(spec["outputs"][name]["url"], b"replaced", expect=409)
        assert refused.json()["error"]["reason"] == "UploadClosed"
    files = {f["role"]: f for f in api(creator, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}
    assert requests.get(files["scoring_output"]["download_url"], timeout=10).content == b"the real scoring output"
    assert "detailed_results" not in files


def test_output_links_of_a_failed_attempt_die_with_it(api, service, creator, users) -> None:
    comp, user, worker = competition_on_own_queue(api, service, creator, users)
    sid, _ = submit(api, user, comp["phases"][0]["id"], SUBMISSION)
    attempt = queued_attempt(service, sid)
    spec = claim(api, worker, attempt)
    finish(api, worker, attempt, state="failed", failure_kind="participant", reason="crashed", retryable=False)
    api.upload(spec["outputs"]["output"]["url"], b"late", expect=409)


def test_no_signed_url_in_the_reason_when_storage_is_out_of_reach(api, service, creator, users, tmp_path) -> None:
    comp, user, worker = competition_on_own_queue(api, service, creator, users)
    sid, _ = submit(api, user, comp["phases"][0]["id"], SUBMISSION)
    storage = service.app.storage
    base_url = storage.base_url
    storage.base_url = "http://127.0.0.1:9/podium/"  # links now point where nothing answers (discard port)
    try:
        client = ServiceClient(service.url, worker["Authorization"].split()[1], "hand", timeout=5)
        runner = AttemptRunner(client, LocalExecutor(allow_unsafe=True), DatasetCache(str(tmp_path / "cache"), 10**8),
                               WorkerSettings(name="hand", work_dir=str(tmp_path), hard_disk_caps=False))
        report = runner.run(queued_attempt(service, sid))
    finally:
        storage.base_url = base_url
    assert report is not None and report["state"] == "failed", report
    assert report["reason"].startswith("Fetching the "), report["reason"]
    sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
    shown = [report["reason"], sub["failure_reason"] or "", str(sub)]
    with service.app.session_factory() as session:
        from podium.server.orm import Attempt

        shown += [a.error or "" for a in session.query(Attempt).filter(Attempt.submission_id == sid)]
    for text in shown:
        assert "sig=" not in text and "/storage/" not in text and "127.0.0.1:9" not in text, text
