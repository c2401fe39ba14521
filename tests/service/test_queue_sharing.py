"""Organizer-owned compute queues over real HTTP with real hub users and groups: an organizer
creates a queue and is its owner; others neither see nor use it until it is shared with them or a
hub group of theirs; a competition (created, changed or imported from a bundle) may name only a
queue its organizer may use; only the owner and hub admins re-key, share and delete; a queue that
competitions use is not deleted, and the refusal lists them."""

from __future__ import annotations

import uuid

import pytest
from conftest import competition_body, unique_slug
from helpers import competition_bundles as bb

pytestmark = pytest.mark.one_backend


def new_queue(api, owner) -> tuple[str, str]:
    name = f"own-{uuid.uuid4().hex[:8]}"
    created = api(owner, "POST", "/queues", json={"name": name}, expect=201).json()
    assert created["owner"] == owner.name and created["shared_with"] == {"users": [], "groups": []}
    return name, created["token"]


def listed(api, user) -> list[str]:
    return [q["name"] for q in api(user, "GET", "/queues", expect=200).json()["queues"]]


def on_queue(api, organizer, queue: str | None, expect: int) -> dict:
    return api(organizer, "POST", "/competitions", json=competition_body(unique_slug("q"), queue=queue),
               expect=expect).json()


@pytest.fixture
def people(users):
    return {
        "owner": users.make("qowner", groups=("creators",)),
        "colleague": users.make("qcolleague", groups=("creators",)),
        "stranger": users.make("qstranger", groups=("creators",)),
        "admin": users.make("qroot", admin=True),
    }


def test_an_organizer_s_queue_is_theirs_until_they_share_it_with_a_user(api, people) -> None:
    owner, colleague, stranger, admin = (people[k] for k in ("owner", "colleague", "stranger", "admin"))
    name, _token = new_queue(api, owner)
    assert name in listed(api, owner) and name in listed(api, admin)
    assert name not in listed(api, colleague) and "default" in listed(api, colleague)
    api(colleague, "GET", f"/queues/{name}", expect=404)

    refused = on_queue(api, colleague, name, 403)["error"]
    assert refused["reason"] == "QueueNotShared" and refused["queue"] == name
    assert f"compute queue '{name}'" in refused["message"] and owner.name in refused["message"]

    shared = api(owner, "PUT", f"/queues/{name}/shares/users/{colleague.name}", expect=200).json()
    assert shared["shared_with"] == {"users": [colleague.name], "groups": []}
    api(owner, "PUT", f"/queues/{name}/shares/users/{colleague.name}", expect=200)  # twice: still once
    seen = api(colleague, "GET", f"/queues/{name}", expect=200).json()
    # a user of the queue sees its workers and depth, not whom it is shared with nor the failures
    assert "shared_with" not in seen and "recent_failures" not in seen and "token" not in seen
    comp = on_queue(api, colleague, name, 201)
    assert comp["queue"] == name
    # the colleague uses the queue; only its owner and hub admins manage it
    api(colleague, "POST", f"/queues/{name}/token", expect=403)
    api(colleague, "PUT", f"/queues/{name}/shares/users/{stranger.name}", expect=403)
    api(colleague, "DELETE", f"/queues/{name}", expect=403)
    api(stranger, "POST", f"/queues/{name}/token", expect=404)

    api(owner, "DELETE", f"/queues/{name}/shares/users/{colleague.name}", expect=200)
    api(owner, "DELETE", f"/queues/{name}/shares/users/{colleague.name}", expect=404)
    assert name not in listed(api, colleague)
    # the competition keeps its queue, and its organizer may still change the rest of it
    patched = api(colleague, "PATCH", f"/competitions/{comp['id']}", json={"title": "Renamed", "queue": name},
                  expect=200).json()
    assert patched["queue"] == name and patched["title"] == "Renamed"
    other = on_queue(api, colleague, None, 201)
    api(colleague, "PATCH", f"/competitions/{other['id']}", json={"queue": name}, expect=403)


def test_a_queue_shared_with_a_hub_group_follows_the_group_s_members(api, hub, people) -> None:
    owner, colleague = people["owner"], people["colleague"]
    group = f"lab-{uuid.uuid4().hex[:6]}"
    hub.create_group(group)
    name, _ = new_queue(api, owner)
    api(owner, "PUT", f"/queues/{name}/shares/groups/{group}", expect=200)
    assert name not in listed(api, colleague)
    hub.add_to_group(group, [colleague.name])
    assert name in listed(api, colleague)
    on_queue(api, colleague, name, 201)
    hub.remove_from_group(group, [colleague.name])
    assert name not in listed(api, colleague)
    on_queue(api, colleague, name, 403)
    api(owner, "PUT", f"/queues/{name}/shares/teams/{group}", expect=404)
    for bad in ("x" * 256, "tab%09name"):
        api(owner, "PUT", f"/queues/{name}/shares/users/{bad}", expect=400)


