"""Helpers for tests of the web pages: a browser logged in through the hub, for real.

``WebSession``      a ``requests.Session`` that logs in at the hub's ``/hub/login`` form and
                    follows the OAuth redirects back to the service, then GETs pages and POSTs
                    forms (with or without their XSRF token) through the proxy
``create_queue``    a compute queue of the test module's own (an admin makes it), so no real
                    worker of another test takes its jobs
``make``            a published competition (``conftest.competition_body``) on such a queue
``registered``      a new user registered in a competition, ready to submit
``play_worker``     finishes a submission's attempt over the job protocol with a queue token,
                    as a worker does (signed PUTs of the outputs, then ``finish``), so pages
                    have scores, a log and a detailed_results.html without Docker (or fails it
                    with a reason)
``chromium``        a context manager: Playwright driving Debian's /usr/bin/chromium headless
``browser_login``   logs a Playwright page in through the hub's login form
``screenshot``      saves a page's screenshot in test-artifacts/screenshots/

Playwright never downloads a browser here (``playwright install`` needs the internet):
``scripts/ensure-chromium.sh`` installs Debian's chromium, used through ``executable_path``.
"""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from podium.worker.protocol import PROTOCOL_VERSION
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# the harness's DummyAuthenticator has no password set, so any password logs in
PASSWORD = "podium-test-password"
_XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


def form_xsrf(page_html: str) -> str:
    """The XSRF token of the first form in a page."""
    found = _XSRF.search(page_html)
    assert found, "no _xsrf field in the page"
    return html.unescape(found.group(1))


class WebSession:
    """One user's browser session over plain HTTP, through the hub's proxy."""

    def __init__(self, hub: Any, username: str) -> None:
        self.hub = hub
        self.username = username
        self.base = hub.public_url + hub.service_prefix
        self.http = requests.Session()
        self.last: requests.Response | None = None

    def login(self) -> requests.Response:
        """Open the service, land on the hub's login form, log in, come back through OAuth."""
        form = self.http.get(self.base, timeout=30)
        assert form.url.startswith(self.hub.public_url + "/hub/login"), form.url
        action = re.search(r'<form action="([^"]+)"', form.text)
        assert action, form.text[:2000]
        target = requests.compat.urljoin(form.url, html.unescape(action.group(1)))
        page = self.http.post(
            target,
            data={"username": self.username, "password": PASSWORD, "_xsrf": form_xsrf(form.text)},
            timeout=30,
        )
        assert page.status_code == 200 and page.url == self.base, (page.status_code, page.url, page.text[:1000])
        self.last = page
        return page

    def get(self, path: str, expect: int | None = 200, **kwargs: Any) -> requests.Response:
        response = self.http.get(self.base + path.lstrip("/"), timeout=30, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text[:2000])
        if response.headers.get("Content-Type", "").startswith("text/html"):
            self.last = response
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, xsrf: str | None | bool = True,
             expect: int | None = 303) -> requests.Response:
        """POST a form; ``xsrf=True`` takes the token from the last page, a string sends that
        token, ``None`` sends none."""
        fields = dict(data or {})
        if xsrf is True:
            assert self.last is not None, "open a page with the form first"
            fields["_xsrf"] = form_xsrf(self.last.text)
        elif xsrf:
            fields["_xsrf"] = xsrf
        response = self.http.post(self.base + path.lstrip("/"), data=fields, timeout=30, allow_redirects=False)
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text[:2000])
        return response


def create_queue(api: Any, users: Any) -> dict[str, str]:
    """A new compute queue, made by a hub admin and shared with the ``creators`` hub group (every
    test organizer): ``{"name", "token"}`` (the token is the workers' credential)."""
    admin = users.make("qadmin", admin=True)
    name = f"web-{uuid.uuid4().hex[:8]}"
    created = api(admin, "POST", "/queues", json={"name": name}, expect=201).json()
    api(admin, "PUT", f"/queues/{name}/shares/groups/creators", expect=200)
    return {"name": name, "token": created["token"]}


def make(api: Any, organizer: Any, queue: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """A published competition on ``queue`` (the defaults of ``conftest.competition_body``)."""
    from conftest import competition_body, unique_slug

    body = competition_body(unique_slug("web"), queue=queue["name"], **overrides)
    comp = api(organizer, "POST", "/competitions", json=body, expect=201).json()
    return api(organizer, "POST", f"/competitions/{comp['id']}/publish", expect=200).json()


def registered(api: Any, users: Any, competition: dict[str, Any], prefix: str) -> Any:
    """A new hub user registered (and, in an open competition, approved) as a participant."""
    user = users.make(prefix)
    api(user, "POST", f"/competitions/{competition['id']}/register", expect=200)
    return user


def play_worker(service: Any, session: Any, queue_token: str, submission_id: int, *,
                scores: dict[str, float], log: str = "", detailed_html: str | None = None,
                failure: str | None = None, intervals: dict[str, list[float]] | None = None,
                expect_status: str | None = None, notebook: bytes | None = None) -> None:
    """Claim the submission's queued attempt and finish it with ``scores`` (and ``intervals``) as
    a worker would, or with ``failure``: the submission fails as the participant's fault, with
    that reason. ``expect_status``: the submission's status the finish must answer, when it is
    not the usual one. ``notebook``: an executed notebook to upload (in a phase that accepts
    notebooks)."""
    from podium.server.orm import Attempt, AttemptState

    session.expire_all()
    attempt = session.scalar(
        select(Attempt.id).where(Attempt.submission_id == submission_id, Attempt.state == AttemptState.queued)
    )
    assert attempt is not None, f"submission {submission_id} has no queued attempt"
    http = requests.Session()
    http.headers["Authorization"] = f"token {queue_token}"
    api = service.api_url
    spec = http.post(f"{api}/worker/attempts/{attempt}/claim", json={"worker": "web-test", "protocol": PROTOCOL_VERSION}, timeout=30)
    assert spec.status_code == 200, spec.text
    outputs = spec.json()["outputs"]
    files = ["log"]
    assert http.put(outputs["log"]["url"], data=log.encode(), timeout=30).status_code == 200
    if detailed_html is not None:
        put = http.put(outputs["detailed_results"]["url"], data=detailed_html.encode(), timeout=30)
        assert put.status_code == 200, put.text
        files.append("detailed_results")
    if notebook is not None:
        assert http.put(outputs["notebook"]["url"], data=notebook, timeout=30).status_code == 200
        files.append("notebook")
    outcome = ({"state": "failed", "failure_kind": "participant", "reason": failure, "exit_code": 1}
               if failure else {"state": "succeeded", "exit_code": 0, "scores": scores, "intervals": intervals})
    done = http.post(
        f"{api}/worker/attempts/{attempt}/finish",
        json={"worker": "web-test", "elapsed": 0.5, "log_tail": log, "files": files, **outcome},
        timeout=30,
    )
    assert done.status_code == 200, done.text
    assert done.json()["submission_status"] == (expect_status or ("failed" if failure else "finished")), done.text


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Debian's package) driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def browser_login(page: Any, hub: Any, username: str) -> None:
    """Open the service in ``page`` and log in through the hub's own login form."""
    base = hub.public_url + hub.service_prefix
    page.goto(base)
    page.wait_for_url(re.compile(r".*/hub/login.*"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(base)


def screenshot(page: Any, name: str) -> Path:
    """Keep a screenshot as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
