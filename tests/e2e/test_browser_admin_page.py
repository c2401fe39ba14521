"""The admins' queue page in headless Chromium: an admin opens it from the top bar, sees a queue
with its worker, a waiting attempt and a failure, re-keys the queue with the form and reads the
new token once. The screenshot goes to test-artifacts/screenshots/admin-queues.png."""

from __future__ import annotations

import pytest
from conftest import submit
from helpers.web_session import (
    browser_login,
    create_queue,
    make,
    play_worker,
    registered,
    screenshot,
)


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

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        browser_login(page, hub, users.make("root", admin=True).name)
        page.click("header >> text=Queues")
        section = page.locator(f"section[data-queue='{queue['name']}']")
        section.wait_for()
        assert section.locator(".depth").inner_text() == "1"
        assert section.locator("tr[data-worker=web-test]").is_visible()
        assert "the scoring program exited with 1" in section.locator(".failures").inner_text()
        section.scroll_into_view_if_needed()
        screenshot(page, "admin-queues")

        section.locator("button.rekey").click()
        page.wait_for_selector("#queue-token")
        token = page.inner_text("#queue-token").strip()
        assert len(token) >= 32 and token != queue["token"]
    finally:
        context.close()
