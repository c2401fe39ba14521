"""Teams on the real hub: made by organizers (named members, a CSV roster, a hub group) or by
participants (create, invite, accept, size limit, join deadline); one quota shared exactly under
concurrent submits from several members; one leaderboard row; every member sees the team's
submissions and their logs; a member who leaves keeps nothing of the team's quota or submissions."""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from podium.server.clock import utcnow
from podium.server.orm import Submission
from podium.server.submissions import lifecycle as domain

PAYLOAD = b"PK\x05\x06" + b"\x00" * 18  # an empty zip


def announce() -> dict:
    return {"size": len(PAYLOAD), "sha256": hashlib.sha256(PAYLOAD).hexdigest()}


def class_of(api, users, make_competition, *names):
    """A published competition (5 submissions a day) and its registered participants."""
    comp = make_competition()
    people = {n: users.make(n) for n in names}
    for user in people.values():
        api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return comp, comp["phases"][0]["id"], people


def submit(api, user, phase_id, expect=201):
    return api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(), expect=expect)


def finish(service, submission_id: int, **scores: float) -> None:
    with service.app.session_factory() as session:
        sub = session.get(Submission, submission_id)
        sub.status = domain.S.submitted
        domain.finish(session, sub, scores)
        session.commit()


def test_instructor_team_shares_quota_row_and_submissions(api, users, creator, make_competition, service) -> None:
    comp, phase_id, people = class_of(api, users, make_competition, "ta", "tb", "solo")
    cid = comp["id"]
    team = api(creator, "POST", f"/competitions/{cid}/teams",
               json={"name": "Red", "members": [people["ta"].name, people["tb"].name]}, expect=201).json()
    assert team["members"] == [people["ta"].name, people["tb"].name]
    # the phase allows 5 a day: the team has 5 between its two members, not 5 each
    codes = [submit(api, people[n], phase_id, expect=None).status_code for n in ("ta", "tb") * 3]
    assert codes == [201] * 5 + [429], codes
    mine = api(people["tb"], "GET", f"/phases/{phase_id}/submissions", expect=200).json()
    assert mine["total"] == 5 and {s["owner"] for s in mine["submissions"]} == {people["ta"].name, people["tb"].name}
    assert {s["team"] for s in mine["submissions"]} == {team["id"]}
    me = api(people["ta"], "GET", "/me", expect=200).json()
    (entry,) = [c for c in me["competitions"] if c["id"] == cid]
    assert entry["team"] == "Red" and entry["phases"][0]["quota"]["remaining_today"] == 0
    # the participant alone keeps their own quota
    assert submit(api, people["solo"], phase_id).json()["quota"]["used_today"] == 1
    # a teammate reads the other's submission, its log and its outputs; an outsider gets 404
    theirs = next(s for s in mine["submissions"] if s["owner"] == people["ta"].name)
    api(people["tb"], "GET", f"/submissions/{theirs['id']}", expect=200)
    api(people["tb"], "GET", f"/submissions/{theirs['id']}/outputs", expect=200)
    api(people["tb"], "GET", f"/submissions/{theirs['id']}/log", expect=200)
    api(people["solo"], "GET", f"/submissions/{theirs['id']}", expect=404)
    # two members' scored submissions make one leaderboard row, the team's best
    ids = [s["id"] for s in mine["submissions"]]
    finish(service, ids[0], accuracy=0.5, runtime=1)
    finish(service, ids[1], accuracy=0.9, runtime=1)
    board = api(people["solo"], "GET", f"/phases/{phase_id}/leaderboard", expect=200).json()
    (row,) = board["entries"]
    assert row["team"] == "Red" and row["owner"] == "team/Red" and row["scores"]["accuracy"] == 0.9


