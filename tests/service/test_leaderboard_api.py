"""Leaderboards through the API: rules, tie-breaks, missing scores, precision, hidden columns,
computed columns, visibility, pagination and CSV."""

from __future__ import annotations

import csv
import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from conftest import competition_body, unique_slug
from podium.server.clock import utcnow
from podium.server.orm import Submission, SubmissionStatus
from podium.server.submissions import lifecycle as domain

BOARD = {
    "key": "main",
    "title": "Results",
    "columns": [
        {"key": "accuracy", "title": "Accuracy", "sorting": "desc", "precision": 3},
        {"key": "runtime", "title": "Runtime", "sorting": "asc", "precision": 1},
        {"key": "secret", "title": "Secret", "hidden": True},
    ],
}


@pytest.fixture
def world(api, users, creator, service, clock):
    """A published competition, three participants, and a way to add scored submissions."""
    body = competition_body(unique_slug(), leaderboards=[BOARD])
    body["phases"][0].update(max_submissions_per_day=0, max_submissions=0)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    phase_id = comp["phases"][0]["id"]
    people = {name: users.make(name) for name in ("ann", "bob", "cat")}
    for user in people.values():
        api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    base = utcnow()
    state = {"t": 0}

    def scored(who: str, intervals: dict[str, list[float]] | None = None, **scores: float) -> int:
        state["t"] += 1
        clock.set(base + timedelta(minutes=state["t"]))
        with service.app.session_factory() as session:
            sub = Submission(phase_id=phase_id, owner=people[who].name, status=SubmissionStatus.submitted,
                             created_at=base + timedelta(minutes=state["t"]))
            session.add(sub)
            session.flush()
            domain.finish(session, sub, {"secret": 1.0, **scores}, intervals)
            session.commit()
            return sub.id

    return comp, phase_id, people, scored


def board(api, user, phase_id, **params):
    return api(user, "GET", f"/phases/{phase_id}/leaderboard", params=params, expect=200).json()


def test_best_rule_tie_breaks_precision_and_hidden_columns(api, creator, world) -> None:
    comp, phase_id, people, scored = world
    scored("ann", accuracy=0.8, runtime=5)
    ann_best = scored("ann", accuracy=0.9, runtime=7)
    bob = scored("bob", accuracy=0.9, runtime=3)  # same accuracy, faster: ranks above ann
    scored("cat", accuracy=0.5, runtime=1)
    page = board(api, people["ann"], phase_id)
    assert [(e["rank"], e["owner"], e["submission"]) for e in page["entries"]] == [
        (1, people["bob"].name, bob), (2, people["ann"].name, ann_best), (3, people["cat"].name, page["entries"][2]["submission"]),
    ]
    assert page["entries"][0]["display"] == {"accuracy": "0.900", "runtime": "3.0"}
    assert [c["key"] for c in page["columns"]] == ["accuracy", "runtime"]  # hidden column not shown
    assert page["total"] == 3 and page["me"] == people["ann"].name
    organizer_view = board(api, creator, phase_id)
    assert [c["key"] for c in organizer_view["columns"]] == ["accuracy", "runtime", "secret"]


def test_earlier_submission_wins_a_full_tie(api, world) -> None:
    _, phase_id, people, scored = world
    first = scored("cat", accuracy=0.7, runtime=2)
    scored("bob", accuracy=0.7, runtime=2)
    page = board(api, people["bob"], phase_id)
    assert page["entries"][0]["submission"] == first


def test_last_selected_and_all_rules(api, creator, world) -> None:
    comp, phase_id, people, scored = world
    a1 = scored("ann", accuracy=0.9, runtime=1)
    a2 = scored("ann", accuracy=0.1, runtime=1)
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": "last"}, expect=200)
    assert [e["submission"] for e in board(api, creator, phase_id)["entries"]] == [a2]
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": "all"}, expect=200)
    assert [e["submission"] for e in board(api, creator, phase_id)["entries"]] == [a1, a2]
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": "selected"}, expect=200)
    api(people["ann"], "POST", f"/submissions/{a2}/select", json={"selected": True}, expect=200)
    assert [e["submission"] for e in board(api, creator, phase_id)["entries"]] == [a2]
    api(people["bob"], "POST", f"/submissions/{a2}/select", json={"selected": True}, expect=404)


