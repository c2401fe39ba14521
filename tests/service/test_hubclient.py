"""``podium.server.hubclient`` and the browser login against the real hub: who owns a token, the
scope rule (checked case by case against JupyterHub's own ``check_scopes``), the cache and its
``cache_max_age``, one lookup for many concurrent requests, the errors when the hub is away, and
OAuth callbacks that come back without a login this browser started.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
import requests
from conftest import free_port
from podium.hub.service import access_scope
from podium.server.auth.hubclient import HubClient, grants
from podium.server.auth.identity import HubTokenAuthenticator
from podium.server.errors import NotAuthenticated, PermissionDenied
from tornado.web import HTTPError


class Clock:
    """``HubClient``'s clock seam: tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingClient(HubClient):
    """The real client, counting the lookups that reach it."""

    lookups = 0

    async def user_for_token(self, token: str) -> dict | None:
        self.lookups += 1
        return await super().user_for_token(token)


@pytest.fixture
def hub_client(hub):
    """``hub_client(cache_max_age=0)`` → (HubClient talking to the real hub, its Clock)."""

    def make(cache_max_age: float = 0, cls: type[HubClient] = HubClient) -> tuple[HubClient, Clock]:
        clock = Clock()
        return cls(hub.hub_api_url, hub.service_api_token, cache_max_age=cache_max_age, clock=clock), clock

    return make


def identify(client: HubClient, token: str):
    return asyncio.run(HubTokenAuthenticator(client, {access_scope()}).identify(token))


def new_token(hub, user: str, scopes: list[str] | None = None) -> dict:
    """A token model with its ``id`` (for revoking it) and ``token``."""
    body = {"note": "hubclient test", "scopes": [access_scope()] if scopes is None else scopes}
    return hub._call("POST", f"/users/{user}/tokens", json=body)


def revoke(hub, user: str, token: dict) -> None:
    hub._call("DELETE", f"/users/{user}/tokens/{token['id']}")


def test_a_valid_token_names_its_owner_with_groups_and_admin(hub, users, hub_client) -> None:
    user = users.make("hc", admin=True, groups=("hc-class",))
    client, _ = hub_client()
    identity = identify(client, user.token)
    assert identity.name == user.name and identity.admin and "hc-class" in identity.groups


def test_revoked_and_unknown_tokens_are_not_authenticated(hub, users, hub_client) -> None:
    user = users.make("hc")
    token = new_token(hub, user.name)
    client, _ = hub_client()
    assert identify(client, token["token"]).name == user.name
    revoke(hub, user.name, token)
    with pytest.raises(NotAuthenticated, match="expired or revoked"):
        identify(client, token["token"])
    with pytest.raises(NotAuthenticated):
        identify(client, "not-a-token")


def test_a_token_without_the_access_scope_is_refused_naming_the_scope(hub, users, hub_client) -> None:
    user = users.make("hc")
    client, _ = hub_client()
    token = new_token(hub, user.name, scopes=[])
    with pytest.raises(PermissionDenied) as refused:
        identify(client, token["token"])
    assert access_scope() in refused.value.message


@pytest.mark.parametrize("required", ["access:services!service=podium", "access:services"])
@pytest.mark.parametrize("held", [
    [], ["access:services"], ["access:services!service=podium"], ["access:services!service=other"],
    ["access:servers"], ["access:services!service=podiumx"], ["access:services!service=other", "access:services"],
    ["read:users", "access:services!service=podium"],
])
def test_the_scope_rule_is_jupyterhubs(required: str, held: list[str]) -> None:
    # what HubAuth applied; jupyterhub is imported in tests only
    from jupyterhub.services.auth import check_scopes

    assert grants(required, held) == bool(check_scopes({required}, set(held)))


def test_answers_are_kept_cache_max_age_seconds(hub, users, hub_client) -> None:
    user = users.make("hc")
    token = new_token(hub, user.name)
    cached, clock = hub_client(cache_max_age=10)
    uncached, _ = hub_client(cache_max_age=0)
    assert identify(cached, token["token"]).name == identify(uncached, token["token"]).name == user.name
    revoke(hub, user.name, token)
    with pytest.raises(NotAuthenticated):  # 0: the hub is asked every time
        identify(uncached, token["token"])
    clock.now += 10
    assert identify(cached, token["token"]).name == user.name  # still within cache_max_age
    clock.now += 0.5
    with pytest.raises(NotAuthenticated):
        identify(cached, token["token"])


def test_group_changes_show_after_the_cache_expires(hub, users, hub_client) -> None:
    user = users.make("hc")
    client, clock = hub_client(cache_max_age=5)
    assert "hc-late" not in identify(client, user.token).groups
    hub.add_to_group("hc-late", [user.name])
    assert "hc-late" not in identify(client, user.token).groups
    clock.now += 6
    assert "hc-late" in identify(client, user.token).groups


