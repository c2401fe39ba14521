"""The web pages in headless Chromium (Debian's package, driven by Playwright), through the hub.

A user logs in with the hub's own login form, opens a competition, its leaderboard (sorted by a
click) and their submissions; an organizer page with a script in its Markdown does not run it;
a scoring program's detailed_results.html runs its script but cannot read the hub's or the
service's cookies. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from conftest import submit
from helpers.web_session import browser_login, create_queue, make, play_worker, screenshot

SCRIPTED_MARKDOWN = """# Welcome to the challenge

Read the **rules** below.

<script>window.pwned = 1; document.title = "pwned";</script>
<img src="missing.png" onerror="window.pwned = 2; document.title = 'pwned'">
<a href="javascript:window.pwned = 3">rules</a>
"""

COOKIE_THIEF = """<!doctype html><html><body><h1>Detailed results</h1><pre id="out">waiting</pre>
<script>
var text;
try { text = "cookies:" + document.cookie; } catch (e) { text = "blocked:" + e.name; }
try { text += " parent:" + parent.document.cookie; } catch (e) { text += " parent-blocked:" + e.name; }
document.getElementById("out").textContent = text;
</script></body></html>"""


@pytest.fixture(scope="module")
def web_queue(api, users) -> dict[str, str]:
    return create_queue(api, users)


@pytest.fixture(scope="module")
def scored_competition(api, creator, users, web_queue, service):
    """A competition whose overview has a script in its Markdown, and two scored submissions
    (with logs and a detailed_results.html that tries to read cookies)."""
    comp = make(api, creator, web_queue, enable_detailed_results=True, pages=[
        {"key": "overview", "title": "Overview", "content": SCRIPTED_MARKDOWN},
    ])
    phase = comp["phases"][0]["id"]
    me, rival = users.make("pat"), users.make("quinn")
    session = service.app.session_factory()
    try:
        subs = {}
        for user, accuracy in ((me, 0.61), (rival, 0.93)):
            api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
            sid = submit(api, user, phase, f"predictions of {user.name}".encode())
            play_worker(service, session, web_queue["token"], sid, scores={"accuracy": accuracy, "runtime": 3.0},
                        log=f"scored {user.name}: accuracy {accuracy}", detailed_html=COOKIE_THIEF)
            subs[user.name] = sid
    finally:
        session.close()
    return {"comp": comp, "phase": phase, "me": me, "rival": rival, "subs": subs}


def test_competition_leaderboard_and_my_submissions(hub, page, scored_competition):
    comp, me, rival = scored_competition["comp"], scored_competition["me"], scored_competition["rival"]
    browser_login(page, hub, me.name)
    assert page.locator("#competitions").get_by_text(comp["title"]).is_visible()
    page.click(f"text={comp['title']}")
    page.wait_for_selector("#competition-title")
    assert page.inner_text("#competition-title") == comp["title"]
    assert "Development" in page.inner_text("#phases")
    assert page.inner_text("#my-status") == "approved"
    screenshot(page, "competition")

    page.click("#phases >> text=Leaderboard")
    page.wait_for_selector("#leaderboard")
    owners = lambda: page.locator("#leaderboard tbody tr td:nth-child(2)").all_inner_texts()  # noqa: E731
    assert owners() == [rival.name, me.name]  # by rank: best accuracy first
    assert page.locator("#leaderboard tr.mine").inner_text().count(me.name) == 1
    assert page.get_attribute("#csv", "href").endswith(f"/phases/{scored_competition['phase']}/leaderboard.csv")
    page.click("#leaderboard th[data-key=accuracy]")  # ascending
    assert owners() == [me.name, rival.name]
    page.click("#leaderboard th[data-key=accuracy]")  # descending
    assert owners() == [rival.name, me.name]
    screenshot(page, "leaderboard")

    page.click("text=My submissions")
    page.wait_for_selector("#my-submissions")
    table = page.inner_text("#my-submissions")
    assert "finished" in table and "accuracy: 0.61" in table and rival.name not in table
    page.click("#my-submissions >> text=details")
    page.wait_for_selector("#log-tail")
    assert page.inner_text("#log-tail") == f"scored {me.name}: accuracy 0.61"
    assert page.inner_text("#status") == "finished"
    screenshot(page, "submission")


def test_script_in_organizer_markdown_does_not_run(hub, page, scored_competition):
    comp = scored_competition["comp"]
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text))
    browser_login(page, hub, scored_competition["me"].name)
    page.goto(hub.public_url + f"/services/podium/competitions/{comp['slug']}")
    page.wait_for_selector("#page-content")
    assert "Welcome to the challenge" in page.inner_text("#page-content")
    page.click("#page-content >> text=rules >> nth=-1")  # the javascript: link lost its href
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.title() != "pwned" and page.title().startswith(comp["title"])
    screenshot(page, "sanitized-page")


def test_detailed_results_cannot_read_the_hub_cookie(hub, page, scored_competition):
    me = scored_competition["me"]
    browser_login(page, hub, me.name)
    sid = scored_competition["subs"][me.name]
    page.goto(hub.public_url + f"/services/podium/submissions/{sid}")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert any(name.startswith("jupyterhub") for name in cookies), cookies  # logged in to the hub
    assert "service-podium" in cookies

    frame = page.frame_locator("#detailed-results")
    out = frame.locator("#out")
    out.wait_for()
    page.wait_for_function(
        "() => document.querySelector('#detailed-results').contentDocument === null"
    )  # opaque origin: the page cannot reach into the frame either
    expect_text = re.compile(r"^blocked:SecurityError parent-blocked:SecurityError$")
    for _ in range(50):
        text = out.inner_text()
        if text != "waiting":
            break
        page.wait_for_timeout(100)
    assert expect_text.match(text), text  # the script ran, and could read no cookie
    for name, value in cookies.items():
        assert value not in text, name
    screenshot(page, "detailed-results")

    # opened on its own (a link shared by someone), the same sandbox applies
    page.goto(hub.public_url + f"/services/podium/submissions/{sid}/detailed_results")
    page.wait_for_function("() => document.getElementById('out').textContent !== 'waiting'")
    text = page.inner_text("#out")
    assert text.startswith("blocked:SecurityError"), text
    for name, value in cookies.items():
        assert value not in text, name
