"""The web pages over real HTTP, through the real hub and proxy, logged in with the hub's OAuth.

Every test logs in the way a browser does (the hub's login form, then the OAuth redirects back
to the service) and checks what each role sees, that organizer content is sanitized, that forms
need their XSRF token (and the token-authenticated JSON API does not), that every HTML answer
has a strict CSP, that redirects stay on this service, and that participants cannot reach the
organizer views.
"""

from __future__ import annotations

import pytest
from conftest import competition_body, submit, upload_dataset
from helpers.web_session import WebSession, create_queue, form_xsrf, make, play_worker

HOSTILE_MARKDOWN = """# Welcome

This is **bold** and [a safe link](https://example.org/rules).

<script>window.pwned = 1; document.title = "pwned"</script>

[click me](javascript:alert(1)) <a href="javascript:alert(2)">or me</a>
<img src="x.png" onerror="alert(3)"> <p onclick="alert(4)">hello</p>
"""


@pytest.fixture(scope="module")
def web_queue(api, users) -> dict[str, str]:
    return create_queue(api, users)


@pytest.fixture
def web(hub, service):
    """``web(user)`` → a WebSession logged in as that hub user."""

    def login(user) -> WebSession:
        session = WebSession(hub, user.name)
        session.login()
        return session

    return login


def assert_strict_csp(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline scripts, no eval
    assert directives["frame-ancestors"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_login_through_the_hub_lists_competitions(api, creator, users, web, web_queue):
    comp = make(api, creator, web_queue)
    participant = users.make("alice")
    session = web(participant)
    home = session.last
    assert home.headers["Content-Type"].startswith("text/html")
    assert_strict_csp(home)
    assert comp["title"] in home.text and participant.name in home.text
    # the login cookie is the service's own, on the service's path only
    cookie = next(c for c in session.http.cookies if c.name == "service-podium")
    assert cookie.path == "/services/podium/" and cookie.has_nonstandard_attr("HttpOnly")


def test_anonymous_visitor_is_sent_to_the_hub_login(hub, service, make_competition):
    import requests

    response = requests.get(hub.public_url + "/services/podium/me/submissions", allow_redirects=False, timeout=30)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/hub/api/oauth2/authorize?")


def test_organizer_pages_are_sanitized(api, creator, users, web, web_queue):
    comp = make(api, creator, web_queue, pages=[
        {"key": "overview", "title": "Overview", "content": HOSTILE_MARKDOWN},
        {"key": "legacy", "title": "Legacy HTML", "content": '<h2>Old bundle</h2><iframe src="https://evil.example"></iframe><p style="x">kept</p>'},
    ])
    session = web(users.make("bob"))
    page = session.get(f"competitions/{comp['slug']}")
    assert_strict_csp(page)
    article = page.text.split('id="page-content">', 1)[1].split("</article>", 1)[0]
    assert "<strong>bold</strong>" in article
    assert 'href="https://example.org/rules"' in article
    for bad in ("<script", "pwned", "href=\"javascript:", "onerror", "onclick"):
        assert bad not in article.lower(), (bad, article)
    assert ">click me</a>" not in article  # the javascript: Markdown link stays plain text
    legacy = session.get(f"competitions/{comp['slug']}?page=legacy").text
    assert "<h2>Old bundle</h2>" in legacy and "<p>kept</p>" in legacy
    assert "<iframe" not in legacy and "evil.example" not in legacy


def test_competition_page_shows_phases_and_data_to_participants(api, creator, users, web, web_queue):
    data = b"id,feature\n1,0.5\n"
    dataset = upload_dataset(api, creator, "public_data", "public.csv", data)
    body = competition_body("x")
    phase = dict(body["phases"][0], public_data=dataset)
    comp = make(api, creator, web_queue, phases=[phase])
    session = web(users.make("carol"))
    page = session.get(f"competitions/{comp['slug']}").text
    assert "Development" in page and phase["start"][:10] in page and phase["end"][:10] in page
    assert "register to download" in page and f"datasets/{dataset}/download" not in page
    # not registered: the download is refused with the API's own reason
    refused = session.get(f"datasets/{dataset}/download", expect=403)
    assert "Register for this competition" in refused.text
    session.get(f"competitions/{comp['slug']}")
    registered = session.post(f"competitions/{comp['slug']}/register", {"next": f"/services/podium/competitions/{comp['slug']}"})
    assert registered.headers["Location"] == f"/services/podium/competitions/{comp['slug']}"
    page = session.get(f"competitions/{comp['slug']}").text
    assert 'id="my-status">approved' in page
    # the link follows the service's signed URL to the file itself
    download = session.get(f"datasets/{dataset}/download")
    assert download.content == data


def test_forms_need_their_xsrf_token_but_the_api_does_not(api, creator, users, web, web_queue):
    comp = make(api, creator, web_queue)
    user = users.make("dave")
    session = web(user)
    session.get(f"competitions/{comp['slug']}")
    missing = session.post(f"competitions/{comp['slug']}/register", xsrf=None, expect=403)
    assert missing.headers["Content-Type"].startswith("text/html")
    assert "_xsrf" in missing.text
    session.post(f"competitions/{comp['slug']}/register", xsrf="not-the-token", expect=403)
    # still not registered after both refusals
    assert api(user, "GET", f"/competitions/{comp['id']}", expect=200).json()["my_role"]["participant"] is None
    # another user's token does not work either (it is bound to the login it was made for)
    stolen = form_xsrf(session.get(f"competitions/{comp['slug']}").text)
    other = web(users.make("eve"))
    other.get(f"competitions/{comp['slug']}")
    other.post(f"competitions/{comp['slug']}/register", xsrf=stolen, expect=403)
    session.post(f"competitions/{comp['slug']}/register", expect=303)
    assert api(user, "GET", f"/competitions/{comp['id']}", expect=200).json()["my_role"]["participant"] == "approved"
    # the JSON API with a token needs no XSRF token
    api(users.make("frank"), "POST", f"/competitions/{comp['id']}/register", expect=200)


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "/\tevil.example", "/hub/admin",
               "javascript:alert(1)", "http:/evil.example"],
)
def test_login_next_only_goes_to_this_service(hub, service, target):
    import requests

    refused = requests.get(hub.public_url + "/services/podium/login", params={"next": target},
                           allow_redirects=False, timeout=30)
    assert refused.status_code == 400, (target, refused.status_code, refused.headers.get("Location"))
    assert "Location" not in refused.headers