def test_concurrent_requests_share_one_lookup_at_the_real_hub(users, hub_client) -> None:
    user = users.make("hc")
    client, _ = hub_client(cache_max_age=0, cls=CountingClient)
    auth = HubTokenAuthenticator(client, {access_scope()})

    async def burst() -> list:
        return await asyncio.gather(*(auth.identify(user.token) for _ in range(30)))

    assert {i.name for i in asyncio.run(burst())} == {user.name}
    assert client.lookups == 1


def test_a_cached_answer_is_used_without_a_lookup(users, hub_client) -> None:
    """Within ``cache_max_age`` an identify reads the cache directly, without going through
    ``user_for_token`` (and the task of a shared lookup); after it, the hub is asked again."""
    user = users.make("hc")
    client, clock = hub_client(cache_max_age=5, cls=CountingClient)
    auth = HubTokenAuthenticator(client, {access_scope()})

    async def twice() -> list:
        return [await auth.identify(user.token), await auth.identify(user.token)]

    assert {i.name for i in asyncio.run(twice())} == {user.name}
    assert client.lookups == 1
    clock.now += 6
    assert identify(client, user.token).name == user.name  # a new authenticator, the same client
    assert client.lookups == 2


def test_an_unreachable_hub_is_a_clear_server_error() -> None:
    client = HubClient(f"http://127.0.0.1:{free_port()}/hub/api", "x", cache_max_age=0)
    with pytest.raises(HTTPError) as failed:
        asyncio.run(client.user_for_token("t"))
    assert failed.value.status_code == 500
    assert "Failed to connect to Hub API at 'http://127.0.0.1:" in failed.value.log_message


# --- the OAuth callback, through the proxy as a browser reaches it --------------------------------


def test_a_callback_with_a_state_this_browser_did_not_start_is_refused(hub, service) -> None:
    base = hub.public_url + hub.service_prefix
    browser = requests.Session()
    start = browser.get(base + "me/submissions", allow_redirects=False, timeout=30)
    assert start.status_code == 302
    state = re.search(r"[?&]state=([^&]+)", start.headers["Location"]).group(1)
    assert any(c.name.startswith("service-podium-oauth-state") for c in browser.cookies)
    for query in (f"code=abc&state={state}x", "code=abc&state=forged"):
        refused = browser.get(base + "oauth_callback?" + query, allow_redirects=False, timeout=30)
        assert refused.status_code == 403, refused.text[:500]
        assert refused.headers["Content-Type"].startswith("text/html")
        assert "oauth state does not match. Try logging in again." in refused.text
        assert "service-podium" not in refused.cookies
    # a state cookie copied into another browser is no use without its signature
    stranger = requests.Session()
    stranger.cookies.set("service-podium-oauth-state", state, path=hub.service_prefix)
    refused = stranger.get(base + f"oauth_callback?code=abc&state={state}", allow_redirects=False, timeout=30)
    assert refused.status_code == 403


@pytest.mark.parametrize(("query", "message"), [
    ("code=abc", "OAuth state is missing. Try logging in again."),
    ("state=abc", "OAuth callback made without a token"),
    ("error=access_denied&error_description=Nope", "Error in oauth: Nope"),
])
def test_incomplete_callbacks_say_what_is_missing(hub, service, query: str, message: str) -> None:
    answer = requests.get(hub.public_url + hub.service_prefix + "oauth_callback?" + query, timeout=30)
    assert answer.status_code == 400
    assert message in answer.text


def test_the_service_imports_neither_jupyterhub_nor_alembic() -> None:
    """Bench B7: the hub's client library and Alembic cost the service ~35 MB together."""
    import subprocess
    import sys

    code = "import sys, podium.server.app; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("jupyterhub", "alembic", "aiohttp", "mako"):
        assert f"'{heavy}'" not in loaded, heavy


def test_two_logins_started_in_one_browser_each_find_their_state(hub, service, users) -> None:
    """A second page opened before the first login finished gets a state cookie of its own; the
    login that finishes comes back to its own page and clears both."""
    from helpers.web_session import PASSWORD, form_xsrf

    user = users.make("hc")
    base = hub.public_url + hub.service_prefix
    browser = requests.Session()
    first = browser.get(base + "me/submissions", allow_redirects=False, timeout=30)
    second = browser.get(base, allow_redirects=False, timeout=30)
    states = sorted(c.name for c in browser.cookies if c.name.startswith("service-podium-oauth-state"))
    assert len(states) == 2 and states[0] == "service-podium-oauth-state", states
    assert first.headers["Location"] != second.headers["Location"]
    form = browser.get(hub.public_url + second.headers["Location"], timeout=30)
    action = re.search(r'<form action="([^"]+)"', form.text).group(1)
    landed = browser.post(
        requests.compat.urljoin(form.url, html.unescape(action)),
        data={"username": user.name, "password": PASSWORD, "_xsrf": form_xsrf(form.text)},
        timeout=30,
    )
    assert landed.status_code == 200 and landed.url == base, (landed.status_code, landed.url)
    assert not any(c.name.startswith("service-podium-oauth-state") for c in browser.cookies)
    assert any(c.name == "service-podium" for c in browser.cookies)