def test_concurrent_submits_of_members_accept_exactly_the_team_quota(api, users, creator, make_competition) -> None:
    comp, phase_id, people = class_of(api, users, make_competition, "c1", "c2", "c3")
    api(creator, "POST", f"/competitions/{comp['id']}/teams",
        json={"name": "Race", "members": [u.name for u in people.values()]}, expect=201)
    members = list(people.values()) * 8  # 24 requests at once for a quota of 5 a day

    def create(user):
        return submit(api, user, phase_id, expect=None).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(create, members))
    assert codes.count(201) == 5 and codes.count(429) == 19, codes
    assert api(people["c1"], "GET", f"/phases/{phase_id}/submissions", expect=200).json()["total"] == 5


def test_roster_csv_and_hub_group_teams(api, users, creator, make_competition, hub) -> None:
    comp, phase_id, people = class_of(api, users, make_competition, "r1", "r2", "r3")
    cid = comp["id"]
    roster = f"team,username\nBlue,{people['r1'].name}\nBlue,{people['r2'].name}\n"
    made = api(creator, "POST", f"/competitions/{cid}/teams/roster", json={"csv": roster}, expect=200).json()
    assert [(t["name"], t["members"]) for t in made["teams"]] == [("Blue", [people["r1"].name, people["r2"].name])]
    bad = api(creator, "POST", f"/competitions/{cid}/teams/roster",
              json={"csv": f"Green,{people['r1'].name}\nGreen\nGreen,{people['r3'].name}\n"}, expect=400).json()
    locations = [e["location"] for e in bad["error"]["errors"]]
    assert locations == ["line 2", "line 1"], bad
    assert [t["name"] for t in api(creator, "GET", f"/competitions/{cid}/teams", expect=200).json()["teams"]] == ["Blue"]
    # a hub group per team: its members share the team without a membership row
    group = f"team-{uuid.uuid4().hex[:6]}"
    g1, g2 = users.make("g1", groups=(group,)), users.make("g2", groups=(group,))
    for user in (g1, g2):
        api(user, "POST", f"/competitions/{cid}/register", expect=200)
    api(creator, "POST", f"/competitions/{cid}/teams", json={"name": "Hub", "hub_group": group}, expect=201)
    first = submit(api, g1, phase_id).json()
    assert first["team"] is not None
    api(g2, "GET", f"/submissions/{first['id']}", expect=200)
    assert api(g2, "GET", f"/competitions/{cid}/my-team", expect=200).json()["team"]["name"] == "Hub"
    assert api(g2, "DELETE", f"/competitions/{cid}/my-team", expect=403).status_code == 403  # organizers' teams


