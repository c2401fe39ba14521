"""A real worker that cannot work says so instead of failing participants: with its disk below
its free-space floor, or its Docker engine gone, it claims nothing, keeps reporting why (in the
queue API and ``/metrics``), and the waiting submission is scored by a healthy worker, or by the
same worker once its engine is back, without a failed attempt and costing one quota slot: its own."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import WorkerProcess, make_pipeline_competition, submit, wait_for
from helpers import programs
from helpers.engine_door import EngineDoor
from helpers.metrics import scrape, value
from helpers.web_session import create_queue
from podium.server.orm import Attempt, Worker
from podium.worker.readiness import ENGINE_DOWN

pytestmark = pytest.mark.one_backend


def pipeline(api, creator, users, queue: str):
    return make_pipeline_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                     ingestion=programs.V2_INGESTION, input_data=programs.INPUT_DATA, queue=queue)


def reported(api, admin, queue: str, worker: WorkerProcess, timeout: float = 60) -> str | None:
    """The worker's ``cannot_work`` once the service has heard from it (it reports every 2 s here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = api(admin, "GET", f"/queues/{queue}", expect=200).json()["workers"]
        mine = next((w for w in workers if w["name"] == worker.name), None)
        if mine is not None:
            return mine["cannot_work"]
        time.sleep(0.5)
    raise AssertionError(f"{worker.name} never reported: {worker.log.read_text()[-3000:]}")


def wait_reported(api, admin, queue: str, worker: WorkerProcess, expected, timeout: float = 60) -> str | None:
    deadline = time.monotonic() + timeout
    while (got := reported(api, admin, queue, worker)) != expected and not (
            callable(expected) and expected(got)):
        assert time.monotonic() < deadline, (got, worker.log.read_text()[-3000:])
        time.sleep(0.5)
    return got


def attempts_of(service, sid: int) -> list[tuple[str, str | None]]:
    """(state, worker name) of every attempt of the submission."""
    with service.app.session_factory() as session:
        rows = session.execute(sa.select(Attempt.state, Worker.name).outerjoin(Worker, Worker.id == Attempt.worker_id)
                               .where(Attempt.submission_id == sid).order_by(Attempt.id)).all()
    return [(state.value, name) for state, name in rows]


def used_quota(api, user, phase_id: int) -> int:
    me = api(user, "GET", "/me", expect=200).json()
    return next(p["quota"]["used_total"] for c in me["competitions"] for p in c["phases"] if p["id"] == phase_id)


def still_waiting(api, service, user, sid: int) -> None:
    """The submission neither failed nor was claimed by the worker that cannot work."""
    sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
    assert sub["status"] == "submitted", sub
    assert all(state == "queued" for state, _ in attempts_of(service, sid)), attempts_of(service, sid)


def test_a_worker_with_a_full_disk_reports_it_and_a_healthy_worker_scores_the_submission(
        api, service, creator, users, runtime_images, tmp_path: Path) -> None:
    queue = create_queue(api, users)
    admin = users.make("diskadmin", admin=True)
    phase_id, user = pipeline(api, creator, users, queue["name"])
    # a floor no disk has room for: the worker is "full" from its first look
    sick = WorkerProcess(service, tmp_path / "sick", token=queue["token"], extra_args=("--min-free-mb", str(10**9)))
    healthy = WorkerProcess(service, tmp_path / "healthy", token=queue["token"])
    sick.start()
    try:
        reason = wait_reported(api, admin, queue["name"], sick, lambda got: bool(got))
        assert "less than the 1000000000 MB this worker keeps free (--min-free-mb)" in reason
        samples = scrape(service, admin.headers)
        assert value(samples, "podium_worker_cannot_work", queue=queue["name"], worker=sick.name,
                     reason=reason[:200]) == 1

        sid = submit(api, user, phase_id, programs.GOOD_MODEL)
        time.sleep(6)  # the sick worker keeps reporting and leaves the job in the broker
        still_waiting(api, service, user, sid)
        assert "(--min-free-mb)" in reported(api, admin, queue["name"], sick)  # still saying so

        healthy.start()
        sub = wait_for(api, user, sid, timeout=180)
        assert sub["status"] == "finished" and sub["scores"], (sub, healthy.log.read_text()[-3000:])
        ran = attempts_of(service, sid)
        assert ran and all(state == "succeeded" and name == healthy.name for state, name in ran), ran
        assert used_quota(api, user, phase_id) == 1
        assert "taking no job: " in sick.log.read_text()
        assert reported(api, admin, queue["name"], healthy) is None
    finally:
        healthy.stop()
        sick.stop()


def test_a_worker_whose_engine_goes_away_waits_for_it_and_then_scores_the_submission(
        api, service, creator, users, runtime_images, tmp_path: Path) -> None:
    queue = create_queue(api, users)
    admin = users.make("engineadmin", admin=True)
    phase_id, user = pipeline(api, creator, users, queue["name"])
    short = tempfile.mkdtemp(prefix="door-")  # a Unix socket path must stay short
    door = EngineDoor(f"{short}/docker.sock")
    door.open()
    worker = WorkerProcess(service, tmp_path / "w", token=queue["token"], env={"DOCKER_HOST": door.docker_host})
    try:
        worker.start()
        assert wait_reported(api, admin, queue["name"], worker, None) is None
        door.close()
        assert wait_reported(api, admin, queue["name"], worker, ENGINE_DOWN) == ENGINE_DOWN
        samples = scrape(service, admin.headers)
        assert value(samples, "podium_worker_cannot_work", queue=queue["name"], worker=worker.name,
                     reason=ENGINE_DOWN) == 1

        sid = submit(api, user, phase_id, programs.GOOD_MODEL)
        time.sleep(6)
        still_waiting(api, service, user, sid)

        door.open()
        sub = wait_for(api, user, sid, timeout=180)
        assert sub["status"] == "finished" and sub["scores"], (sub, worker.log.read_text()[-3000:])
        assert all(state == "succeeded" for state, _ in attempts_of(service, sid)), attempts_of(service, sid)
        assert used_quota(api, user, phase_id) == 1
        assert wait_reported(api, admin, queue["name"], worker, None) is None
        log = worker.log.read_text()
        assert f"taking no job: {ENGINE_DOWN}" in log and "taking jobs again" in log
    finally:
        worker.stop()
        door.close()
        shutil.rmtree(short, ignore_errors=True)