def test_missing_scores_rank_last_and_computed_columns(api, creator, world) -> None:
    comp, phase_id, people, scored = world
    ann = scored("ann", accuracy=0.6, runtime=4)
    bob = scored("bob", accuracy=0.8, runtime=9)
    # a new primary column (ascending) that existing submissions never reported, plus a mean
    leaderboard_id = comp["leaderboards"][0]["id"]
    redefined = {
        "key": "main", "title": "Results", "primary_column": "error",
        "columns": [
            {"key": "error", "sorting": "asc"},
            {"key": "accuracy", "sorting": "desc"},
            {"key": "runtime", "sorting": "asc"},
            {"key": "avg", "computation": "avg_rank", "computation_keys": ["accuracy", "runtime"]},
        ],
    }
    api(creator, "PUT", f"/leaderboards/{leaderboard_id}", json=redefined, expect=200)
    cat = scored("cat", accuracy=0.1, runtime=99, error=0.5)
    page = board(api, creator, phase_id)
    assert page["entries"][0]["submission"] == cat  # the only one with the primary score
    # ann and bob both miss "error": ranked after cat, then by accuracy
    assert [e["submission"] for e in page["entries"][1:]] == [bob, ann]
    assert page["entries"][0]["scores"]["error"] == 0.5
    assert page["entries"][1]["scores"]["error"] is None
    # avg_rank over accuracy and runtime: bob (1, 2) → 1.5, ann (2, 1) → 1.5, cat (3, 3) → 3
    assert page["entries"][0]["scores"]["avg"] == 3.0
    assert page["entries"][1]["scores"]["avg"] == 1.5


def _stored_and_full(service, phase_id: int) -> tuple[list, list]:
    """The stored leaderboard, and the one a full rebuild over every submission would store."""
    from podium.server.leaderboards import store as store
    from podium.server.leaderboards.ranking import build_leaderboard
    from podium.server.orm import Phase

    with service.app.session_factory() as session:
        phase = session.get(Phase, phase_id)
        full = build_leaderboard(store.scored_submissions(session, phase), store.column_specs(phase.leaderboard),
                                 phase.submission_rule.value, phase.leaderboard.primary_column_key)
        return store._standing_entries(session, phase_id), full


@pytest.mark.parametrize("rule", ["best", "last", "selected", "all"])
def test_a_new_score_or_choice_re_ranks_from_the_standing_entries(api, creator, world, service, rule) -> None:
    """One participant's score or choice re-ranks from the stored entries and that participant's
    submissions alone, and the result is always what a full rebuild gives."""
    import random

    from podium.server.orm import LeaderboardEntry
    from sqlalchemy import update

    comp, phase_id, people, scored = world
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": rule}, expect=200)
    rng = random.Random(rule)
    mine = {name: [scored(name, accuracy=0.5, runtime=2)] for name in people}
    for _ in range(12):
        who = rng.choice(list(people))
        if mine[who] and rng.random() < 0.3:
            api(people[who], "POST", f"/submissions/{rng.choice(mine[who])}/select",
                json={"selected": rng.random() < 0.7}, expect=200)
        else:
            mine[who].append(scored(who, accuracy=rng.choice([0.1, 0.5, 0.5, 0.9]), runtime=rng.choice([1, 2])))
        stored, full = _stored_and_full(service, phase_id)
        assert stored == full
    # the others' entries are not read again: an entry changed behind the store's back stays
    stored, _ = _stored_and_full(service, phase_id)
    bob = next(e for e in stored if e.owner == people["bob"].name)
    with service.app.session_factory() as session:
        session.execute(update(LeaderboardEntry).where(LeaderboardEntry.submission_id == bob.submission_id)
                        .values(values={**bob.values, "runtime": 12345.0}))
        session.commit()
    scored("ann", accuracy=0.2, runtime=1)
    stored, _ = _stored_and_full(service, phase_id)
    assert next(e for e in stored if e.submission_id == bob.submission_id).values["runtime"] == 12345.0
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": rule}, expect=200)  # a full rebuild
    stored, full = _stored_and_full(service, phase_id)
    assert stored == full and all(e.values["runtime"] != 12345.0 for e in stored)