def test_participant_teams_invite_accept_size_deadline_and_leave(api, users, creator, make_competition, clock) -> None:
    comp, phase_id, people = class_of(api, users, make_competition, "p1", "p2", "p3", "p4")
    cid = comp["id"]
    p1, p2, p3, p4 = (people[n] for n in ("p1", "p2", "p3", "p4"))
    # off by default: organizers alone make teams
    refused = api(p1, "POST", f"/competitions/{cid}/teams", json={"name": "Mine"}, expect=403).json()
    assert "organizers" in refused["error"]["message"]
    deadline = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    api(p1, "PUT", f"/competitions/{cid}/team-policy", json={"participant_teams": True}, expect=403)
    api(creator, "PUT", f"/competitions/{cid}/team-policy",
        json={"participant_teams": True, "max_size": 2, "join_deadline": deadline.isoformat() + "Z"}, expect=200)
    # p2 submitted alone before joining: that submission comes into the team
    early = submit(api, p2, phase_id).json()
    team = api(p1, "POST", f"/competitions/{cid}/teams", json={"name": "Duo"}, expect=201).json()
    assert team["members"] == [p1.name]
    api(p3, "POST", f"/competitions/{cid}/teams/{team['id']}/invitations", json={"username": p4.name}, expect=403)
    api(p1, "POST", f"/competitions/{cid}/teams/{team['id']}/invitations", json={"username": p2.name}, expect=201)
    api(p1, "POST", f"/competitions/{cid}/teams/{team['id']}/invitations", json={"username": p3.name}, expect=201)
    waiting = api(p2, "GET", f"/competitions/{cid}/my-team", expect=200).json()
    assert waiting["team"] is None and [i["name"] for i in waiting["invitations"]] == ["Duo"]
    api(p4, "POST", f"/competitions/{cid}/teams/{team['id']}/accept", expect=403)  # not invited
    joined = api(p2, "POST", f"/competitions/{cid}/teams/{team['id']}/accept", expect=200).json()
    assert joined["team"]["members"] == [p1.name, p2.name]
    full = api(p3, "POST", f"/competitions/{cid}/teams/{team['id']}/accept", expect=409).json()
    assert "at most 2" in full["error"]["message"]
    # p1 sees p2's earlier submission, now the team's; the team used one of its 5
    api(p1, "GET", f"/submissions/{early['id']}", expect=200)
    made = submit(api, p1, phase_id).json()
    assert made["quota"]["used_today"] == 2
    # p2 leaves: keeps nothing of the team's quota or submissions
    api(p2, "DELETE", f"/competitions/{cid}/my-team", expect=200)
    api(p2, "GET", f"/submissions/{early['id']}", expect=404)
    api(p2, "GET", f"/submissions/{made['id']}", expect=404)
    assert api(p2, "GET", f"/phases/{phase_id}/submissions", expect=200).json()["total"] == 0
    assert submit(api, p2, phase_id).json()["quota"]["used_today"] == 1
    assert submit(api, p1, phase_id).json()["quota"]["used_today"] == 3  # the team keeps its count
    api(p2, "GET", f"/submissions/{made['id']}", expect=404)
    # after the join deadline nobody joins, creates or leaves
    clock.set(deadline + timedelta(minutes=1))
    late = api(p3, "POST", f"/competitions/{cid}/teams", json={"name": "Late"}, expect=409).json()
    assert "closed" in late["error"]["message"]
    api(p1, "DELETE", f"/competitions/{cid}/my-team", expect=409)


def test_widgets_team_tab_and_organizer_teams_tab(api, users, creator, make_competition, service) -> None:
    from podium.widgets import Competition, MyTeam, OrganizerPanel
    from podium.widgets.client import PodiumClient

    comp, phase_id, people = class_of(api, users, make_competition, "w1", "w2")
    client = {n: PodiumClient(url=service.url, token=u.token) for n, u in people.items()}
    panel = OrganizerPanel(comp["slug"], client=PodiumClient(url=service.url, token=creator.token))
    titles = [panel.tabs.get_title(i) for i in range(len(panel.tabs.children))]
    tab = panel.teams_tab
    assert "Teams" in titles and "No teams yet" in tab.table.value
    tab.participant_teams.value, tab.max_size.value = True, 2
    tab.policy_button.click()
    assert tab.message == "Team rules saved.", tab.message
    # a participant creates a team and invites from the competition widget's Team tab
    widget = Competition(comp["slug"], client=client["w1"])
    mine = widget.team_panel
    mine.name_input.value = "Pair"
    mine.create_button.click()
    assert mine.team["name"] == "Pair", mine.message
    mine.invite_input.value = people["w2"].name
    mine.invite_button.click()
    theirs = MyTeam(comp["slug"], client=client["w2"])
    (row,) = theirs.invitations_box.children
    row.children[1].click()  # "Join Pair"
    assert theirs.team["members"] == [people["w1"].name, people["w2"].name], theirs.message
    mine.invite_input.value = "nobody-else"
    mine.invite_button.click()
    assert "at most 2" in mine.message
    tab.refresh()
    assert "Pair" in tab.table.value and people["w2"].name in tab.table.value
    # the roster import reports the line that is wrong, as a sentence in the tab
    tab.roster_input.value = "Solo"
    tab.roster_button.click()
    assert "line 1" in tab.message
    widget.refresh()
    assert widget.team == "Pair" and "Team: Pair" in widget.describe()


