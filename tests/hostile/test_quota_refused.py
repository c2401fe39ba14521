"""Quota held by refused uploads: an upload refused for its size or checksum, or abandoned, gives
its slot back at once; an upload accepted later on the same submission takes one again."""

from __future__ import annotations

import hashlib

import pytest
import requests
from helpers.web_session import create_queue
from podium.server.clock import utcnow

PAYLOAD = b"PK\x05\x06" + b"\x00" * 18  # an empty zip


def announce(data: bytes = PAYLOAD) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture
def joined(users, api, make_competition):
    """(user, phase id): a participant of an open competition whose phase allows 5 a day, on a
    queue of its own that no worker serves (a worker that failed these empty submissions as the
    platform's fault would give their slots back and race with what the tests count)."""
    comp = make_competition(queue=create_queue(api, users)["name"])
    user = users.make("quota")
    assert api(user, "POST", f"/competitions/{comp['id']}/register", expect=200).json()["status"] == "approved"
    return user, comp["phases"][0]["id"]


def remaining_today(api, user, phase_id: int) -> int:
    me = api(user, "GET", "/me", expect=200).json()
    (entry,) = [c for c in me["competitions"] if any(p["id"] == phase_id for p in c["phases"])]
    (phase,) = [p for p in entry["phases"] if p["id"] == phase_id]
    return phase["quota"]["remaining_today"]


def test_five_uploads_refused_for_their_size_keep_every_daily_slot(api, joined) -> None:
    user, phase_id = joined
    assert remaining_today(api, user, phase_id) == 5
    for _ in range(5):
        created = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=201).json()
        too_big = requests.put(created["upload_url"], data=PAYLOAD + b"x" * 1000, timeout=30)
        assert too_big.status_code == 413
        # what the participant's client does after a refused upload: confirm, and hear it refused
        refused = api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=422).json()["error"]
        assert refused["reason"] == "UploadMismatch"
        sub = api(user, "GET", f"/submissions/{created['id']}", expect=200).json()
        assert sub["counts_toward_quota"] is False and sub["status"] == "submitting"
    assert remaining_today(api, user, phase_id) == 5
    for _ in range(5):  # every slot is there to use
        created = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=201).json()
        api.upload(created["upload_url"], PAYLOAD)
        api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    assert remaining_today(api, user, phase_id) == 0
    api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=429)


def test_a_checksum_refusal_gives_the_slot_back_and_a_good_upload_takes_it_again(api, joined) -> None:
    user, phase_id = joined
    created = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=201).json()
    assert remaining_today(api, user, phase_id) == 4
    api.upload(created["upload_url"], b"PK" + b"\x01" * (len(PAYLOAD) - 2))
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=422)
    assert remaining_today(api, user, phase_id) == 5
    api.upload(created["upload_url"], PAYLOAD)
    done = api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200).json()
    assert done["status"] == "submitted" and done["counts_toward_quota"] is True
    assert remaining_today(api, user, phase_id) == 4


def test_a_good_upload_after_a_refusal_needs_a_slot_left(api, creator, joined) -> None:
    user, phase_id = joined
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submissions_per_day": 1}, expect=200)
    first = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=201).json()
    api(user, "POST", f"/submissions/{first['id']}/uploaded", expect=422)  # nothing arrived: slot back
    second = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=201).json()
    api.upload(second["upload_url"], PAYLOAD)
    api(user, "POST", f"/submissions/{second['id']}/uploaded", expect=200)
    api.upload(first["upload_url"], PAYLOAD)
    late = api(user, "POST", f"/submissions/{first['id']}/uploaded", expect=429).json()["error"]
    assert late["reason"] == "QuotaExceeded"
    assert api(user, "GET", f"/submissions/{first['id']}", expect=200).json()["status"] == "submitting"


def test_an_abandoned_upload_gives_its_slot_back_once_its_link_is_dead(api, joined, service, clock) -> None:
    user, phase_id = joined
    morning = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    clock.set(morning)
    created = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=201).json()
    assert remaining_today(api, user, phase_id) == 4
    clock.set(morning.replace(hour=9, minute=59))  # the link still lives: the upload may come
    service.app.reap()
    assert api(user, "GET", f"/submissions/{created['id']}", expect=200).json()["status"] == "submitting"
    assert service.app.job_limits.abandoned_upload_timeout <= service.app.upload_url_expiry + 300
    clock.set(morning)
    clock.advance(seconds=service.app.job_limits.abandoned_upload_timeout + 1)
    service.app.reap()
    sub = api(user, "GET", f"/submissions/{created['id']}", expect=200).json()
    assert sub["status"] == "cancelled" and sub["counts_toward_quota"] is False
    assert remaining_today(api, user, phase_id) == 5