#: two of ann's, two of bob's, one of cat's: by accuracy ann, bob, cat; by runtime cat, bob, ann
HISTORY = [("ann", 0.5, 3), ("ann", 0.9, 5), ("bob", 0.8, 2), ("bob", 0.4, 4), ("cat", 0.7, 1)]
BY_RUNTIME = {**BOARD, "primary_column": "runtime"}


def _rebuilds(service, admin) -> dict[str, float]:
    """``podium_leaderboard_rebuilds_total`` by where the ranking ran, from one scrape of /metrics."""
    from helpers.metrics import scrape, value

    samples = scrape(service, admin.headers)
    return {where: value(samples, "podium_leaderboard_rebuilds_total", where=where) for where in ("process", "thread")}


@pytest.mark.in_process  # the threshold, counters and child are the service thread's own
def test_a_big_phase_is_ranked_again_in_a_child_process(api, creator, users, world, service, db_backend,
                                                       monkeypatch) -> None:
    """Past ``rebuild_in_child_process_above`` finished submissions, a redefined leaderboard or a
    changed rule is read and ranked in a child process (on PostgreSQL), which stores what ranking
    in the service's thread stores, and the next read shows it; the ``all`` rule, small phases
    and SQLite rank in the thread."""
    comp, phase_id, people, scored = world
    for who, accuracy, runtime in HISTORY:
        scored(who, accuracy=accuracy, runtime=runtime)
    ranking = service.app.ranking_process
    monkeypatch.setattr(ranking, "above", len(HISTORY) - 1)
    admin = users.make("admin", admin=True)
    lb_id = comp["leaderboards"][0]["id"]
    child = "process" if db_backend == "postgresql" else "thread"

    before = _rebuilds(service, admin)
    api(creator, "PUT", f"/leaderboards/{lb_id}", json=BY_RUNTIME, expect=200)
    after = _rebuilds(service, admin)
    assert after == {**before, child: before[child] + 1}
    if child == "process":
        assert ranking.last_child_pid not in (None, os.getpid())
    stored, full = _stored_and_full(service, phase_id)
    assert stored == full
    assert [e["owner"] for e in board(api, creator, phase_id)["entries"]] == [people[n].name for n in ("cat", "bob", "ann")]

    # the same definition ranked in the thread stores the same rows
    monkeypatch.setattr(ranking, "above", 0)
    api(creator, "PUT", f"/leaderboards/{lb_id}", json=BY_RUNTIME, expect=200)
    assert _rebuilds(service, admin)["thread"] == after["thread"] + 1
    assert _stored_and_full(service, phase_id)[0] == stored

    # a rule changed by PATCH goes to the child too; the 'all' rule and a phase at the threshold do not
    monkeypatch.setattr(ranking, "above", len(HISTORY) - 1)
    before = _rebuilds(service, admin)
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": "last"}, expect=200)
    after = _rebuilds(service, admin)
    assert after == {**before, child: before[child] + 1}
    stored, full = _stored_and_full(service, phase_id)
    assert stored == full  # each one's last submission: bob's is no longer his fastest
    assert {e.owner: e.values["runtime"] for e in stored} == {people["ann"].name: 5, people["bob"].name: 4,
                                                             people["cat"].name: 1}
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": "all"}, expect=200)
    monkeypatch.setattr(ranking, "above", len(HISTORY))
    api(creator, "PATCH", f"/phases/{phase_id}", json={"submission_rule": "best"}, expect=200)
    assert _rebuilds(service, admin) == {**after, "thread": after["thread"] + 2}
    stored, full = _stored_and_full(service, phase_id)
    assert stored == full and len(stored) == 3


