"""The list endpoints page by cursor and count up to a cap, so their cost follows the page, not the
table: ``GET /me/submissions``, ``GET /phases/{id}/submissions`` (mine, one owner's, everyone's)
and ``GET /competitions/{c}/participants``. Rows are inserted directly (no quota, no upload), on
both database backends."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from podium.server.clock import utcnow
from podium.server.orm import Participant, Score, Submission
from podium.server.request_bodies import LIST_TOTAL_CAP as TOTAL_CAP


def add_submissions(session, phase_id: int, owner: str, count: int, *, status: str = "finished",
                    parent_id: int | None = None, scored: bool = True) -> list[int]:
    base = datetime(2025, 1, 1)
    ids = list(session.scalars(sa.insert(Submission).returning(Submission.id), [
        {"phase_id": phase_id, "owner": owner, "status": status, "created_at": base + timedelta(seconds=i),
         "parent_id": parent_id, "description": f"#{i}", "log_tail": "", "fact_sheet_answers": {},
         "is_public": False, "selected": False, "counts_toward_quota": True, "is_dry_run": False}
        for i in range(count)]))
    if scored:
        session.execute(sa.insert(Score), [{"submission_id": i, "column_key": "accuracy", "value": i / 1000}
                                           for i in ids])
    session.commit()
    return ids


def walk(api, user, path: str, cursor: str, limit: int, **params) -> tuple[list[dict], list[dict]]:
    """Every page of a list by its cursor: (rows in the order served, the answers)."""
    rows, answers, after = [], [], None
    for _ in range(1000):  # bounded: a cursor that never ends fails the test instead of hanging it
        query = {"limit": limit, **params, **({cursor: after} if after is not None else {})}
        answer = api(user, "GET", path, params=query, expect=200).json()
        answers.append(answer)
        rows += answer["submissions" if "submissions" in answer else "participants"]
        after = answer["next"]
        if after is None:
            return rows, answers
    raise AssertionError(f"{path} never reached its last page")


@pytest.fixture
def history(api, users, make_competition, creator, dbsession):
    """A participant with 23 submissions in one competition and 4 in another (one of them a
    multi-task parent whose per-task child must never list), and a rival with 3."""
    user, rival = users.make("hist"), users.make("rival")
    first, second = make_competition(), make_competition()
    for comp in (first, second):
        for u in (user, rival):
            api(u, "POST", f"/competitions/{comp['id']}/register", expect=200)
    p1, p2 = first["phases"][0]["id"], second["phases"][0]["id"]
    mine = add_submissions(dbsession, p1, user.name, 20)
    mine += add_submissions(dbsession, p2, user.name, 4)
    mine += add_submissions(dbsession, p1, user.name, 3, status="failed", scored=False)
    add_submissions(dbsession, p2, user.name, 1, parent_id=mine[-5], scored=False)  # a task child
    theirs = add_submissions(dbsession, p1, rival.name, 3)
    return {"user": user, "rival": rival, "p1": p1, "p2": p2, "first": first, "mine": mine, "theirs": theirs}


def test_my_submissions_cursor_serves_every_row_once_newest_first(api, history) -> None:
    user, mine = history["user"], history["mine"]
    rows, answers = walk(api, user, "/me/submissions", "before", 5)
    assert [r["id"] for r in rows] == sorted(mine, reverse=True)
    assert len(answers) == 6 and [len(a["submissions"]) for a in answers] == [5, 5, 5, 5, 5, 2]
    for answer in answers:
        assert answer["total"] == 27 and answer["total_is_lower_bound"] is False and answer["limit"] == 5
    assert answers[0]["before"] is None and answers[1]["before"] == rows[4]["id"] == answers[0]["next"]
    # each row is the full submission model, scores included where the phase shows them
    assert rows[-1]["scores"] == {"accuracy": pytest.approx(mine[0] / 1000)} and rows[-1]["competition"]
    # the old offset pages still agree with the cursor
    by_offset = api(user, "GET", "/me/submissions", params={"limit": 5, "offset": 5}, expect=200).json()
    assert [r["id"] for r in by_offset["submissions"]] == [r["id"] for r in rows[5:10]]
    # a page exactly as long as what is left has no next
    exact = api(user, "GET", "/me/submissions", params={"limit": 27}, expect=200).json()
    assert len(exact["submissions"]) == 27 and exact["next"] is None


def test_phase_submissions_cursor_for_me_one_owner_and_everyone(api, history, creator) -> None:
    user, p1 = history["user"], history["p1"]
    in_phase = sorted([i for i in history["mine"][:20]] + history["mine"][24:], reverse=True)
    rows, answers = walk(api, user, f"/phases/{p1}/submissions", "before", 4)
    assert [r["id"] for r in rows] == in_phase and answers[-1]["total"] == 23
    failed, _ = walk(api, user, f"/phases/{p1}/submissions", "before", 2, status="failed")
    assert [r["id"] for r in failed] == sorted(history["mine"][24:], reverse=True)
    everyone, answers = walk(api, creator, f"/phases/{p1}/submissions", "before", 7, all="true")
    assert [r["id"] for r in everyone] == sorted(in_phase + history["theirs"], reverse=True)
    assert {a["total"] for a in answers} == {26}
    theirs, _ = walk(api, creator, f"/phases/{p1}/submissions", "before", 2, owner=history["rival"].name)
    assert [r["id"] for r in theirs] == sorted(history["theirs"], reverse=True)
    # a participant's cursor never reaches into anyone else's rows
    api(user, "GET", f"/phases/{p1}/submissions", params={"all": "true"}, expect=403)


def test_participants_cursor_oldest_first(api, users, make_competition, creator, dbsession) -> None:
    comp = make_competition()
    dbsession.execute(sa.insert(Participant), [
        {"competition_id": comp["id"], "username": f"p-{i:03d}", "status": "approved",
         "created_at": datetime(2025, 1, 1)} for i in range(31)])
    dbsession.commit()
    rows, answers = walk(api, creator, f"/competitions/{comp['id']}/participants", "after", 10)
    assert [r["username"] for r in rows] == [f"p-{i:03d}" for i in range(31)]
    assert [len(a["participants"]) for a in answers] == [10, 10, 10, 1]
    assert {a["total"] for a in answers} == {31} and "participant_groups" in answers[0]


def test_total_is_exact_up_to_the_cap_then_a_lower_bound(api, users, make_competition, creator, dbsession) -> None:
    user = users.make("many")
    comp = make_competition()
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    phase = comp["phases"][0]["id"]
    ids = add_submissions(dbsession, phase, user.name, TOTAL_CAP, scored=False)
    exact = api(user, "GET", "/me/submissions", params={"limit": 3}, expect=200).json()
    assert exact["total"] == TOTAL_CAP == 10_000 and exact["total_is_lower_bound"] is False
    last = add_submissions(dbsession, phase, user.name, 1, scored=False)[0]
    for path, params in (("/me/submissions", {}), (f"/phases/{phase}/submissions", {})):
        capped = api(user, "GET", path, params={"limit": 3, **params}, expect=200).json()
        assert capped["total"] == 10_000 and capped["total_is_lower_bound"] is True
        assert capped["submissions"][0]["id"] == last and capped["next"] == capped["submissions"][-1]["id"]
    everyone = api(creator, "GET", f"/phases/{phase}/submissions", params={"all": "true", "limit": 1},
                   expect=200).json()
    assert everyone["total"] == 10_000 and everyone["total_is_lower_bound"] is True
    # the deepest pages are the cursor's: offsets stop at the cap
    deep = api(user, "GET", "/me/submissions", params={"before": ids[5_000], "limit": 5}, expect=200).json()
    assert [s["id"] for s in deep["submissions"]] == ids[4_995:5_000][::-1]
    assert deep["total"] == 10_000 and deep["total_is_lower_bound"] is True  # the count ignores the cursor
    refused = api(user, "GET", "/me/submissions", params={"offset": 10_001}, expect=400).json()
    assert "offset" in refused["error"]["message"]


@pytest.mark.in_process
def test_a_page_costs_the_same_statements_however_long_the_history(api, history, service, clock) -> None:
    """O(page): a page of 3 and a page of 20, at the top or deep in the history, of mine across
    two competitions or of everyone's, each issue the same few statements (no query per row),
    and every submissions query is bounded by a LIMIT."""
    statements: list[str] = []
    clock.set(utcnow())  # pauses the service's timers (reaper, dispatcher): only requests' statements count

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        # the requests' own statements (their verbs run in the database pool's threads): work an
        # earlier test left to another of the service's threads (a health check, a bundle import)
        # once ran during a page and was counted as the page's
        if threading.current_thread().name.startswith("podium-db"):
            statements.append(statement)

    engine = service.app.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    counts, seen = {}, {}
    try:
        # newest first, each page spans both competitions (mine[20:24] are in the second)
        for name, params in (("small", {"limit": 8}), ("large", {"limit": 20}),
                             ("deep", {"limit": 20, "before": history["mine"][23]})):
            statements.clear()
            api(history["user"], "GET", "/me/submissions", params=params, expect=200)
            counts[name], seen[name] = len(statements), [" ".join(x.split())[:120] for x in statements]
            listing = [s for s in statements if "FROM submissions" in s]
            assert listing and all("LIMIT" in s for s in listing), listing
        # a first page that holds the whole list is its own count: no counting query
        statements.clear()
        whole = api(history["user"], "GET", "/me/submissions", params={"limit": 100}, expect=200).json()
        counts["whole"] = len(statements)
        assert whole["total"] == 27 and whole["next"] is None and whole["total_is_lower_bound"] is False
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert counts["small"] == counts["large"] == counts["deep"] == counts["whole"] + 1, seen
    # authentication aside: the caller's teams, the page, its phases and scores, roles per competition, the count
    assert counts["large"] <= 7, counts


def test_client_pages_and_the_organizer_panel_says_what_it_leaves_out(api, history, service, creator, tmp_path,
                                                                     dbsession) -> None:
    """The notebook client passes the cursors; the organizer's panel lists the newest 200
    submissions and says how many there are when there are more."""
    from podium.widgets import OrganizerPanel, PodiumClient

    mine = PodiumClient(url=service.url, token=history["user"].token)
    first = mine.my_submissions(limit=10)
    rest = mine.my_submissions(limit=100, before=first["next"])
    assert [s["id"] for s in first["submissions"] + rest["submissions"]] == sorted(history["mine"], reverse=True)
    in_phase = mine.my_submissions(history["p2"], limit=3)
    assert len(in_phase["submissions"]) == 3 and in_phase["total"] == 4 and in_phase["next"]
    organizer = PodiumClient(url=service.url, token=creator.token)
    page = organizer.participants(history["first"]["slug"], limit=1)
    after = organizer.participants(history["first"]["slug"], limit=1, after=page["next"])
    assert {page["participants"][0]["username"], after["participants"][0]["username"]} == {
        history["user"].name, history["rival"].name}
    everyone = organizer.phase_submissions(history["p1"], limit=5, before=history["mine"][10])
    assert [s["id"] for s in everyone["submissions"]] == history["mine"][5:10][::-1]

    add_submissions(dbsession, history["p1"], history["rival"].name, 200, scored=False)
    panel = OrganizerPanel(history["first"]["slug"], client=organizer, export_dir=tmp_path)
    assert len(panel.submissions) == 200
    assert panel.submissions_box.children[-1].value == (
        "The newest 200 of 226 submissions; the phase's web page lists them all.")
