"""The admins' queue page in headless Chromium: an admin opens it from the top bar, sees a queue
with its workers (each with its version beside its last heartbeat and current job, and the reason
of one that cannot work), a waiting attempt and a failure, re-keys the queue with the form and
reads the new token once. The screenshot goes to test-artifacts/screenshots/admin-queues.png."""

from __future__ import annotations

import pytest
import requests
from conftest import submit
from helpers.web_session import (
    browser_login,
    create_queue,
    make,
    play_worker,
    registered,
    screenshot,
)
from podium.server.orm import Attempt, AttemptState
from podium.worker.protocol import PROTOCOL_VERSION
from sqlalchemy import select


def as_worker(service, token: str, path: str, body: dict) -> dict:
    """One job-protocol call with the queue's token, as a worker makes it."""
    answer = requests.post(service.api_url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.one_backend
def test_admin_opens_the_queue_page_and_rekeys(hub, api, creator, users, service, browser):
    queue = create_queue(api, users)
    comp = make(api, creator, queue)
    phase = comp["phases"][0]["id"]
    session = service.app.session_factory()
    try:
        failed = submit(api, registered(api, users, comp, "rae"), phase, b"bad")
        play_worker(service, session, queue["token"], failed, scores={}, failure="the scoring program exited with 1")
    finally:
        session.close()
    submit(api, registered(api, users, comp, "sam"), phase, b"waits")
    tia = registered(api, users, comp, "tia")
    busy = submit(api, tia, phase, b"runs")
    with service.app.session_factory() as session:
        attempt, step = session.execute(select(Attempt.id, Attempt.step).where(
            Attempt.submission_id == busy, Attempt.state == AttemptState.queued)).one()
    token = queue["token"]
    as_worker(service, token, f"/worker/attempts/{attempt}/claim",
              {"worker": "busy-1", "hostname": "gpu-box", "protocol": PROTOCOL_VERSION, "version": "0.9.1"})
    as_worker(service, token, "/worker/status", {"worker": "web-test", "version": "0.9.0", "protocol": PROTOCOL_VERSION})
    as_worker(service, token, "/worker/status", {"worker": "sick-1", "version": "0.9.1", "protocol": PROTOCOL_VERSION,
                                                  "cannot_work": "the Docker engine does not answer"})

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        browser_login(page, hub, users.make("root", admin=True).name)
        page.click("header >> text=Queues")
        section = page.locator(f"section[data-queue='{queue['name']}']")
        section.wait_for()
        assert section.locator(".depth").inner_text() == "1"
        assert section.locator("tr[data-worker=web-test]").is_visible()
        headers = section.locator("table.workers th").all_inner_texts()
        assert headers == ["Worker", "Host", "Version", "State", "Last seen (UTC)", "Running"]
        cells = {name: section.locator(f"tr[data-worker={name}] td").all_inner_texts()
                 for name in ("web-test", "busy-1", "sick-1")}
        assert cells["busy-1"][:4] == ["busy-1", "gpu-box", f"0.9.1 (protocol {PROTOCOL_VERSION})", "ready"]
        assert cells["busy-1"][4] != "—" and cells["busy-1"][5] == f"submission {busy} ({step.value})"
        assert cells["web-test"][2:4] == [f"0.9.0 (protocol {PROTOCOL_VERSION})", "ready"]
        assert cells["web-test"][5] == "idle"
        assert cells["sick-1"][3] == "cannot work: the Docker engine does not answer"
        assert "the scoring program exited with 1" in section.locator(".failures").inner_text()
        section.scroll_into_view_if_needed()
        screenshot(page, "admin-queues")

        section.locator("button.rekey").click()
        page.wait_for_selector("#queue-token")
        token = page.inner_text("#queue-token").strip()
        assert len(token) >= 32 and token != queue["token"]
    finally:
        context.close()
        # no worker serves this queue: the claimed submission is ended, not left running (the
        # e2e check that nothing stays running for five minutes would find it)
        api(tia, "POST", f"/submissions/{busy}/cancel", expect=200)