@pytest.mark.one_backend  # the child process is PostgreSQL's
def test_the_child_ranks_committed_rows_by_the_definition_it_is_given(world, service, db_url) -> None:
    """The child's entry point, run here against the database: it reads what is committed, and
    ranks by the definition passed to it (the caller's transaction may not have committed it)."""
    from podium.server.leaderboards.ranking import RankedEntry
    from podium.server.leaderboards.ranking_process import RankingRequest, rank_committed
    from podium.server.leaderboards.store import column_specs
    from podium.server.orm import Phase

    comp, phase_id, people, scored = world
    for who, accuracy, runtime in HISTORY:
        scored(who, accuracy=accuracy, runtime=runtime)
    stored, full = _stored_and_full(service, phase_id)  # ranked by accuracy, as committed
    with service.app.session_factory() as session:
        columns = tuple(column_specs(session.get(Phase, phase_id).leaderboard))
    result = rank_committed(RankingRequest(db_url, phase_id, columns, "best", None))
    assert result.child_pid == os.getpid() and result.submissions == len(HISTORY)
    assert [RankedEntry(*e) for e in result.entries] == stored == full
    by_runtime = rank_committed(RankingRequest(db_url, phase_id, columns, "best", "runtime"))
    assert [e[2] for e in by_runtime.entries] == [people[n].name for n in ("cat", "bob", "ann")]


@contextmanager
def _scores_locked(db_url: str) -> Iterator[Callable[[threading.Thread], int]]:
    """The scores table locked until the block ends, so a child's read waits; yields a function
    that returns the pid of a ranking child once one waits for that lock (while ``thread``,
    which started the rebuild, is alive)."""
    import re

    import sqlalchemy as sa
    from podium.server.leaderboards.ranking_process import APPLICATION_NAME

    engine = sa.create_engine(db_url)

    def waiting_child(thread: threading.Thread) -> int:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and thread.is_alive():
            waiting = watcher.execute(sa.text(  # not the locker: its transaction sees one snapshot of the activity
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE :name "
                "AND wait_event_type = 'Lock'"), {"name": APPLICATION_NAME + " (pid %"}).scalar()
            if waiting is not None:
                return int(re.search(r"pid (\d+)", waiting).group(1))
            time.sleep(0.1)
        raise AssertionError("no ranking child waited for the scores")

    try:
        with engine.connect() as locker, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            locker.execute(sa.text("LOCK TABLE scores IN ACCESS EXCLUSIVE MODE"))
            yield waiting_child
    finally:
        engine.dispose()


@pytest.mark.one_backend  # the child process is PostgreSQL's
@pytest.mark.in_process
def test_a_child_that_dies_leaves_the_rebuild_to_the_thread(api, creator, users, world, service, db_url,
                                                            monkeypatch) -> None:
    """A child killed while it reads has written nothing: the request ranks in its thread
    instead and stores the full ranking, the failure is counted, and the next rebuild starts a
    new child."""
    comp, phase_id, people, scored = world
    for who, accuracy, runtime in HISTORY:
        scored(who, accuracy=accuracy, runtime=runtime)
    ranking = service.app.ranking_process
    monkeypatch.setattr(ranking, "above", 1)
    admin = users.make("admin", admin=True)
    lb_id = comp["leaderboards"][0]["id"]
    failures, before = ranking.failures, _rebuilds(service, admin)
    answered: dict[str, int] = {}
    put = threading.Thread(target=lambda: answered.update(status=api(
        creator, "PUT", f"/leaderboards/{lb_id}", json=BY_RUNTIME, expect=200).status_code))
    with _scores_locked(db_url) as waiting_child:
        put.start()
        killed = waiting_child(put)
        os.kill(killed, signal.SIGKILL)
    put.join(120)  # the lock went with the block; the request's thread read the scores itself
    assert answered == {"status": 200}
    assert ranking.failures == failures + 1
    assert _rebuilds(service, admin) == {**before, "thread": before["thread"] + 1}
    stored, full = _stored_and_full(service, phase_id)
    assert stored == full and [e.owner for e in stored] == [people[n].name for n in ("cat", "bob", "ann")]
    api(creator, "PUT", f"/leaderboards/{lb_id}", json=BOARD, expect=200)
    assert _rebuilds(service, admin)["process"] == before["process"] + 1
    assert ranking.last_child_pid not in (None, killed)
    assert _stored_and_full(service, phase_id)[0][0].owner == people["ann"].name


