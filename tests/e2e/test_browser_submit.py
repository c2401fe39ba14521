"""The competition page's submission form in headless Chromium, through the hub: a real upload
(with a fact-sheet answer) becomes a queued submission whose page follows it to its score; the
API's refusals (quota) come back as the same sentence; a form without the XSRF token is refused."""

from __future__ import annotations

import io
import zipfile

import pytest
from helpers.web_session import (
    WebSession,
    browser_login,
    create_queue,
    make,
    play_worker,
    registered,
    screenshot,
)

pytestmark = pytest.mark.one_backend  # the browser and the form are what is tested, not the database

FACT_SHEET = {"team": {"type": "text", "title": "Team name", "is_required": True},
              "used_external_data": {"type": "checkbox", "title": "External data?"}}


def test_submit_from_the_competition_page(api, users, creator, hub, service, page) -> None:
    queue = create_queue(api, users)
    comp = make(api, creator, queue, fact_sheet=FACT_SHEET)
    user = registered(api, users, comp, "webform")
    browser_login(page, hub, user.name)
    page.goto(hub.public_url + f"/services/podium/competitions/{comp['slug']}")
    page.wait_for_selector("#submit-form")
    content = b"id,label\n" + b"1,setosa\n" * 200_000  # 1.8 MB: the upload takes progress steps
    page.set_input_files("#submit-file", files=[{"name": "predictions.csv", "mimeType": "text/csv", "buffer": content}])
    page.fill("#submit-description", "from the browser")
    page.fill("#fact-team", "The Owls")
    page.select_option("#fact-used_external_data", "true")
    page.click("#submit-button")
    page.wait_for_selector("#status")
    sid = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert page.inner_text("#status") == "submitted"
    assert page.evaluate("sessionStorage.getItem('podium-upload-progress')") == "100"  # the bar followed it
    assert "no worker is serving this queue" in page.inner_text("#queue")  # the module's queue has none
    screenshot(page, "submitted-from-the-page")

    sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
    assert sub["description"] == "from the browser" and sub["owner"] == user.name
    assert sub["fact_sheet"] == {"team": "The Owls", "used_external_data": True}
    files = api(user, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]
    upload = next(f for f in files if f["role"] == "submission")
    stored = api.http.get(upload["download_url"], timeout=30).content
    assert zipfile.ZipFile(io.BytesIO(stored)).read("predictions.csv") == content

    session = service.app.session_factory()
    try:
        play_worker(service, session, queue["token"], sid, scores={"accuracy": 0.5, "runtime": 1.0}, log="scored it")
    finally:
        session.close()
    page.wait_for_function("() => document.querySelector('#status').textContent === 'finished'", timeout=15000)
    assert page.inner_text("#log-tail") == "scored it"
    assert "accuracy" in page.inner_text("#scores")


def test_the_form_gives_the_apis_refusals(api, users, creator, hub, service, page) -> None:
    queue = create_queue(api, users)
    comp = make(api, creator, queue, phases=[{**comp_phase(), "max_submissions_per_day": 1}])
    user = registered(api, users, comp, "quota")
    browser_login(page, hub, user.name)
    url = hub.public_url + f"/services/podium/competitions/{comp['slug']}"
    for selector in ("#status", "#error-message"):
        page.goto(url)
        page.set_input_files("#submit-file", files=[{"name": "p.csv", "mimeType": "text/csv", "buffer": b"x"}])
        page.click("#submit-button")
        page.wait_for_selector(selector)
    assert page.inner_text("h1") == "429 Too Many Requests"
    refused = api(user, "POST", f"/phases/{comp['phases'][0]['id']}/submissions",
                  json={"size": 1, "sha256": "0" * 64}, expect=429).json()["error"]["message"]
    assert page.inner_text("#error-message") == refused
    screenshot(page, "quota-refused-on-the-page")

    web = WebSession(hub, user.name)
    web.login()
    answer = web.http.post(f"{web.base}phases/{comp['phases'][0]['id']}/submit",
                           files={"file": ("p.csv", b"x")}, allow_redirects=False, timeout=30)
    assert answer.status_code == 403  # no XSRF token


def comp_phase() -> dict:
    from conftest import competition_body

    return competition_body("unused")["phases"][0]