def test_login_next_to_a_service_page_is_followed(hub, service):
    import requests

    ok = requests.get(hub.public_url + "/services/podium/login", params={"next": "/services/podium/me/submissions"},
                      allow_redirects=False, timeout=30)
    assert ok.status_code == 302 and ok.headers["Location"] == "/services/podium/me/submissions"


def test_participants_cannot_open_organizer_views(api, creator, users, web, web_queue):
    comp = make(api, creator, web_queue, registration_mode="approval")
    participant = users.make("gina")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    api(creator, "POST", f"/competitions/{comp['id']}/participants/{participant.name}/approve", json={}, expect=200)
    sid = submit(api, participant, comp["phases"][0]["id"], b"predictions")
    session = web(participant)
    page = session.get(f"competitions/{comp['slug']}").text
    assert "/participants" not in page and f"phases/{comp['phases'][0]['id']}/submissions" not in page
    denied = session.get(f"competitions/{comp['slug']}/participants", expect=403)
    assert "Only the organizers" in denied.text
    assert_strict_csp(denied)
    session.get(f"phases/{comp['phases'][0]['id']}/submissions", expect=403)
    session.get(f"submissions/{sid}")  # a page with a form of the participant's own (cancel)
    session.post(f"competitions/{comp['slug']}/participants/{participant.name}/deny", expect=403)
    session.post(f"submissions/{sid}/rerun", expect=403)
    assert api(participant, "GET", f"/competitions/{comp['id']}", expect=200).json()["my_role"]["participant"] == "approved"