@pytest.mark.one_backend  # the child process is PostgreSQL's
def test_a_rebuild_waiting_for_its_child_when_the_service_stops_saves_nothing(world, service, db_url) -> None:
    """Stopping ends the children: a rebuild that waited for one raises RebuildInterrupted (its
    request answers 503 and its transaction rolls back) instead of ranking in a thread that is
    about to stop, and a stopped ranking process starts no child."""
    from podium.server.errors import RebuildInterrupted
    from podium.server.leaderboards.ranking_process import RankingProcess
    from podium.server.leaderboards.store import column_specs
    from podium.server.orm import Phase

    comp, phase_id, people, scored = world
    for who, accuracy, runtime in HISTORY:
        scored(who, accuracy=accuracy, runtime=runtime)
    process = RankingProcess(above=1)
    raised: list[BaseException] = []

    def rank() -> None:
        with service.app.session_factory() as session:
            columns = column_specs(session.get(Phase, phase_id).leaderboard)
            try:
                process.rank(session, phase_id, columns, "best", None, rows_unchanged=True)
            except RebuildInterrupted as e:
                raised.append(e)

    ranking = threading.Thread(target=rank)
    with _scores_locked(db_url) as waiting_child:
        ranking.start()
        child = waiting_child(ranking)
        process.stop()
        ranking.join(60)
    assert len(raised) == 1 and raised[0].status_code == 503
    assert process.counts == {"process": 0, "thread": 0} and process.failures == 0
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:  # the child is gone (reaped)
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child}")
    with service.app.session_factory() as session, pytest.raises(RebuildInterrupted):
        process.rank(session, phase_id, [], "best", None, rows_unchanged=True)


def test_scores_must_be_finite_numbers_where_written(api, world, service) -> None:
    """As Codabench stores scores: a column not written stays missing (issue 14), a written one
    must be a finite number."""
    from podium.server.errors import ValidationFailed

    comp, phase_id, people, _ = world
    with service.app.session_factory() as session:
        sub = Submission(phase_id=phase_id, owner=people["ann"].name, status=SubmissionStatus.submitted)
        session.add(sub)
        session.flush()
        with pytest.raises(ValidationFailed) as e:
            domain.finish(session, sub, {"accuracy": float("nan"), "runtime": "fast"})
        assert {p["location"] for p in e.value.extra["errors"]} == {"accuracy", "runtime"}
        session.rollback()


def test_intervals_must_be_ordered_finite_pairs(api, world, service) -> None:
    """What a worker reports as an interval is checked like a score; one for a column that is
    not stored is ignored like its score."""
    from podium.server.errors import ValidationFailed

    comp, phase_id, people, scored = world
    with service.app.session_factory() as session:
        sub = Submission(phase_id=phase_id, owner=people["ann"].name, status=SubmissionStatus.submitted)
        session.add(sub)
        session.flush()
        with pytest.raises(ValidationFailed) as e:
            domain.finish(session, sub, {"accuracy": 0.5, "runtime": 1.0},
                          {"accuracy": [0.6, 0.4], "runtime": [float("-inf"), 2.0], "nope": [1, 0]})
        assert {p["location"] for p in e.value.extra["errors"]} == {"accuracy interval", "runtime interval"}
        session.rollback()


