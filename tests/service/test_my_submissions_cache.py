"""``GET /me/submissions`` answered from memory while nothing it lists changes (bench B8), and
fresh at the next read after any change: this process's own writes, another process's commits
(PostgreSQL LISTEN/NOTIFY from the triggers of migration 0022), a teammate's submission, a
membership change. PostgreSQL only: on SQLite nothing is remembered."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from podium.server.clock import utcnow
from podium.server.db import make_engine
from podium.server.orm import Score, Submission, SubmissionStatus

pytestmark = pytest.mark.one_backend

PAYLOAD = b"predictions"


def mine(api, user, **params) -> dict:
    return api(user, "GET", "/me/submissions", params=params, expect=200).json()


def by_id(listing: dict) -> dict[int, dict]:
    return {s["id"]: s for s in listing["submissions"]}


class Statements:
    """Counts the statements the service runs, on both its engines."""

    def __init__(self, service) -> None:
        self.engines = (service.app.engine, service.app.reads.engine)
        self.count = 0

    def _one(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        for engine in self.engines:
            sa.event.listen(engine, "before_cursor_execute", self._one)
        return self

    def __exit__(self, *_exc) -> None:
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self._one)


@pytest.fixture
def course(api, users, make_competition, service, clock):
    """Two registered participants, each with two submissions, one of them scored."""
    clock.set(utcnow())  # the service's timers pause: only the requests' statements count
    comp = make_competition()
    phase_id = comp["phases"][0]["id"]
    people = {name: users.make(name) for name in ("una", "viv")}
    ids: dict[str, list[int]] = {}
    for name, user in people.items():
        api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
        with service.app.session_factory() as session:
            subs = [Submission(phase_id=phase_id, owner=user.name, status=SubmissionStatus.finished,
                               created_at=utcnow() - timedelta(minutes=i), description=f"{name} {i}")
                    for i in range(2)]
            session.add_all(subs)
            session.flush()
            session.add(Score(submission_id=subs[0].id, column_key="accuracy", value=0.5))
            session.commit()
            ids[name] = [s.id for s in subs]
    return comp, phase_id, people, ids


@pytest.mark.in_process
def test_a_remembered_page_costs_no_statement_and_own_writes_show_at_once(api, service, course) -> None:
    comp, phase_id, people, ids = course
    una = people["una"]
    first = mine(api, una)
    assert set(by_id(first)) == set(ids["una"]) and service.app.changes.live
    with Statements(service) as run:
        assert mine(api, una) == first
    assert run.count == 0, "a remembered page ran statements"
    # another participant's page is their own
    assert set(by_id(mine(api, people["viv"]))) == set(ids["viv"])
    # this process's writes: a change through the API, and a new submission
    api(una, "PATCH", f"/submissions/{ids['una'][1]}", json={"is_public": True}, expect=200)
    assert by_id(mine(api, una))[ids["una"][1]]["is_public"] is True
    created = api(una, "POST", f"/phases/{phase_id}/submissions",
                  json={"size": len(PAYLOAD), "sha256": hashlib.sha256(PAYLOAD).hexdigest()}, expect=201).json()
    listing = mine(api, una)
    assert listing["submissions"][0]["id"] == created["id"] and listing["total"] == 3
    # a page of another query (limit, cursor) is a page of its own
    assert [s["id"] for s in mine(api, una, limit=1)["submissions"]] == [created["id"]]


def test_another_process_commits_show_at_the_next_read(api, service, course, db_url) -> None:
    """Commits by another "replica" (an engine of its own): a status, a score, a deletion, and a
    submission of another owner that must not disturb the page, each read right after."""
    comp, phase_id, people, ids = course
    una, viv = people["una"], people["viv"]
    mine(api, una), mine(api, viv)
    other = make_engine(db_url)
    try:
        with other.begin() as conn:
            conn.execute(sa.update(Submission).where(Submission.id == ids["una"][1])
                         .values(status=SubmissionStatus.failed, failure_reason="Time limit"))
        assert by_id(mine(api, una))[ids["una"][1]]["failure_reason"] == "Time limit"
        with other.begin() as conn:
            conn.execute(sa.insert(Score).values(submission_id=ids["una"][1], column_key="accuracy", value=0.25))
        assert by_id(mine(api, una))[ids["una"][1]]["scores"] == {"accuracy": 0.25}
        with other.begin() as conn:
            conn.execute(sa.update(Score).where(Score.submission_id == ids["una"][0]).values(value=0.75))
        assert by_id(mine(api, una))[ids["una"][0]]["scores"] == {"accuracy": 0.75}
        with other.begin() as conn:
            conn.execute(sa.delete(Submission).where(Submission.id == ids["una"][0]))
        assert set(by_id(mine(api, una))) == {ids["una"][1]}
        assert set(by_id(mine(api, viv))) == set(ids["viv"])
    finally:
        other.dispose()


def test_a_teammate_submission_and_a_membership_change_show_at_the_next_read(api, creator, service, course,
                                                                             db_url) -> None:
    comp, phase_id, people, ids = course
    una, viv = people["una"], people["viv"]
    alone = mine(api, una)
    team = api(creator, "POST", f"/competitions/{comp['id']}/teams",
               json={"name": "Blue", "members": [una.name, viv.name]}, expect=201).json()
    # a team made: the members' submissions in the competition become the team's, and each
    # member lists the other's (a bulk UPDATE, whose rows the process cannot name)
    assert set(by_id(mine(api, una))) == set(by_id(alone)) | set(ids["viv"])
    other = make_engine(db_url)
    try:
        with other.begin() as conn:
            team_sub = conn.execute(sa.insert(Submission).returning(Submission.id).values(
                phase_id=phase_id, owner=viv.name, team_id=team["id"], status=SubmissionStatus.submitted,
                created_at=utcnow(), description="for the team", log_tail="", fact_sheet_answers={},
                is_public=False, selected=False, counts_toward_quota=True, is_dry_run=False)).scalar_one()
        assert team_sub in by_id(mine(api, una)), "a teammate's new submission is missing from my list"
        api(creator, "DELETE", f"/competitions/{comp['id']}/teams/{team['id']}/members/{una.name}", expect=200)
        assert team_sub not in by_id(mine(api, una)), "a team's submission is listed after leaving it"
    finally:
        other.dispose()
