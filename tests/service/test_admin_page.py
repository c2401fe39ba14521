"""The admins' queue page over real HTTP, logged in through the hub: queues with their workers,
depth and recent failures; the re-key form (XSRF-protected) shows the new token once and the old
one stops working; everyone else sees only the queues they may use, and cannot re-key them."""

from __future__ import annotations

import html

import pytest
import requests
from conftest import submit
from helpers.web_session import WebSession, create_queue, make, play_worker, registered


@pytest.fixture(scope="module")
def admin_queue(api, users) -> dict[str, str]:
    return create_queue(api, users)


def login(hub, user) -> WebSession:
    session = WebSession(hub, user.name)
    session.login()
    return session


def worker_config(service, token: str) -> int:
    return requests.get(service.api_url + "/worker/config", headers={"Authorization": f"token {token}"},
                        timeout=30).status_code


def test_admin_sees_queues_workers_depth_and_failures(hub, api, creator, users, service, admin_queue, dbsession):
    comp = make(api, creator, admin_queue)
    phase = comp["phases"][0]["id"]
    failed = submit(api, registered(api, users, comp, "olga"), phase, b"bad")
    play_worker(service, dbsession, admin_queue["token"], failed, scores={},
                failure="scores.txt <missing> from the output")
    submit(api, registered(api, users, comp, "pete"), phase, b"waits")

    page = login(hub, users.make("root", admin=True)).get("admin/queues")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    section = page.text.split(f'data-queue="{admin_queue["name"]}"', 1)[1].split("</section>", 1)[0]
    assert '<span class="depth">1</span>' in section
    assert 'data-worker="web-test"' in section and "idle" in section
    # the reason is shown escaped, with a link to the failed submission
    assert html.escape("scores.txt <missing> from the output") in section
    assert f'href="/services/podium/submissions/{failed}"' in section
    assert 'class="rekey"' in section and 'name="_xsrf"' in section


def test_rekey_form_shows_the_new_token_once_and_the_old_one_is_refused(hub, users, service, admin_queue):
    assert worker_config(service, admin_queue["token"]) == 200
    admin = login(hub, users.make("root", admin=True))
    admin.get("admin/queues")
    target = f"admin/queues/{admin_queue['name']}/token"
    admin.post(target, xsrf=None, expect=403)  # no XSRF token: refused, the token unchanged
    assert worker_config(service, admin_queue["token"]) == 200

    answer = admin.post(target, expect=200)
    token = html.unescape(answer.text.split('<pre id="queue-token">', 1)[1].split("</pre>", 1)[0])
    assert len(token) >= 32 and token != admin_queue["token"]
    assert worker_config(service, admin_queue["token"]) in (401, 403)
    assert worker_config(service, token) == 200
    # shown once: the queue page does not show it again
    assert token not in admin.get("admin/queues").text
    admin_queue["token"] = token  # later tests of this module play the worker with the new token


def test_others_see_only_the_queues_they_may_use_and_cannot_rekey_them(hub, api, users, creator, service,
                                                                        admin_queue):
    comp = make(api, creator, admin_queue, registration_mode="approval")
    name = admin_queue["name"]
    quinn = login(hub, users.make("quinn"))
    page = quinn.get("admin/queues")
    assert f'data-queue="{name}"' not in page.text and 'data-queue="default"' in page.text
    assert 'class="rekey"' not in page.text  # the platform's queue is re-keyed by hub admins only
    quinn.get(f"competitions/{comp['slug']}")  # a form with this user's own XSRF token
    quinn.post(f"admin/queues/{name}/token", expect=404)

    # the queue is shared with the creators group: its members see it, workers and all, but
    # neither its failures nor a re-key form
    cathy = login(hub, users.make("cathy", groups=("creators",)))
    section = cathy.get("admin/queues").text.split(f'data-queue="{name}"', 1)[1].split("</section>", 1)[0]
    assert 'class="rekey"' not in section and "Recent failures" not in section
    cathy.get(f"competitions/{comp['slug']}")
    refused = cathy.post(f"admin/queues/{name}/token", expect=403)
    assert "Only the owner of the compute queue" in refused.text
    assert worker_config(service, admin_queue["token"]) == 200