def test_intervals_and_ties_with_the_leader_on_every_page(api, creator, world) -> None:
    comp, phase_id, people, scored = world
    plain = board(api, people["ann"], phase_id)
    scored("ann", accuracy=0.9, runtime=1.0, intervals={"accuracy": [0.85, 0.95]})
    scored("bob", accuracy=0.88, runtime=1.0, intervals={"accuracy": [0.84, 0.92], "runtime": [0.5, 1.5]})
    scored("cat", accuracy=0.5, runtime=1.0, intervals={"accuracy": [0.40, 0.60]})
    assert "tied_on" not in plain  # a board without intervals looks as it always did
    page = board(api, people["cat"], phase_id)
    assert page["tied_on"] == "accuracy" and page["confidence_level"] == 0.95
    got = {e["owner"]: (e["intervals"], e["interval_display"], e["tied_with_leader"]) for e in page["entries"]}
    assert got[people["ann"].name] == ({"accuracy": [0.85, 0.95]}, {"accuracy": "[0.850, 0.950]"}, False)
    assert got[people["bob"].name] == ({"accuracy": [0.84, 0.92], "runtime": [0.5, 1.5]},
                                       {"accuracy": "[0.840, 0.920]", "runtime": "[0.5, 1.5]"}, True)
    assert got[people["cat"].name][2] is False
    # a later page is judged against the leader too, though the leader is not on it
    second = board(api, people["cat"], phase_id, limit=1, offset=1)
    assert [e["tied_with_leader"] for e in second["entries"]] == [True]
    rows = list(csv.reader(io.StringIO(api(creator, "GET", f"/phases/{phase_id}/leaderboard", params={"format": "csv"}, expect=200).text)))
    assert rows[0][4:] == ["Accuracy", "Accuracy low", "Accuracy high", "Runtime", "Runtime low", "Runtime high",
                           "Secret", "tied with leader"]  # the organizer's export has the hidden column
    assert rows[2][4:] == ["0.880", "0.84", "0.92", "1.0", "0.5", "1.5", "1", "True"]
    assert rows[1][-5:] == ["1.0", "", "", "1", "False"]


def test_pagination_and_csv(api, creator, world) -> None:
    comp, phase_id, people, scored = world
    for i, who in enumerate(("ann", "bob", "cat")):
        scored(who, accuracy=0.1 * (i + 1), runtime=1)
    page = board(api, creator, phase_id, limit=1, offset=1)
    assert page["total"] == 3 and len(page["entries"]) == 1 and page["entries"][0]["rank"] == 2
    r = api(creator, "GET", f"/phases/{phase_id}/leaderboard", params={"format": "csv"}, expect=200)
    assert r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["rank", "participant", "submission", "submitted_at", "Accuracy", "Runtime", "Secret"]
    assert [row[1] for row in rows[1:]] == [people[n].name for n in ("cat", "bob", "ann")]
    assert rows[1][4] == "0.300"
    api(creator, "GET", f"/phases/{phase_id}/leaderboard", params={"limit": 0}, expect=400)


def test_visibility(api, creator, users, world) -> None:
    comp, phase_id, people, scored = world
    stranger = users.make("stranger")
    board(api, stranger, phase_id)  # public: anyone who sees the competition
    api(creator, "PATCH", f"/phases/{phase_id}", json={"leaderboard_visibility": "participants"}, expect=200)
    api(stranger, "GET", f"/phases/{phase_id}/leaderboard", expect=403)
    board(api, people["ann"], phase_id)
    api(creator, "PATCH", f"/phases/{phase_id}", json={"leaderboard_visibility": "private"}, expect=200)
    api(people["ann"], "GET", f"/phases/{phase_id}/leaderboard", expect=403)
    board(api, creator, phase_id)


