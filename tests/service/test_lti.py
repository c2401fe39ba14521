"""Podium as an LTI 1.3 tool, against a platform of the tests' own that verifies what an LMS
verifies (``helpers.lti_platform``): launches (resource link, deep linking) and what is refused
(a tampered id_token, a wrong key, a replayed nonce, a wrong audience, an expired token), and
grades per phase in the platform's gradebook through AGS, idempotently."""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests
from helpers.lti_platform import INSTRUCTOR, LEARNER, new_key, registered
from jwt.algorithms import RSAAlgorithm
from podium.server.orm import LtiLink, LtiUser, Submission
from podium.server.submissions import lifecycle as domain

#: the platform is registered in the service thread's own options (``helpers.lti_platform.registered``)
pytestmark = pytest.mark.in_process


@pytest.fixture
def platform(service, tmp_path):
    """A platform registered in the running service (its traits set for this test)."""
    with registered(service, tmp_path / "tool-key.pem") as lms:
        yield lms


def student(lms, user, **extra):
    return lms.claims(sub=f"lms-{user.name}", email=user.name.upper(), roles=[LEARNER], **extra)


def body_of(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_resource_link_launch_maps_the_lms_user_to_the_hub_user(platform, users, make_competition, dbsession) -> None:
    comp = make_competition()
    user = users.make("lti")
    answer = platform.launch(requests.Session(), student(platform, user, custom={"competition": comp["slug"]}))
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].endswith(f"competitions/{comp['slug']}")
    mapped = dbsession.query(LtiUser).filter_by(issuer=platform.issuer, subject=f"lms-{user.name}").one()
    assert mapped.username == user.name  # the email claim, lowercased as the hub does
    link = dbsession.query(LtiLink).filter_by(issuer=platform.issuer, resource_link_id="link-1").one()
    assert link.competition_id == comp["id"] and link.ags["lineitems"].endswith("/contexts/course-1/lineitems")
    # the tool's JWKS is what the platform checks the tool's signatures with
    keys = requests.get(platform.tool_jwks_url, timeout=10).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and "d" not in keys[0]


def test_refused_launches(platform, users, make_competition) -> None:
    comp = make_competition()
    user = users.make("ltibad")
    claims = student(platform, user, custom={"competition": comp["slug"]})

    def tampered(form):  # a claim changed after signing: the signature no longer matches
        header, payload, signature = form["id_token"].split(".")
        changed = dict(body_of(form["id_token"]), email="somebody-else")
        encoded = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
        return {**form, "id_token": f"{header}.{encoded}.{signature}"}

    def wrong_key(form):  # signed by a key that is not in the platform's JWKS, under its kid
        return {**form, "id_token": platform.sign(body_of(form["id_token"]), key=new_key())}

    def wrong_audience(form):
        return {**form, "id_token": platform.sign({**body_of(form["id_token"]), "aud": "another-tool"})}

    def expired(form):
        return {**form, "id_token": platform.sign({**body_of(form["id_token"]), "exp": 1_000_000_000})}

    def wrong_state(form):
        return {**form, "state": "state-" + "0" * 30}

    for name, change, why in ((("tampered", tampered, "Signature verification failed")),
                              ("wrong key", wrong_key, "Signature verification failed"),
                              ("wrong audience", wrong_audience, "Client id not registered"),
                              ("expired", expired, "expired"),
                              ("wrong state", wrong_state, "State not found")):
        refused = platform.launch(requests.Session(), dict(claims), tamper=change)
        assert refused.status_code == 403, (name, refused.status_code, refused.text)
        assert why in refused.text, (name, refused.text)
    # a replayed launch (same id_token, state and cookie): its nonce was used up the first time
    browser = requests.Session()
    form = platform.authorize(browser, platform.start_launch(browser, dict(claims)))
    first = browser.post(platform.tool_launch_url_direct, data=form, allow_redirects=False, timeout=30)
    assert first.status_code == 302, first.text
    again = browser.post(platform.tool_launch_url_direct, data=form, allow_redirects=False, timeout=30)
    assert again.status_code == 403 and "nonce" in again.text.lower(), again.text


