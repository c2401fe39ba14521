"""The real-JupyterHub harness, and what ``HubAuth`` of the installed JupyterHub does with its tokens."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import jupyterhub
import pytest
import requests
from helpers.hub_harness import HubHarness, pid_alive
from jupyterhub.services.auth import HubAuth, HubAuthenticated, UserNotAllowed
from podium.hub.launcher import HubError, HubProcess, free_port
from tornado.web import HTTPError

# `hub` is the session's one JupyterHub, from conftest.py (a HubHarness).
ACCESS = "access:services!service=podium"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def service_auth(hub: HubHarness, **kwargs: object) -> HubAuth:
    """HubAuth as the Podium service builds it; ``cache_max_age`` etc. may be overridden."""
    options: dict[str, object] = {
        "api_url": hub.hub_api_url,
        "api_token": hub.service_api_token,
        "access_scopes": {ACCESS},
        "cache_max_age": 0,
    }
    options.update(kwargs)
    return HubAuth(**options)


def as_service(hub: HubHarness) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {hub.service_api_token}"
    return session


def as_service_admin(hub: HubHarness) -> requests.Session:
    return hub.http  # the setup service's session (admin role)


@pytest.fixture
def member(hub: HubHarness) -> Iterator[tuple[str, str]]:
    """A fresh hub user in a fresh group: (user, group)."""
    user, group = unique("alice"), unique("team")
    hub.create_user(user, groups=[group])
    yield user, group
    hub.delete_user(user)


def test_the_installed_jupyterhub_is_the_one_these_findings_are_about() -> None:
    assert int(jupyterhub.__version__.split(".")[0]) >= 5, jupyterhub.__version__


def test_hub_answers_on_its_port_and_behind_the_proxy(hub: HubHarness) -> None:
    assert requests.get(hub.health_url, timeout=5).status_code == 200
    assert requests.get(f"{hub.public_url}/hub/health", timeout=5).status_code == 200
    assert requests.get(f"{hub.hub_api_url}/", timeout=5).json()["version"] == jupyterhub.__version__
    assert hub.service_prefix == f"/services/{hub.service_name}/"
    env = hub.env_for_service()
    assert env["JUPYTERHUB_API_URL"] == hub.hub_api_url
    assert env["JUPYTERHUB_API_TOKEN"] == hub.service_api_token
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/services/podium/"


def test_users_groups_and_admin_are_idempotent(hub: HubHarness) -> None:
    user, group = unique("idem"), unique("grp")
    hub.create_group(group)
    hub.create_group(group)
    hub.create_user(user, groups=[group])
    hub.create_user(user, groups=[group])
    hub.add_to_group(group, [user])
    hub.set_admin(user, True)
    hub.set_admin(user, True)
    admin = as_service(hub).get(f"{hub.hub_api_url}/users/{user}", timeout=5).json()
    assert admin["admin"] is True and admin["groups"] == [group]
    hub.remove_from_group(group, [user])
    hub.remove_from_group(group, [user])
    hub.delete_user(user)
    hub.delete_user(user)
    assert as_service(hub).get(f"{hub.hub_api_url}/users/{user}", timeout=5).status_code == 404


def test_user_for_token_gives_the_owner_with_groups_admin_and_token_scopes(
    hub: HubHarness, member: tuple[str, str]
) -> None:
    user, group = member
    token = hub.token_for(user)  # scopes: access:services!service=podium only
    auth = service_auth(hub)
    model = auth.user_for_token(token, use_cache=False)
    assert model["kind"] == "user"
    assert model["name"] == user
    assert model["admin"] is False
    assert model["groups"] == [group]
    # the token's own scopes; the read:users:*!user=<self> pair is always granted on /hub/api/user
    assert model["scopes"] == sorted(
        [ACCESS, f"read:users:groups!user={user}", f"read:users:name!user={user}"]
    )
    assert set(model) >= {"kind", "name", "admin", "groups", "scopes", "token_id", "session_id"}
    assert auth.check_scopes(auth.access_scopes, model) == {ACCESS}

    hub.set_admin(user, True)
    assert auth.user_for_token(token, use_cache=False)["admin"] is True


async def test_user_for_token_is_awaitable_with_sync_false(
    hub: HubHarness, member: tuple[str, str]
) -> None:
    user, _ = member
    model = await service_auth(hub).user_for_token(hub.token_for(user), use_cache=False, sync=False)
    assert model["name"] == user


@pytest.mark.parametrize("scopes", [[], ["read:users:name!user"]])
def test_a_token_without_the_access_scope_is_identified_but_not_allowed(
    hub: HubHarness, member: tuple[str, str], scopes: list[str]
) -> None:
    user, _ = member
    token = hub.token_for(user, scopes=scopes)
    auth = service_auth(hub)
    model = auth.user_for_token(token, use_cache=False)
    # user_for_token does NOT check access_scopes: the owner is identified all the same ...
    assert model["name"] == user
    assert ACCESS not in model["scopes"]
    # ... the check is the caller's: HubAuth.check_scopes gives an empty (falsy) set
    assert auth.check_scopes(auth.access_scopes, model) == set()

    # and the HubAuthenticated mixin's check (what tornado handlers using it get) refuses it
    class Handler(HubAuthenticated):
        pass

    handler = Handler()
    handler.hub_auth = auth
    with pytest.raises(UserNotAllowed):
        handler.check_hub_user(dict(model))
    allowed = auth.user_for_token(hub.token_for(user), use_cache=False)
    assert handler.check_hub_user(dict(allowed))["name"] == user


def test_a_default_token_inherits_its_owners_access_scope(
    hub: HubHarness, member: tuple[str, str]
) -> None:
    user, _ = member
    body = {"note": "no scopes asked"}
    token = as_service_admin(hub).post(f"{hub.hub_api_url}/users/{user}/tokens", json=body, timeout=5)
    assert token.status_code == 201, token.text
    assert ACCESS in token.json()["scopes"]  # because the hub's `user` role carries it


def test_a_token_cannot_carry_scopes_its_owner_lacks(hub: HubHarness, member: tuple[str, str]) -> None:
    user, _ = member
    for scopes in (["admin:users"], ["access:services!service=other"]):
        with pytest.raises(HubError, match="400.*not held by User"):
            hub.token_for(user, scopes=scopes)


def test_unknown_revoked_and_orphaned_tokens_give_none(hub: HubHarness) -> None:
    auth = service_auth(hub)
    assert auth.user_for_token("not-a-token", use_cache=False) is None

    user = unique("gone")
    hub.create_user(user)
    token = hub.token_for(user)
    token_id = auth.user_for_token(token, use_cache=False)["token_id"]
    as_service_admin(hub).delete(f"{hub.hub_api_url}/users/{user}/tokens/{token_id}", timeout=5)
    assert auth.user_for_token(token, use_cache=False) is None

    other = hub.token_for(user)
    hub.delete_user(user)
    assert auth.user_for_token(other, use_cache=False) is None


def test_the_service_token_resolves_to_the_service_not_a_user(hub: HubHarness) -> None:
    auth = service_auth(hub)
    model = auth.user_for_token(hub.service_api_token, use_cache=False)
    assert model["kind"] == "service" and model["name"] == hub.service_name
    assert "groups" not in model
    assert auth.check_scopes(auth.access_scopes, model) == set()


def test_identifying_a_token_does_not_use_the_service_token(
    hub: HubHarness, member: tuple[str, str]
) -> None:
    """HubAuth sends GET /hub/api/user with the *caller's* token: the service's own is unused."""
    user, _ = member
    stranger = HubAuth(api_url=hub.hub_api_url, api_token="not-the-service-token", cache_max_age=0)
    assert stranger.user_for_token(hub.token_for(user), use_cache=False)["name"] == user


def test_the_service_role_reads_users_and_groups_and_nothing_more(
    hub: HubHarness, member: tuple[str, str]
) -> None:
    user, group = member
    svc, api = as_service(hub), hub.hub_api_url
    model = svc.get(f"{api}/users/{user}", timeout=5).json()
    assert model == {"kind": "user", "name": user, "admin": False, "groups": [group], "user_info": None}
    assert svc.get(f"{api}/groups/{group}", timeout=5).status_code == 200
    assert svc.get(f"{api}/groups", timeout=5).status_code == 403  # listing needs list:groups
    assert svc.get(f"{api}/users", timeout=5).status_code == 403  # listing needs list:users
    assert svc.post(f"{api}/users/{unique('x')}", timeout=5).status_code == 403
    assert svc.post(f"{api}/groups/{unique('x')}", timeout=5).status_code == 403
    assert svc.post(f"{api}/users/{user}/tokens", json={}, timeout=5).status_code == 403


def test_group_changes_show_after_cache_max_age_and_never_with_zero(
    hub: HubHarness, member: tuple[str, str]
) -> None:
    user, group = member
    extra = unique("late")
    token = hub.token_for(user)

    # long enough that a loaded machine still reads the cached entry before it expires
    max_age = 5
    short = service_auth(hub, cache_max_age=max_age)
    cached_at = time.monotonic()
    assert short.user_for_token(token)["groups"] == [group]
    hub.add_to_group(extra, [user])
    assert time.monotonic() - cached_at < max_age, "the machine is too slow for this test's cache age"
    assert short.user_for_token(token)["groups"] == [group]  # cached
    assert sorted(short.user_for_token(token, use_cache=False)["groups"]) == sorted([group, extra])
    time.sleep(max(0.0, cached_at + max_age + 0.2 - time.monotonic()))
    assert sorted(short.user_for_token(token)["groups"]) == sorted([group, extra])

    forever = service_auth(hub, cache_max_age=0)  # _ExpiringDict: max_age 0 = keep forever
    assert sorted(forever.user_for_token(token)["groups"]) == sorted([group, extra])
    hub.remove_from_group(extra, [user])
    time.sleep(1.1)
    assert sorted(forever.user_for_token(token)["groups"]) == sorted([group, extra])  # stale
    assert forever.user_for_token(token, use_cache=False)["groups"] == [group]


def test_hubauth_from_the_service_environment(
    hub: HubHarness, member: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _ = member
    for key, value in hub.env_for_service().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("JUPYTERHUB_OAUTH_ACCESS_SCOPES", raising=False)
    monkeypatch.delenv("JUPYTERHUB_OAUTH_SCOPES", raising=False)
    auth = HubAuth()  # a new instance (HubAuth.instance() would be the process-wide singleton)
    assert auth.api_url == hub.hub_api_url
    assert auth.api_token == hub.service_api_token
    assert auth.access_scopes == {ACCESS}  # derived from JUPYTERHUB_SERVICE_NAME
    assert auth.cache_max_age == 300
    model = auth.user_for_token(hub.token_for(user), use_cache=False)
    assert model["name"] == user and auth.check_scopes(auth.access_scopes, model)


def test_an_unreachable_hub_raises_http_500() -> None:
    auth = HubAuth(api_url=f"http://127.0.0.1:{free_port()}/hub/api", api_token="x", cache_max_age=0)
    with pytest.raises(HTTPError) as raised:
        auth.user_for_token("some-token", use_cache=False)
    assert raised.value.status_code == 500


def test_stop_ends_hub_and_proxy(record_property: pytest.RecordProperty) -> None:
    harness = HubHarness(service_url=f"http://127.0.0.1:{free_port()}", artifact_name="jupyterhub-lifecycle.log")
    with harness:
        assert harness.startup_seconds is not None
        record_property("hub_startup_seconds", round(harness.startup_seconds, 2))
        print(f"hub started in {harness.startup_seconds:.2f} s")
        hub_pid, proxy_pid = harness.process.pid, harness.proxy_pid
        assert proxy_pid is not None and pid_alive(proxy_pid)
        # JupyterHub starts the proxy in a session of its own, outside the hub's process group
        assert os.getpgid(proxy_pid) == proxy_pid != os.getpgid(hub_pid)
        assert requests.get(f"{harness.public_url}/hub/health", timeout=5).status_code == 200
    assert not pid_alive(hub_pid) and not pid_alive(proxy_pid)
    harness.stop()  # a second stop is harmless


def test_stop_ends_the_proxy_of_a_hub_that_died() -> None:
    harness = HubHarness(service_url=f"http://127.0.0.1:{free_port()}", artifact_name="jupyterhub-crash.log")
    harness.start()
    try:
        proxy_pid = harness.proxy_pid
        assert proxy_pid is not None
        os.kill(harness.process.pid, signal.SIGKILL)
        harness.process.wait(10)
        assert pid_alive(proxy_pid)  # orphaned: the hub had no chance to stop it
    finally:
        harness.stop()
    assert not pid_alive(proxy_pid)


def test_stop_during_the_hubs_startup_leaves_no_proxy() -> None:
    """SIGTERM before the hub has finished starting kills it outright (its handler is not yet
    installed), so the hub cannot stop its proxy: the harness must."""
    harness = HubHarness(
        service_url=f"http://127.0.0.1:{free_port()}",
        artifact_name="jupyterhub-early-stop.log",
        service_wait=30,  # the hub now waits 30 s for Podium before it routes anything
    )
    HubProcess.start(harness)  # returns as soon as the hub's API answers
    try:
        proxy_pid = harness.proxy_pid
        assert proxy_pid is not None and pid_alive(proxy_pid)
        assert requests.get(f"{harness.public_url}/hub/health", timeout=5).status_code == 404
    finally:
        harness.stop()
    assert not pid_alive(proxy_pid)