def test_organizer_approves_cancels_and_reruns(api, creator, users, web, web_queue, dbsession):
    comp = make(api, creator, web_queue, registration_mode="approval")
    participant = users.make("hank")
    you = web(participant)
    you.get(f"competitions/{comp['slug']}")
    you.post(f"competitions/{comp['slug']}/register")
    assert 'id="my-status">pending' in you.get(f"competitions/{comp['slug']}").text

    organizer = web(creator)
    people = organizer.get(f"competitions/{comp['slug']}/participants").text
    assert participant.name in people and "pending" in people
    back = organizer.post(f"competitions/{comp['slug']}/participants/{participant.name}/approve",
                          {"next": f"/services/podium/competitions/{comp['slug']}/participants"})
    assert back.headers["Location"].endswith("/participants")
    people = organizer.get(f"competitions/{comp['slug']}/participants").text
    assert f'data-user="{participant.name}"' in people and "approved" in people

    phase = comp["phases"][0]["id"]
    first = submit(api, participant, phase, b"first")
    second = submit(api, participant, phase, b"second")
    listing = organizer.get(f"phases/{phase}/submissions").text
    assert f'data-submission="{first}"' in listing and f'data-submission="{second}"' in listing
    organizer.post(f"submissions/{second}/cancel", {"next": f"/services/podium/phases/{phase}/submissions"})
    assert api(participant, "GET", f"/submissions/{second}", expect=200).json()["status"] == "cancelled"
    play_worker_result = {"accuracy": 0.5, "runtime": 1.0}
    play_worker(api.service, dbsession, web_queue["token"], first, scores=play_worker_result)
    organizer.get(f"phases/{phase}/submissions")
    organizer.post(f"submissions/{first}/rerun", {"next": "//evil.example/"})
    mine = api(participant, "GET", f"/phases/{phase}/submissions", expect=200).json()["submissions"]
    assert any(s["description"] == f"Re-run of submission {first} by {creator.name}" for s in mine)