def test_deep_linking_lets_an_instructor_link_a_competition(platform, users, make_competition) -> None:
    comp = make_competition()
    teacher = users.make("teacher")
    browser = requests.Session()
    claims = platform.claims(sub="lms-teacher", email=teacher.name, roles=[INSTRUCTOR], deep_link=True)
    page = platform.launch(browser, claims)
    assert page.status_code == 200 and f'id="link-{comp["slug"]}"' in page.text, page.text
    launch_id = re.search(r'name="launch_id" value="([^"]+)"', page.text).group(1)
    chosen = browser.post(platform.tool_launch_url_direct.removesuffix("launch") + "deep-link",
                          data={"launch_id": launch_id, "competition": comp["slug"]}, timeout=30)
    assert chosen.status_code == 200, chosen.text
    assert "script-src 'sha256-" in chosen.headers["Content-Security-Policy"]
    action = re.search(r'<form method="post" action="([^"]+)"', chosen.text).group(1)
    token = re.search(r'name="JWT" value="([^"]+)"', chosen.text).group(1)
    returned = requests.post(action, data={"JWT": token}, timeout=30)
    assert returned.status_code == 200, (returned.text, platform.refusals)
    (item,) = platform.deep_links
    assert item["type"] == "ltiResourceLink" and item["custom"] == {"competition": comp["slug"]}
    assert item["url"] == platform.tool_launch_url
    # a learner may not make links; the deep-link response cannot be replayed at the platform
    learner = platform.claims(sub="lms-kid", email=users.make("kid").name, roles=[LEARNER], deep_link=True)
    assert platform.launch(requests.Session(), learner).status_code == 403
    assert requests.post(action, data={"JWT": token}, timeout=30).status_code == 400
    # the link the course now holds launches the competition
    linked = platform.launch(requests.Session(), student(platform, users.make("linked"), custom=item["custom"]))
    assert linked.status_code == 302 and linked.headers["Location"].endswith(f"competitions/{comp['slug']}")


def test_grades_go_to_the_gradebook_once_per_phase_and_student(platform, api, users, creator, make_competition,
                                                             service) -> None:
    comp = make_competition()
    phase_id = comp["phases"][0]["id"]
    people = [users.make(n) for n in ("ga", "gb", "gc")]
    for user in people:
        api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    # nothing linked yet: a clear refusal
    refused = api(creator, "POST", f"/phases/{phase_id}/lti-grades", expect=409).json()
    assert "launch it once from the course" in refused["error"]["message"]
    for user in people[:2]:  # the third never launched from the course
        assert platform.launch(requests.Session(), student(platform, user, custom={"competition": comp["slug"]})).status_code == 302
    for user, accuracy in zip(people, (0.75, 0.5, 0.9), strict=True):
        with service.app.session_factory() as session:
            sub = Submission(phase_id=phase_id, owner=user.name, status=domain.S.submitted)
            session.add(sub)
            session.flush()
            domain.finish(session, sub, {"accuracy": accuracy, "runtime": 1.0})
            session.commit()
    api(people[0], "POST", f"/phases/{phase_id}/lti-grades", expect=403)
    sent = api(creator, "POST", f"/phases/{phase_id}/lti-grades", expect=200).json()
    assert sent["sent"] == 2 and sent["without_lti_identity"] == [people[2].name]
    (course,) = sent["courses"]
    (lineitem,) = platform.lineitems["course-1"].values()
    assert course["lineitem"] == lineitem["id"] and lineitem["tag"] == f"podium-phase-{phase_id}"
    book = {user: score for (item, user), score in platform.gradebook.items() if item == lineitem["id"]}
    assert {u: (s["scoreGiven"], s["scoreMaximum"]) for u, s in book.items()} == {
        f"lms-{people[0].name}": (75.0, 100.0), f"lms-{people[1].name}": (50.0, 100.0)}  # the class's grade mapping
    assert all(s["activityProgress"] == "Completed" and s["gradingProgress"] == "FullyGraded" for s in book.values())
    # sending again: the same line item, the scores replaced (not a second column, not duplicates)
    api(creator, "POST", f"/phases/{phase_id}/lti-grades", expect=200)
    assert len(platform.lineitems["course-1"]) == 1
    assert len([k for k in platform.gradebook if k[0] == lineitem["id"]]) == 2
    assert len(platform.score_posts) == 4
    # a platform that holds another key for the tool refuses its token request: the organizer reads why
    keys = requests.get(platform.tool_jwks_url, timeout=10).json()["keys"]
    other = json.loads(RSAAlgorithm.to_jwk(new_key().public_key()))
    platform.pinned_tool_keys = [{**other, "kid": keys[0]["kid"], "alg": "RS256"}]
    failed = api(creator, "POST", f"/phases/{phase_id}/lti-grades", expect=502).json()
    assert "refused the grades" in failed["error"]["message"], failed
    assert "Signature verification failed" in failed["error"]["message"], failed
    assert len(platform.score_posts) == 4


