"""Several service processes and replicas on one PostgreSQL database, one broker vhost and one
storage directory, as a site behind a load balancer runs them: replica A is `podium service
--processes 2`, replica B another `podium service` on its own port; two real workers (the local
executor: containers are not what is tested here) take the jobs. Under concurrent submit, score
and read traffic spread over both replicas: every submission is scored once, quotas are exact,
every leaderboard read after a score commit shows that score; moving the services' clock (the
clock file they all read) makes lapsed attempts reaped once and a due phase migrated once.

The tests of this module run in order, on one platform."""

from __future__ import annotations

import functools
import hashlib
import itertools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import (
    Api,
    WorkerProcess,
    competition_body,
    create_pg_database,
    drop_pg_database,
    free_port,
    unique_slug,
    upload_dataset,
    wait_for,
)
from helpers import programs, waiting
from helpers.service_commands import FileClock, ServiceCommand, alive
from helpers.web_session import create_queue
from helpers.worker_over_http import claim
from podium.server import db
from podium.server.clock import utcnow
from podium.server.orm import Attempt, AttemptState, Phase, Score, Submission

# the score is the number the submission holds, so each read can look for its own
NUMBER_SCORER = programs.make_zip({
    "metadata": "command: python $program/score.py $input $output\n",
    "score.py": "import os, sys\n"
                "value = float(open(os.path.join(sys.argv[1], 'res', 'predictions.txt')).read())\n"
                "open(os.path.join(sys.argv[2], 'scores.txt'), 'w').write('accuracy: %s\\n' % value)\n",
})
PARTICIPANTS = 4
LAPSED = 8
ROUNDS = 2


class Platform:
    """Both replicas, their workers, the database behind them and the clock they read."""

    def __init__(self, a: ServiceCommand, b: ServiceCommand, clock: FileClock, engine: sa.Engine) -> None:
        self.a, self.b, self.clock, self.engine = a, b, clock, engine
        self.apis = [Api(a), Api(b)]
        for api in self.apis:
            api.fresh_connections = True  # each request may reach either of replica A's processes
        self.state: dict = {}

    def api(self, i: int) -> Api:
        return self.apis[i % 2]


@pytest.fixture(scope="module")
def platform(hub, broker_url, tmp_path_factory):
    url = create_pg_database()
    db.upgrade(url)
    root = tmp_path_factory.mktemp("replicas")
    clock = FileClock(root / "clock")
    shared = dict(hub=hub, db_url=url, broker_url=broker_url, storage_root=root / "storage", clock_file=clock.path)
    a = ServiceCommand("replica-a", port=free_port(), data_dir=root / "a", processes=2, **shared)
    b = ServiceCommand("replica-b", port=free_port(), data_dir=root / "b", processes=1, **shared)
    engine = sa.create_engine(url)
    started: list = []
    try:
        for replica in (a, b):
            started.append(replica.start())
        local = ("--executor", "local", "--allow-unsafe-local-executor")
        for replica in (a, b):
            worker = WorkerProcess(replica, root / f"worker-{replica.name}", extra_args=local)
            worker.start()
            started.append(worker)
        yield Platform(a, b, clock, engine)
    finally:
        for part in reversed(started):
            part.stop()
        engine.dispose()
        drop_pg_database(url)


def announce(data: bytes) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def submit_on(api: Api, user, phase_id: int, data: bytes) -> int:
    created = api(user, "POST", f"/phases/{phase_id}/submissions", json=announce(data), expect=201).json()
    api.upload(created["upload_url"], data)
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    return created["id"]


def test_replica_a_serves_from_two_processes(platform) -> None:
    assert len(platform.a.children()) == 2
    assert platform.b.children() == []