def test_cached_pages_follow_every_change_of_the_ranking(api, creator, world, service) -> None:
    """Pages are cached per leaderboard version: a read after any rebuild (a new score, a column
    change, even a rebuild to identical rows, where SQLite would reuse the row ids) is fresh."""
    from podium.server.orm import Phase

    comp, phase_id, people, scored = world
    scored("ann", accuracy=0.5, runtime=2)
    before = board(api, people["bob"], phase_id)
    assert board(api, people["bob"], phase_id) == before  # served again, unchanged
    with service.app.session_factory() as session:
        version = session.get(Phase, phase_id).leaderboard_version
    bob = scored("bob", accuracy=0.9, runtime=1)
    after = board(api, people["bob"], phase_id)
    assert [e["submission"] for e in after["entries"]][0] == bob
    with service.app.session_factory() as session:
        assert session.get(Phase, phase_id).leaderboard_version > version
    # a column's new precision and title show at once
    lb_id = next(b["id"] for b in api(creator, "GET", f"/competitions/{comp['id']}/leaderboards",
                                      expect=200).json()["leaderboards"])
    changed = {**BOARD, "columns": [{**BOARD["columns"][0], "precision": 1, "title": "Acc"}, *BOARD["columns"][1:]]}
    api(creator, "PUT", f"/leaderboards/{lb_id}", json=changed, expect=200)
    page = board(api, people["bob"], phase_id)
    assert page["entries"][0]["display"]["accuracy"] == "0.9"
    assert page["columns"][0]["title"] == "Acc"
    # the caller's own name is added per request, never stored in the shared page
    assert board(api, people["ann"], phase_id)["me"] == people["ann"].name


@pytest.mark.in_process
def test_a_cached_page_costs_no_statement_and_access_changes_apply_at_once(api, creator, users, world,
                                                                          service, clock) -> None:
    """The fast path (bench B2): once a page is built and its reader's access read, a read runs
    no statement at all (answered from memory on the event loop); yet every change of who may see
    it, or of what the page shows besides the ranking (the fact sheet's leaderboard questions),
    applies at once."""
    import sqlalchemy as sa

    comp, phase_id, people, scored = world
    scored("ann", accuracy=0.5, runtime=2)
    first = board(api, people["bob"], phase_id)
    clock.set(utcnow())  # pauses the service's timers: a sweep or a reaper pass would count too
    statements = {"orm": 0, "read": 0}

    def counter(name):
        def count(*_args) -> None:
            statements[name] += 1
        return count

    listeners = [(service.app.engine, counter("orm")), (service.app.reads.engine, counter("read"))]
    for engine, listener in listeners:
        sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        assert board(api, people["bob"], phase_id) == first
    finally:
        for engine, listener in listeners:
            sa.event.remove(engine, "before_cursor_execute", listener)
    assert statements == {"orm": 0, "read": 0}

    # who may see it is decided per request, never cached with the page
    api(creator, "PATCH", f"/phases/{phase_id}", json={"leaderboard_visibility": "participants"}, expect=200)
    board(api, people["bob"], phase_id)
    api(creator, "POST", f"/competitions/{comp['id']}/participants/{people['bob'].name}/deny", expect=200)
    api(people["bob"], "GET", f"/phases/{phase_id}/leaderboard", expect=403)
    api(users.make("outsider"), "GET", f"/phases/{phase_id}/leaderboard", expect=403)
    api(people["ann"], "GET", "/phases/999999/leaderboard", expect=404)
    # a fact-sheet question shown on the leaderboard appears as a column at once
    question = {"type": "text", "title": "Approach", "is_on_leaderboard": True}
    api(creator, "PATCH", f"/competitions/{comp['id']}", json={"fact_sheet": {"approach": question}}, expect=200)
    assert board(api, people["ann"], phase_id)["fact_columns"] == [{"key": "approach", "title": "Approach"}]