def test_organizer_panel_button_sends_the_grades(platform, api, users, creator, make_competition, service) -> None:
    from podium.widgets import OrganizerPanel
    from podium.widgets.client import PodiumClient

    comp = make_competition()
    phase_id = comp["phases"][0]["id"]
    user = users.make("gw")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    panel = OrganizerPanel(comp["slug"], client=PodiumClient(url=service.url, token=creator.token))
    panel.lti_button.click()
    assert "launch it once from the course" in panel.message
    platform.launch(requests.Session(), student(platform, user, custom={"competition": comp["slug"]}))
    with service.app.session_factory() as session:
        sub = Submission(phase_id=phase_id, owner=user.name, status=domain.S.submitted)
        session.add(sub)
        session.flush()
        domain.finish(session, sub, {"accuracy": 0.6, "runtime": 1.0})
        session.commit()
    panel.lti_button.click()
    assert panel.message == "Sent 1 grade(s) to 1 course(s).", panel.message
    ((_, score),) = [(k, v) for k, v in platform.gradebook.items() if k[1] == f"lms-{user.name}"]
    assert score["scoreGiven"] == 60.0


def test_the_reveal_hook_sends_linked_competitions_only(platform, api, users, make_competition, service) -> None:
    from podium.server.lti.grades import send_grades_at_reveal

    linked, alone = make_competition(), make_competition()
    user = users.make("rv")
    api(user, "POST", f"/competitions/{linked['id']}/register", expect=200)
    platform.launch(requests.Session(), student(platform, user, custom={"competition": linked["slug"]}))
    assert send_grades_at_reveal(service.app, alone["phases"][0]["id"]) is None
    answer = send_grades_at_reveal(service.app, linked["phases"][0]["id"])
    # nobody ranked yet: the roster's grade for no score (every roster member has a grade)
    assert answer is not None and answer["sent"] == 1 and len(answer["courses"]) == 1
    assert len(platform.lineitems["course-1"]) == 1


def test_the_platform_refuses_a_token_for_scopes_it_did_not_grant(platform, api, users, creator, make_competition) -> None:
    comp = make_competition()
    user = users.make("sc")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    platform.launch(requests.Session(), student(platform, user, custom={"competition": comp["slug"]}))
    platform.granted_scopes = [s for s in platform.granted_scopes if not s.endswith("scope/score")]
    failed = api(creator, "POST", f"/phases/{comp['phases'][0]['id']}/lti-grades", expect=502).json()
    assert "invalid_scope" in failed["error"]["message"], failed
    assert not platform.gradebook and not platform.tokens


def test_a_reveal_by_date_sends_the_grades_once(platform, api, users, creator, make_competition, service,
                                                 clock) -> None:
    """A private board revealed by its date (no button, no API call): the service's periodic pass
    records the reveal and sends the grades to the linked course, once."""
    from datetime import timedelta

    from podium.server.clock import isoformat, utcnow

    comp = make_competition()
    phase_id = comp["phases"][0]["id"]
    reveal_at = utcnow() + timedelta(hours=1)
    api(creator, "PATCH", f"/phases/{phase_id}", expect=200,
        json={"private_scores": {"accuracy_private": "accuracy"}, "reveal_at": isoformat(reveal_at)})
    user = users.make("bydate")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    platform.launch(requests.Session(), student(platform, user, custom={"competition": comp["slug"]}))
    with service.app.session_factory() as session:
        sub = Submission(phase_id=phase_id, owner=user.name, status=domain.S.submitted)
        session.add(sub)
        session.flush()
        domain.finish(session, sub, {"accuracy": 0.4, "accuracy_private": 0.8, "runtime": 1.0})
        session.commit()
    clock.set(reveal_at - timedelta(seconds=1))
    service.app.reap()
    assert not platform.score_posts  # not yet due
    clock.set(reveal_at + timedelta(seconds=1))
    service.app.reap()
    service.app.reap()  # a second pass sends nothing more
    assert len(platform.score_posts) == 1
    ((_, score),) = [(k, v) for k, v in platform.gradebook.items() if k[1] == f"lms-{user.name}"]
    assert score["scoreGiven"] > 0
    assert api(creator, "GET", f"/phases/{phase_id}/reveal", expect=200).json()["revealed"] is True
