"""Every endpoint walked by every role, with the exact status code each must get.

Roles: anonymous, another hub user, a pending participant, an approved participant, the
organizer of another competition, the organizer, and a hub admin. The competition requires
approval; its phase shows the leaderboard to participants only; the participant owns one
uploaded submission; the task has reference data only organizers may read; the organizer has
uploaded a bundle and started its import.

Two matrices: ``MATRIX``, written by hand, with every role's exact answer for the verbs whose
rules are data-dependent too; and the one read from the route table, where each verb's declared
requirement (``@api(requires=...)``) says whom it refuses and with which status.
"""

from __future__ import annotations

import hashlib
import re

import pytest
import requests
from conftest import competition_body, unique_slug, upload_dataset
from podium.server.routes import api_routes
from tornado.web import RequestHandler

ROLES = ("anonymous", "other", "pending", "participant", "other_organizer", "organizer", "admin")
DATA = b"reference answers"


@pytest.fixture(scope="module")
def world(api, users, creator):
    reference = upload_dataset(api, creator, "reference_data", "ref.zip", DATA)
    public = upload_dataset(api, creator, "public_data", "public.zip", b"public")
    body = competition_body(unique_slug("perm"), registration_mode="approval")
    body["tasks"][0]["reference_data"] = reference
    body["phases"][0].update(leaderboard_visibility="participants", public_data=public)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    hidden = api(creator, "POST", "/competitions", json=competition_body(unique_slug("hidden")), expect=201).json()

    other_org = users.make("otherorg", groups=("creators",))
    api(other_org, "POST", "/competitions", json=competition_body(unique_slug("theirs")), expect=201)
    people = {
        "anonymous": None,
        "other": users.make("other"),
        "pending": users.make("pending"),
        "participant": users.make("participant"),
        "other_organizer": other_org,
        "organizer": creator,
        "admin": users.make("admin", admin=True),
    }
    for role in ("pending", "participant"):
        assert api(people[role], "POST", f"/competitions/{comp['id']}/register", expect=200).json()["status"] == "pending"
    api(creator, "POST", f"/competitions/{comp['id']}/participants/{people['participant'].name}/approve", json={}, expect=200)
    phase_id = comp["phases"][0]["id"]
    payload = b"PK\x05\x06" + b"\x00" * 18
    sub = api(people["participant"], "POST", f"/phases/{phase_id}/submissions",
              json={"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}, expect=201).json()
    api.upload(sub["upload_url"], payload)
    api(people["participant"], "POST", f"/submissions/{sub['id']}/uploaded", expect=200)
    bundle = api(creator, "POST", "/bundles", json={"name": "b.zip", "size": len(payload),
                                                    "sha256": hashlib.sha256(payload).hexdigest()}, expect=201).json()
    api.upload(bundle["upload_url"], payload)
    bundle_import = api(creator, "POST", f"/bundles/{bundle['id']}/import", json={}, expect=202).json()
    return {
        "people": people, "c": comp["id"], "slug": comp["slug"], "p": phase_id, "s": sub["id"],
        "t": comp["tasks"][0]["id"], "ref": reference, "pub": public, "hidden": hidden["id"],
        "lb": comp["leaderboards"][0]["id"], "bundle": bundle["id"], "import": bundle_import["id"],
    }


#            method, path template, body, expected codes in ROLES order
MATRIX = [
    ("GET", "/me", None, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/competitions", None, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/competitions/{c}", None, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/competitions/{hidden}", None, (401, 404, 404, 404, 404, 200, 200)),
    ("GET", "/competitions/{hidden}/phases", None, (401, 404, 404, 404, 404, 200, 200)),
    ("PATCH", "/competitions/{c}", {"description": "new"}, (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/competitions/{c}/publish", None, (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/competitions", {"slug": "x"}, (401, 403, 403, 403, 400, 400, 400)),
    ("GET", "/competitions/{c}/pages", None, (401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/competitions/{c}/pages", {"key": "k", "title": "T"}, (401, 403, 403, 403, 403, 201, 409)),
    ("GET", "/competitions/{c}/phases", None, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/phases/{p}", None, (401, 200, 200, 200, 200, 200, 200)),
    ("PATCH", "/phases/{p}", {"description": "d"}, (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/competitions/{c}/tasks", None, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/tasks/{t}", None, (401, 200, 200, 200, 200, 200, 200)),
    ("PATCH", "/tasks/{t}", {"description": "d"}, (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/competitions/{c}/leaderboards", None, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/phases/{p}/leaderboard", None, (401, 403, 403, 200, 403, 200, 200)),
    ("GET", "/competitions/{c}/participants", None, (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/competitions/{c}/participants/{participant}/approve", {}, (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/competitions/{c}/organizers", None, (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/competitions/{c}/datasets", None, (401, 403, 403, 200, 403, 200, 200)),
    ("GET", "/datasets/{ref}", None, (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/datasets/{pub}", None, (401, 403, 403, 200, 403, 200, 200)),
    ("GET", "/submissions/{s}", None, (401, 404, 404, 200, 404, 200, 200)),
    ("GET", "/submissions/{s}/outputs", None, (401, 404, 404, 200, 404, 200, 200)),
    ("GET", "/phases/{p}/submissions?all=true", None, (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/phases/{p}/submissions", None, (401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/submissions/{s}/rerun", None, (401, 404, 404, 403, 404, 201, 201)),
    ("POST", "/phases/{p}/submissions", "submission", (401, 403, 403, 201, 403, 201, 201)),
]


@pytest.mark.parametrize(("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX])
def test_endpoint_by_role(api, world, method, template, body, expected) -> None:
    people = world["people"]
    path = template.format(participant=people["participant"].name, **{k: v for k, v in world.items() if k != "people"})
    if body == "submission":
        body = {"size": 22, "sha256": "0" * 64}
    got = []
    for role in ROLES:
        kwargs = {"json": body} if body is not None else {}
        got.append(api(people[role], method, path, **kwargs).status_code)
    assert tuple(got) == expected, dict(zip(ROLES, got, strict=True))


DECLARED = [
    (verb.upper(), template, getattr(handler, verb).operation)
    for template, handler in api_routes()
    for verb in ("get", "post", "put", "patch", "delete")
    if getattr(handler, verb) is not getattr(RequestHandler, verb)
]
MANAGERS = ("organizer", "admin")
CREATORS = ("other_organizer", "organizer", "admin")  # hub admins and the creator group


def refusal(requires: str, resource: str | None, role: str) -> int | None:
    """The status a verb with this requirement answers ``role`` on the world's objects (the
    organizer's published competition; the participant's submission; the organizer's uploads),
    or None when ``role`` meets it and the verb runs."""
    if requires == "queue token":
        return 401  # no hub token opens a worker's endpoint
    if role == "anonymous":
        return 401
    if requires == "user":
        return None
    if requires == "admin":
        return None if role == "admin" else 403
    if requires in ("create", "create queues"):
        return None if role in CREATORS else 403  # no queue organizers' group is configured here
    if requires == "use queue":
        return None  # the world's queue is the platform's default: everyone uses it
    if requires == "manage queue":
        return None if role == "admin" else 403  # the default queue has no owner: admins manage it
    if resource == "submission" and role not in (*MANAGERS, "participant"):
        return 404  # a submission is seen by its owner, the organizers and admins alone
    if requires == "view":
        return None
    if requires == "participate":
        return None if role in (*MANAGERS, "participant") else 403
    if requires == "manage":
        return None if role in MANAGERS else 403
    assert requires == "own", requires
    if resource == "submission":
        return None if role == "participant" else 403
    return None if role in MANAGERS else 404  # uploads and imports: their creator and admins


def declared_path(template: str, world: dict, competition: int) -> str:
    """``template`` with the world's objects in its path parameters."""
    values = {
        "competition": competition, "phase": world["p"], "task": world["t"], "leaderboard": world["lb"],
        "submission": world["s"], "dataset": world["ref"], "bundle": world["bundle"],
        "bundle_import": world["import"], "page": "overview", "username": world["people"]["participant"].name,
        "queue": "default", "attempt": 1, "kind": "users", "name": "someone", "team_id": 1, "team": "someone",
    }
    return re.sub(r"\{(\w+)(?::([^|}]+)[^}]*)?\}", lambda m: str(m.group(2) or values[m.group(1)]), template)


@pytest.mark.parametrize(("method", "template", "op"), DECLARED, ids=[f"{m} {t}" for m, t, _ in DECLARED])
def test_each_verb_refuses_whom_its_requirement_excludes(api, world, method, template, op) -> None:
    """Each refusal comes before the body is read: the body sent is one no verb accepts, and a
    refused caller gets the refusal, never the body's 400."""
    people = world["people"]
    body = {"json": {"not_a_field": 1}} if method in ("POST", "PUT", "PATCH") else {}
    expected, got = {}, {}
    path = declared_path(template, world, world["c"])
    for role in ROLES:
        status = refusal(op.requires, op.resource, role)
        if status is not None:
            expected[role] = status
            got[role] = api(people[role], method, path, **body).status_code
    if "{competition}" in template and op.requires in ("view", "participate", "manage"):
        # the unpublished competition is not there for anyone but its organizers and admins
        path = declared_path(template, world, world["hidden"])
        for role in ("other", "pending", "participant", "other_organizer"):
            expected[f"{role} (unpublished)"] = 404
            got[f"{role} (unpublished)"] = api(people[role], method, path, **body).status_code
    assert got == expected


def test_reference_data_never_reaches_participants(api, world) -> None:
    people = world["people"]
    task = api(people["participant"], "GET", f"/tasks/{world['t']}", expect=200).json()
    assert "reference_data" not in task and "scoring_program" not in task
    organizer_task = api(people["organizer"], "GET", f"/tasks/{world['t']}", expect=200).json()
    assert organizer_task["reference_data"] == world["ref"]
    listed = api(people["participant"], "GET", f"/competitions/{world['c']}/datasets", expect=200).json()
    assert [d["id"] for d in listed["datasets"]] == [world["pub"]]
    link = api(people["organizer"], "GET", f"/datasets/{world['ref']}", expect=200).json()["download_url"]
    assert api.http.get(link, timeout=10).content == DATA


def test_token_without_service_scope_is_refused(api, hub, users) -> None:
    user = users.make("noscope")
    token = hub.token_for(user.name, scopes=())
    # fresh connections: in the full module run a pooled keep-alive connection was found reset
    # here (cause not found yet; see the closing note of 2026-12-06)
    r = requests.get(api.service.api_url + "/me", headers={"Authorization": f"token {token}"}, timeout=10)
    assert r.status_code == 403
    assert "access:services!service=" in r.json()["error"]["message"]
    r = requests.get(api.service.api_url + "/me", headers={"Authorization": "token not-a-token"}, timeout=10)
    assert r.status_code == 401


def test_group_roster_and_hub_group_changes(api, hub, users, creator) -> None:
    """A class competition takes participants from a hub group; changes apply without restart."""
    group = f"class-{unique_slug()}"
    hub.create_group(group)
    student, outsider = users.make("student"), users.make("outsider")
    hub.add_to_group(group, [student.name])
    body = competition_body(unique_slug("class"), registration_mode="groups", participant_groups=[group])
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    phase = comp["phases"][0]["id"]
    submission = {"size": 22, "sha256": "0" * 64}
    api(student, "POST", f"/phases/{phase}/submissions", json=submission, expect=201)
    api(outsider, "POST", f"/phases/{phase}/submissions", json=submission, expect=403)
    api(outsider, "POST", f"/competitions/{comp['id']}/register", expect=403)
    hub.add_to_group(group, [outsider.name])
    api(outsider, "POST", f"/phases/{phase}/submissions", json=submission, expect=201)
    hub.remove_from_group(group, [student.name])
    api(student, "POST", f"/phases/{phase}/submissions", json=submission, expect=403)


def test_concurrent_requests_with_one_token_ask_the_hub_once() -> None:
    """When a cached token expires under load, the requests in flight share one hub lookup
    (their answers and errors alike); a later request asks again. The hub is replaced by a
    counting stand-in: what is tested is the coalescing, not the hub."""
    import asyncio

    from podium.server.auth.identity import HubTokenAuthenticator
    from podium.server.errors import NotAuthenticated

    class CountingHub:
        calls = 0

        def cached_user(self, token):
            return False, None  # no cache: every identify goes to the shared lookup

        async def user_for_token(self, token):
            self.calls += 1
            await asyncio.sleep(0.01)
            if token == "revoked":
                return None
            return {"kind": "user", "name": "ann", "groups": ["g"], "scopes": ["access:services!service=podium"]}

    async def scenario() -> None:
        hub = CountingHub()
        auth = HubTokenAuthenticator(hub, {"access:services!service=podium"})
        identities = await asyncio.gather(*(auth.identify("t") for _ in range(50)))
        assert hub.calls == 1 and {i.name for i in identities} == {"ann"}
        await auth.identify("t")
        assert hub.calls == 2  # the shared lookup is over: the next one asks (HubClient caches)
        results = await asyncio.gather(*(auth.identify("revoked") for _ in range(5)), return_exceptions=True)
        assert hub.calls == 3 and all(isinstance(r, NotAuthenticated) for r in results)

    asyncio.run(scenario())