def test_competition_page_shows_my_team_and_accepts_an_invitation(api, users, creator, make_competition, hub) -> None:
    from helpers.web_session import WebSession

    comp, phase_id, people = class_of(api, users, make_competition, "web1", "web2")
    cid, slug = comp["id"], comp["slug"]
    api(creator, "PUT", f"/competitions/{cid}/team-policy", json={"participant_teams": True}, expect=200)
    team = api(people["web1"], "POST", f"/competitions/{cid}/teams", json={"name": "Web <b>Team</b>"}, expect=400)
    team = api(people["web1"], "POST", f"/competitions/{cid}/teams", json={"name": "Webbed"}, expect=201).json()
    api(people["web1"], "POST", f"/competitions/{cid}/teams/{team['id']}/invitations",
        json={"username": people["web2"].name}, expect=201)
    browser = WebSession(hub, people["web2"].name)
    browser.login()
    page = browser.get(f"competitions/{slug}").text
    assert "invites you to team <b>Webbed</b>" in page and f'id="accept-{team["id"]}"' in page
    answered = browser.post(f"competitions/{slug}/teams/{team['id']}/accept",
                            {"next": f"/services/podium/competitions/{slug}"})
    assert answered.headers["Location"] == f"/services/podium/competitions/{slug}"
    page = browser.get(f"competitions/{slug}").text
    assert 'id="team-name">Webbed</b>' in page and people["web1"].name in page and "invites you" not in page


def test_organizers_take_members_out_and_delete_empty_teams(api, users, creator, make_competition, service) -> None:
    comp, phase_id, people = class_of(api, users, make_competition, "o1", "o2", "o3")
    cid = comp["id"]
    team = api(creator, "POST", f"/competitions/{cid}/teams",
               json={"name": "Out", "members": [people["o1"].name, people["o2"].name]}, expect=201).json()
    made = submit(api, people["o2"], phase_id).json()
    api(creator, "POST", f"/competitions/{cid}/teams", json={"name": "Two", "members": [people["o1"].name]}, expect=409)
    left = api(creator, "DELETE", f"/competitions/{cid}/teams/{team['id']}/members/{people['o2'].name}",
               expect=200).json()
    assert left["members"] == [people["o1"].name]
    api(people["o2"], "GET", f"/submissions/{made['id']}", expect=404)
    api(people["o1"], "GET", f"/submissions/{made['id']}", expect=200)
    mine = api(people["o2"], "GET", "/me/submissions", expect=200).json()
    assert made["id"] not in [s["id"] for s in mine["submissions"]]
    assert made["id"] in [s["id"] for s in api(people["o1"], "GET", "/me/submissions", expect=200).json()["submissions"]]
    api(creator, "POST", f"/competitions/{cid}/teams/{team['id']}/members", json={"username": people["o3"].name},
        expect=201)
    api(creator, "DELETE", f"/competitions/{cid}/teams/{team['id']}", expect=409)  # it has submissions
    empty = api(creator, "POST", f"/competitions/{cid}/teams", json={"name": "Empty"}, expect=201).json()
    api(creator, "DELETE", f"/competitions/{cid}/teams/{empty['id']}", expect=204)
    api(creator, "DELETE", f"/competitions/{cid}/teams/99999999999999999999", expect=404)
    api(people["o1"], "DELETE", f"/competitions/{cid}/teams/{team['id']}", expect=403)
    # an organizer's re-run of a team submission is the team's too
    kept = submit(api, people["o1"], phase_id).json()
    api.upload(kept["upload_url"], PAYLOAD)
    api(people["o1"], "POST", f"/submissions/{kept['id']}/uploaded", expect=200)
    copy = api(creator, "POST", f"/submissions/{kept['id']}/rerun", expect=201).json()
    assert copy["team"] == team["id"]
    api(people["o3"], "GET", f"/submissions/{copy['id']}", expect=200)