def test_concurrent_traffic_scores_once_and_reads_see_every_score(platform, users, creator) -> None:
    first = platform.apis[0]
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(first, creator, "scoring_program", "n.zip", NUMBER_SCORER),
            "reference_data": upload_dataset(platform.apis[1], creator, "reference_data", "r.zip", programs.REFERENCE)}
    start = utcnow().replace(microsecond=0) - timedelta(days=1)
    final_start = utcnow().replace(microsecond=0) + timedelta(hours=2)
    phases = [
        {"name": "Development", "start": start.isoformat() + "Z", "end": final_start.isoformat() + "Z",
         "tasks": ["main"], "leaderboard": "main", "max_submissions_per_day": 0, "max_submissions": 0},
        {"name": "Final", "start": final_start.isoformat() + "Z", "tasks": ["main"], "leaderboard": "main",
         "auto_migrate": True},
    ]
    boards = [{"key": "main", "title": "Results", "columns": [{"key": "accuracy", "sorting": "desc", "precision": 4}]}]
    body = competition_body(unique_slug("replicas"), tasks=[task], phases=phases, leaderboards=boards)
    comp = first(creator, "POST", "/competitions", json=body, expect=201).json()
    first(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    dev, final = (p["id"] for p in comp["phases"])
    people = [users.make("replica") for _ in range(PARTICIPANTS)]
    for i, person in enumerate(people):
        platform.api(i)(person, "POST", f"/competitions/{comp['id']}/register", expect=200)

    # a phase whose quota concurrent creates on both replicas must not overrun
    quota_body = competition_body(unique_slug("quota"))
    quota_body["phases"][0].update(max_submissions=3, max_submissions_per_day=0)
    quota_comp = first(creator, "POST", "/competitions", json=quota_body, expect=201).json()
    first(creator, "POST", f"/competitions/{quota_comp['id']}/publish", expect=200)
    quota_phase = quota_comp["phases"][0]["id"]
    eager = users.make("eager")
    first(eager, "POST", f"/competitions/{quota_comp['id']}/register", expect=200)

    def participant(i: int) -> list[tuple[int, float]]:
        """Submit ROUNDS times, each better than the last, alternating replicas; after each score
        commit, read the leaderboard on both replicas."""
        done = []
        for k in range(ROUNDS):
            value = round(0.1 * i + 0.01 * (k + 1), 4)
            sid = submit_on(platform.api(i + k), people[i], dev, programs.result_submission(str(value)))
            finished = wait_for(platform.api(i + k + 1), people[i], sid, timeout=240)
            assert finished["status"] == "finished", finished
            for api in platform.apis:
                board = api(people[i], "GET", f"/phases/{dev}/leaderboard", expect=200).json()
                mine = [e for e in board["entries"] if e["owner"] == people[i].name]
                assert [(e["submission"], e["scores"]["accuracy"]) for e in mine] == [(sid, value)], board
            done.append((sid, value))
        return done

    def create(i: int) -> int:
        return platform.api(i)(eager, "POST", f"/phases/{quota_phase}/submissions",
                               json=announce(programs.result_submission("1"))).status_code

    def reader(stop_after: float) -> int:
        reads = 0
        for i in itertools.count():
            if time.monotonic() > stop_after:
                return reads
            platform.api(i)(creator, "GET", f"/phases/{dev}/leaderboard", expect=200)
            reads += 1
        return reads

    with ThreadPoolExecutor(PARTICIPANTS + 10) as pool:
        readers = [pool.submit(reader, time.monotonic() + 20) for _ in range(2)]
        creates = [pool.submit(create, i) for i in range(8)]
        results = [pool.submit(participant, i) for i in range(PARTICIPANTS)]
        rounds = [r.result() for r in results]
        submitted = [item for done in rounds for item in done]
        statuses = Counter(c.result() for c in creates)
        assert all(r.result() > 0 for r in readers)

    assert statuses == {201: 3, 429: 5}, statuses
    for api in platform.apis:
        me = api(eager, "GET", "/me", expect=200).json()
        [quota] = [p["quota"] for c in me["competitions"] for p in c["phases"] if p["id"] == quota_phase]
        assert (quota["used_total"], quota["remaining_total"]) == (3, 0), quota

    with platform.engine.connect() as conn:
        ids = [sid for sid, _ in submitted]
        scores = Counter(conn.scalars(sa.select(Score.submission_id).where(Score.submission_id.in_(ids))))
        assert scores == {sid: 1 for sid in ids}
        attempts = conn.execute(sa.select(Attempt.submission_id, Attempt.step, Attempt.state)
                                .where(Attempt.submission_id.in_(ids))).all()
        assert Counter((s, step) for s, step, _ in attempts) == {(s, step): 1 for s, step, _ in attempts}
        assert {state for _, _, state in attempts} == {AttemptState.succeeded}
    platform.state.update(dev=dev, final=final, final_start=final_start, people=people,
                          best=[done[-1][0] for done in rounds])


#: polls for what the services' timers do (they run every second); the clock is what moved
wait_until = functools.partial(waiting.wait_until, timeout=60, every=0.3)


def test_lapsed_attempts_are_reaped_once(platform, users, creator) -> None:
    queue = create_queue(platform.apis[0], users)  # no worker listens here
    body = competition_body(unique_slug("lapse"), queue=queue["name"])
    body["phases"][0].update(max_submissions=0, max_submissions_per_day=0)
    body["tasks"][0]["scoring_program"] = upload_dataset(platform.apis[0], creator, "scoring_program", "n.zip",
                                                         NUMBER_SCORER)
    comp = platform.apis[1](creator, "POST", "/competitions", json=body, expect=201).json()
    platform.apis[1](creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    person = users.make("lapse")
    platform.apis[0](person, "POST", f"/competitions/{comp['id']}/register", expect=200)
    phase = comp["phases"][0]["id"]
    sids = [submit_on(platform.api(i), person, phase, programs.result_submission("0.5")) for i in range(LAPSED)]
    headers = {"Authorization": f"token {queue['token']}"}
    with platform.engine.connect() as conn:
        queued = dict(conn.execute(sa.select(Attempt.submission_id, Attempt.id)
                                   .where(Attempt.submission_id.in_(sids))).all())
    for i, sid in enumerate(sids):  # claimed on either replica, then never a heartbeat
        claim(platform.api(i), headers, queued[sid], worker="gone")

    platform.clock.set(utcnow() + timedelta(seconds=60))  # every lease (6 s) has lapsed

    def expired() -> int:
        with platform.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(Attempt).where(
                Attempt.id.in_(queued.values()), Attempt.state == AttemptState.expired))

    wait_until(lambda: expired() == len(sids), what="the lapsed attempts expired")
    time.sleep(3)  # three more passes of every process's reaper
    with platform.engine.connect() as conn:
        per_submission = Counter(conn.scalars(sa.select(Attempt.submission_id).where(Attempt.submission_id.in_(sids))))
    assert per_submission == {sid: 2 for sid in sids}  # the lapsed one and one retry, not two


def test_a_due_phase_is_migrated_once_and_its_copies_scored_once(platform) -> None:
    state = platform.state
    assert state, "the traffic test sets up the competition"
    platform.clock.set(state["final_start"] + timedelta(minutes=1))

    def copies() -> list[tuple[int, int]]:
        with platform.engine.connect() as conn:
            return conn.execute(sa.select(Submission.id, Submission.migrated_from_id)
                                .where(Submission.phase_id == state["final"])).all()

    wait_until(lambda: len(copies()) >= PARTICIPANTS, what="the final phase's migration")
    time.sleep(3)  # three more passes of every process's reaper
    made = copies()
    assert sorted(original for _, original in made) == sorted(state["best"])  # each leaderboard entry once
    with platform.engine.connect() as conn:
        assert conn.scalar(sa.select(Phase.migrated_at).where(Phase.id == state["final"])) is not None
    people = {p.name: p for p in state["people"]}
    with platform.engine.connect() as conn:
        owners = dict(conn.execute(sa.select(Submission.id, Submission.owner)
                                   .where(Submission.id.in_([c for c, _ in made]))).all())
    for i, (copy, _) in enumerate(made):
        done = wait_for(platform.api(i), people[owners[copy]], copy, timeout=240)
        assert done["status"] == "finished", done
    with platform.engine.connect() as conn:
        scores = Counter(conn.scalars(sa.select(Score.submission_id).where(Score.submission_id.in_(owners))))
    assert scores == {c: 1 for c in owners}


def test_stopping_the_command_stops_every_process(platform) -> None:
    children = platform.a.children()
    assert len(children) == 2  # none died under the traffic
    platform.a.stop()
    for pid in children:
        assert not alive(pid), f"service process {pid} outlived its command"