def test_only_the_owner_and_admins_rekey_and_the_token_is_shown_to_them_alone(api, service, people) -> None:
    owner, admin, colleague = people["owner"], people["admin"], people["colleague"]
    name, first = new_queue(api, owner)
    api(owner, "PUT", f"/queues/{name}/shares/users/{colleague.name}", expect=200)
    assert first not in api.http.get(service.api_url + "/queues", headers=colleague.headers, timeout=30).text
    second = api(owner, "POST", f"/queues/{name}/token", expect=200).json()["token"]
    third = api(admin, "POST", f"/queues/{name}/token", expect=200).json()["token"]
    assert len({first, second, third}) == 3
    for token, status in ((first, 401), (second, 401), (third, 200)):
        got = api.http.get(service.api_url + "/worker/config", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert got.status_code == status


def test_a_queue_in_use_is_not_deleted_and_the_refusal_lists_its_competitions(api, dbsession, people) -> None:
    owner, admin = people["owner"], people["admin"]
    name, _ = new_queue(api, owner)
    first, second = on_queue(api, owner, name, 201), on_queue(api, owner, name, 201)
    refused = api(owner, "DELETE", f"/queues/{name}", expect=409).json()["error"]
    assert refused["reason"] == "QueueInUse"
    assert refused["competitions"] == sorted([first["slug"], second["slug"]])
    assert first["slug"] in refused["message"] and second["slug"] in refused["message"]
    api(owner, "PATCH", f"/competitions/{first['id']}", json={"queue": None}, expect=200)
    api(owner, "DELETE", f"/competitions/{second['id']}", expect=204)
    api(owner, "DELETE", f"/queues/{name}", expect=204)
    assert name not in listed(api, admin)
    api(owner, "GET", f"/queues/{name}", expect=404)
    refused = api(admin, "DELETE", "/queues/default", expect=409).json()["error"]
    assert "cannot be deleted" in refused["message"]


@pytest.mark.in_process  # it reconfigures the service thread's app
def test_who_may_create_queues_includes_the_configured_group(api, service, users) -> None:
    runner = users.make("qrunner", groups=("queue-runners",))
    refused = api(runner, "POST", "/queues", json={"name": f"r-{uuid.uuid4().hex[:6]}"}, expect=403).json()
    assert "create compute queues" in refused["error"]["message"]
    service.app.queue_organizer_group = "queue-runners"
    try:
        name, _ = new_queue(api, runner)
    finally:
        service.app.queue_organizer_group = ""
    assert name in listed(api, runner)


def test_a_bundle_may_name_only_a_queue_its_importer_may_use(api, people) -> None:
    owner, colleague = people["owner"], people["colleague"]
    name, _ = new_queue(api, owner)
    data = bb.codabench_v2(bb.CODABENCH_V2_YAML + f"queue: {name}\n")
    failed = bb.import_via_api(api, colleague, data)
    assert failed["status"] == "failed"
    assert any(f"compute queue '{name}'" in e and "not shared with you" in e for e in failed["errors"]), failed
    done = bb.import_via_api(api, owner, data)
    assert done["status"] == "succeeded", done
    assert api(owner, "GET", f"/competitions/{done['competition_slug']}", expect=200).json()["queue"] == name


def test_a_token_in_use_is_refused_at_the_next_call_once_rotated_or_its_queue_deleted(api, service, people,
                                                                                        db_url) -> None:
    """Each service process remembers which queue a worker's token names (``RememberedTokens``):
    a rotation through the API or committed by another "replica" (an engine of its own), and the
    queue's deletion, refuse the old token at the very next call, with no wait between the commit
    and the call (PostgreSQL LISTEN/NOTIFY from the trigger of migration 0023)."""
    import sqlalchemy as sa
    from podium.server.compute.queues import hash_token
    from podium.server.db import make_engine
    from podium.server.orm import ComputeQueue

    def answers(token: str) -> list[int]:
        """Six calls, so that with several service processes each is likely to answer one."""
        return [api.http.get(service.api_url + "/worker/config", headers={"Authorization": f"Bearer {token}"},
                             timeout=30).status_code for _ in range(6)]

    owner = people["owner"]
    name, first = new_queue(api, owner)
    assert answers(first) == [200] * 6  # now remembered
    second = api(owner, "POST", f"/queues/{name}/token", expect=200).json()["token"]
    assert answers(first) == [401] * 6
    assert answers(second) == [200] * 6
    other = make_engine(db_url)
    try:
        with other.begin() as conn:
            conn.execute(sa.update(ComputeQueue).where(ComputeQueue.name == name)
                         .values(token_hash=hash_token("rotated-elsewhere")))
        assert answers(second) == [401] * 6
    finally:
        other.dispose()
    assert answers("rotated-elsewhere") == [200] * 6
    api(owner, "DELETE", f"/queues/{name}", expect=204)
    assert answers("rotated-elsewhere") == [401] * 6