def test_leaderboard_my_submissions_and_detailed_results(api, creator, users, web, web_queue, dbsession):
    comp = make(api, creator, web_queue, enable_detailed_results=True)  # participants see them only then
    phase = comp["phases"][0]["id"]
    me, rival = users.make("ivy"), users.make("jack")
    scored = {}
    for user, accuracy in ((me, 0.75), (rival, 0.9)):
        api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
        sid = submit(api, user, phase, f"predictions of {user.name}".encode())
        play_worker(api.service, dbsession, web_queue["token"], sid, scores={"accuracy": accuracy, "runtime": 2.0},
                    log=f"scoring {user.name}\nall good <b>not bold</b>",
                    detailed_html="<html><body><h1>Details</h1><script>document.body.dataset.ran = 1</script></body></html>")
        scored[user.name] = sid

    session = web(me)
    board = session.get(f"phases/{phase}/leaderboard")
    assert_strict_csp(board)
    rows = board.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr")[1:]
    assert rival.name in rows[0] and me.name in rows[1]  # ranked by accuracy, best first
    assert 'class="mine"' in rows[1] and 'class="mine"' not in rows[0]
    assert "0.750" in rows[1]  # the column's precision
    assert 'src="/services/podium/static/sortable.js"' in board.text
    csv = session.get(f"phases/{phase}/leaderboard.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("rank,participant")
    assert me.name in csv.text and rival.name in csv.text

    mine = session.get("me/submissions").text
    assert f"<td>{scored[me.name]}</td>" in mine and "finished" in mine and "accuracy: 0.75" in mine
    assert f"<td>{scored[rival.name]}</td>" not in mine

    detail = session.get(f"submissions/{scored[me.name]}").text
    assert f"scoring {me.name}" in detail and "&lt;b&gt;not bold&lt;/b&gt;" in detail
    assert '<iframe class="detailed" id="detailed-results" title="Detailed results" sandbox="allow-scripts"' in detail
    results = session.get(f"submissions/{scored[me.name]}/detailed_results")
    csp = results.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox allow-scripts;") and "allow-same-origin" not in csp
    assert "frame-ancestors 'self'" in csp
    assert results.headers["Content-Type"].startswith("text/html")
    assert "<h1>Details</h1>" in results.text
    # someone else's submission does not exist for me
    session.get(f"submissions/{scored[rival.name]}", expect=404)
    session.get(f"submissions/{scored[rival.name]}/detailed_results", expect=404)


def test_list_pages_go_on_by_cursor(api, creator, users, web, web_queue, dbsession):
    """My submissions, a phase's submissions and the registrations show their count and an
    "older" / "later" link carrying the API's cursor, which serves the next rows and no others."""
    import re
    from datetime import datetime

    import sqlalchemy as sa
    from podium.server.orm import Participant, Submission

    comp = make(api, creator, web_queue)
    phase = comp["phases"][0]["id"]
    me = users.make("pager")
    api(me, "POST", f"/competitions/{comp['id']}/register", expect=200)
    ids = list(dbsession.scalars(sa.insert(Submission).returning(Submission.id), [
        {"phase_id": phase, "owner": me.name, "status": "finished", "created_at": datetime(2025, 1, 1),
         "description": "", "log_tail": "", "fact_sheet_answers": {}, "is_public": False, "selected": False,
         "counts_toward_quota": True, "is_dry_run": False} for _ in range(5)]))
    dbsession.execute(sa.insert(Participant), [
        {"competition_id": comp["id"], "username": f"later-{i}", "status": "pending",
         "created_at": datetime(2025, 1, 1)} for i in range(3)])
    dbsession.commit()

    def shown(html: str, attribute: str) -> list[int]:
        return [int(m) for m in re.findall(rf'{attribute}="(\d+)"', html)]

    session = web(me)
    first = session.get("me/submissions?limit=2").text
    assert "5 submissions" in first and f"<td>{ids[4]}</td>" in first and f"<td>{ids[2]}</td>" not in first
    assert f'href="/services/podium/me/submissions?before={ids[3]}" class="next">Older submissions' in first
    second = session.get(f"me/submissions?limit=2&before={ids[3]}").text
    assert f"<td>{ids[2]}</td>" in second and f"<td>{ids[1]}</td>" in second and f"<td>{ids[3]}</td>" not in second
    assert 'class="first">↑ Back to the start' in second

    organizer = web(creator)
    listing = organizer.get(f"phases/{phase}/submissions?limit=3").text
    assert shown(listing, "data-submission") == ids[:1:-1] and "5 submissions" in listing
    rest = organizer.get(f"phases/{phase}/submissions?limit=3&before={ids[2]}").text
    assert shown(rest, "data-submission") == [ids[1], ids[0]] and 'class="next"' not in rest
    people = organizer.get(f"competitions/{comp['slug']}/participants?limit=2").text
    assert "4 registrations" in people and "later-0" in people and "later-1" not in people
    later = re.search(r'href="[^"]*participants\?after=(\d+)" class="next"', people).group(1)
    rest = organizer.get(f"competitions/{comp['slug']}/participants?limit=2&after={later}").text
    assert "later-1" in rest and "later-2" in rest and "later-0" not in rest


def test_executed_notebook_is_shown_sanitized_to_its_owner(api, creator, users, web, web_queue, dbsession):
    """What a notebook's outputs carry is participant output: shown as text or sanitized HTML
    under the strict CSP, downloadable as a file, hidden where the phase hides its output."""
    import json

    body_phase = {"accepts_notebooks": True}
    comp = make(api, creator, web_queue, phases=[{**competition_body("x")["phases"][0], **body_phase}])
    phase = comp["phases"][0]["id"]
    assert comp["phases"][0]["accepts_notebooks"] is True
    me, rival = users.make("nbpage"), users.make("nbrival")
    executed = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Mine <script>window.pwned=1</script>"},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "print('<b>hi</b>')", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "\u001b[31m<script>window.pwned=2</script>\n"},
            {"output_type": "display_data", "metadata": {}, "data": {
                "text/html": "<img src=x onerror=alert(1)><i>styled</i>"}},
            {"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": ["KeyError: 'x'"]}]},
    ]}).encode()
    api(me, "POST", f"/competitions/{comp['id']}/register", expect=200)
    sid = submit(api, me, phase, b"a notebook")
    play_worker(api.service, dbsession, web_queue["token"], sid, scores={}, notebook=executed,
                failure="The notebook failed: cell 2 raised KeyError: 'x'.")
    files = {f["role"] for f in api(me, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}
    assert "executed_notebook" in files

    session = web(me)
    page = session.get(f"submissions/{sid}")
    assert_strict_csp(page)
    shown = page.text.split('id="executed-notebook"', 1)[1]
    assert "<script" not in shown and "onerror" not in shown
    assert "&lt;script&gt;window.pwned=2&lt;/script&gt;" in shown and "\x1b" not in shown
    assert "<i>styled</i>" in shown and "print(&#39;&lt;b&gt;hi&lt;/b&gt;&#39;)" in shown
    assert 'class="cell cell-code cell-failed" id="cell-2"' in shown
    download = session.get(f"submissions/{sid}/executed_notebook")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Type"] == "application/octet-stream" and download.content == executed

    api(rival, "POST", f"/competitions/{comp['id']}/register", expect=200)
    web(rival).get(f"submissions/{sid}/executed_notebook", expect=404)
    api(creator, "PATCH", f"/phases/{phase}", json={"hide_prediction_output": True}, expect=200)
    hidden = session.get(f"submissions/{sid}").text
    assert 'id="executed-notebook"' not in hidden
    session.get(f"submissions/{sid}/executed_notebook", expect=404)