@pytest.mark.one_backend  # SQLite serves one process: only its own commits change what it remembers
def test_a_commit_by_another_process_shows_at_the_next_read(api, creator, users, world, service,
                                                             db_backend, db_url) -> None:
    """What a process remembers for the fast path follows the others' commits (PostgreSQL
    LISTEN/NOTIFY from the tables' triggers): a score, a registration denied and a visibility
    changed by another "replica" (an engine of its own, as another process has) show at the
    very next read, with no wait between the commit and the read."""
    import sqlalchemy as sa
    from podium.server.db import make_engine
    from podium.server.orm import Participant, ParticipantStatus, Phase

    comp, phase_id, people, scored = world
    scored("ann", accuracy=0.5, runtime=2)
    assert board(api, people["bob"], phase_id)["entries"][0]["owner"] == people["ann"].name
    assert service.app.changes.live
    other = make_engine(db_url)
    try:
        with sa.orm.Session(other) as session:
            sub = Submission(phase_id=phase_id, owner=people["bob"].name, status=SubmissionStatus.submitted,
                             created_at=utcnow())
            session.add(sub)
            session.flush()
            sub_id = sub.id
            domain.finish(session, sub, {"secret": 1.0, "accuracy": 0.9, "runtime": 1.0})
            session.commit()
        assert [e["submission"] for e in board(api, people["cat"], phase_id)["entries"]][0] == sub_id
        with other.begin() as conn:
            conn.execute(sa.update(Phase).where(Phase.id == phase_id).values(leaderboard_visibility="participants"))
            conn.execute(sa.update(Participant).where(Participant.competition_id == comp["id"],
                                                      Participant.username == people["cat"].name)
                         .values(status=ParticipantStatus.denied))
        api(people["cat"], "GET", f"/phases/{phase_id}/leaderboard", expect=403)
    finally:
        other.dispose()


@pytest.mark.in_process  # its slow route is added to the service thread's own application
def test_a_slow_database_operation_does_not_delay_other_requests(api, world, service) -> None:
    """A request whose database work takes long (here a statement that sleeps, standing in for a
    CSV export or a 1,000,000-row rebuild) holds one thread of the database pool, not the event
    loop: reads sent while it runs are answered before it ends."""
    import threading
    import time

    import sqlalchemy as sa
    from podium.server.apihandlers.base import APIHandler
    from podium.server.apihandlers.base import api as verb
    from podium.server.apihandlers.input_limits import path_id
    from tornado.routing import PathMatches, Rule

    comp, phase_id, people, scored = world
    scored("ann", accuracy=0.5, runtime=2)
    sleep = "SELECT pg_sleep(3)" if service.app.engine.dialect.name == "postgresql" else None

    class SlowHandler(APIHandler):
        @verb("Sleep in the database, then read the phase.", requires="user")
        async def get(self, seconds: str) -> None:
            if sleep:
                self.db.execute(sa.text(sleep))
            else:  # SQLite: a statement that sleeps as long, whatever the host's speed (a query
                # made to take long finished before the other requests on a fast host)
                self.db.connection().connection.driver_connection.create_function("test_sleep", 1, time.sleep)
                self.db.execute(sa.text("SELECT test_sleep(3)"))
            self.write_json({"slept": path_id(seconds)})

    rules = service.app.tornado_app.wildcard_router.rules  # before the API's catch-all 404
    rule = Rule(PathMatches(r"/services/podium/api/v1/test-slow/(?P<seconds>\d+)"), SlowHandler)
    rules.insert(0, rule)
    finished: dict[str, float] = {}

    def slow() -> None:
        api(people["ann"], "GET", "/test-slow/3", expect=200)
        finished["slow"] = time.monotonic()

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)  # the slow request is in its statement
    answered = []
    for user in people.values():
        board(api, user, phase_id)  # some cached, some through the pool
        api(user, "GET", f"/competitions/{comp['id']}", expect=200)
        answered.append(time.monotonic())
    thread.join(60)
    rules.remove(rule)
    assert "slow" in finished, "the slow request did not finish"
    assert max(answered) < finished["slow"], "the other requests waited for the slow one"
    assert service.app.loop_guard.on_loop == 0


def test_page_cache_is_bounded_least_recently_used_out() -> None:
    from podium.server.leaderboards.store import PageCache

    cache = PageCache(size=2)
    cache.put(("a",), '{"n": 1}')
    cache.put(("b",), '{"n": 2}')
    assert cache.get(("a",)) == '{"n": 1}'  # a is now the most recently used
    cache.put(("c",), '{"n": 3}')
    assert cache.get(("b",)) is None and cache.get(("a",)) == '{"n": 1}' and cache.get(("c",)) == '{"n": 3}'
