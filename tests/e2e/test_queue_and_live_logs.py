"""A waiting submission's place in its queue and its estimated start, and the live log of a
running one, against the real service and a real Docker worker on a queue of this module's own:
first with no worker at all, then with the worker busy and two submissions queued behind it;
then a submission that prints for 20 s, read before it ends (API, ``podium logs --follow``)."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from conftest import (
    TERMINAL,
    WorkerProcess,
    competition_body,
    submit,
    unique_slug,
    upload_dataset,
    wait_for,
)
from helpers import programs
from podium.widgets import Competition, PodiumClient
from podium.widgets.display import parse_time, utcnow
from test_participant_cli import PODIUM, Terminal

pytestmark = pytest.mark.one_backend  # the queue and the worker are what is tested, not the database


def model(seconds: int, chatter: str = "") -> bytes:
    """Participant code the ingestion program imports: prints a tick a second for ``seconds``."""
    return programs.code_submission(f"""
        import time
        {chatter}
        for i in range({seconds}):
            print("tick", i, flush=True)
            time.sleep(1)
        def predict(x):
            return {{"1": "a", "2": "b", "3": "c", "4": "d"}}[x]
    """)


@pytest.fixture(scope="module")
def queue(api, users) -> tuple[str, str]:
    admin = users.make("qadmin", admin=True)
    name = f"q-{uuid.uuid4().hex[:6]}"
    created = api(admin, "POST", "/queues", json={"name": name}, expect=201).json()
    api(admin, "PUT", f"/queues/{name}/shares/groups/creators", expect=200)  # the test organizers' group
    return name, created["token"]


@pytest.fixture(scope="module")
def setup(api, creator, users, queue, service):
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, creator, "scoring_program", "scoring.zip", programs.V2_SCORING),
            "reference_data": upload_dataset(api, creator, "reference_data", "ref.zip", programs.REFERENCE),
            "ingestion_program": upload_dataset(api, creator, "ingestion_program", "ingestion.zip",
                                                programs.V2_INGESTION),
            "input_data": upload_dataset(api, creator, "input_data", "input.zip", programs.INPUT_DATA)}
    body = competition_body(unique_slug("queue"), tasks=[task], docker_image="python:3", queue=queue[0])
    body["phases"][0].update(max_submissions_per_day=0, max_submissions=0, execution_time_limit=90)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    participant = users.make("queued")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return comp, comp["phases"][0]["id"], participant


@pytest.fixture(scope="module")
def queue_worker(service, runtime_images, queue, tmp_path_factory):
    process = WorkerProcess(service, tmp_path_factory.mktemp("queue-worker"), token=queue[1])
    try:
        yield process
    finally:
        process.stop()


def test_queue_place_and_estimate_with_no_worker_then_a_busy_one(api, setup, queue, queue_worker, service,
                                                                  tmp_path) -> None:
    comp, phase_id, user = setup
    shell = Terminal(tmp_path, JUPYTERHUB_API_TOKEN=user.token, PODIUM_URL=service.url)

    first = submit(api, user, phase_id, model(0))
    waiting = api(user, "GET", f"/submissions/{first}", expect=200).json()["queue"]
    assert waiting == {"name": queue[0], "position": 1, "waiting": 1, "running": 0, "workers": 0,
                       "typical_run_seconds": None, "estimated_start": None, "estimated_finish": None,
                       "message": "no worker is serving this queue"}
    assert (f"1st of 1 waiting in queue '{queue[0]}'; no worker is serving this queue"
            in shell.run("status", str(first)).stdout)

    queue_worker.start()
    done = wait_for(api, user, first)
    assert done["status"] == "finished" and "queue" not in done, done

    busy = submit(api, user, phase_id, model(25))
    wait_for(api, user, busy, statuses={"running"} | TERMINAL)
    second, third = submit(api, user, phase_id, model(0)), submit(api, user, phase_id, model(0))
    now = utcnow()
    a = api(user, "GET", f"/submissions/{second}", expect=200).json()["queue"]
    b = api(user, "GET", f"/submissions/{third}", expect=200).json()["queue"]
    assert api(user, "GET", f"/submissions/{busy}", expect=200).json()["status"] == "running"
    assert (a["position"], a["waiting"], a["running"], a["workers"]) == (1, 2, 1, 1), a
    assert (b["position"], b["waiting"], b["running"], b["workers"]) == (2, 2, 1, 1), b
    assert a["typical_run_seconds"] > 0 and a["message"] is None
    start_a, start_b = parse_time(a["estimated_start"]), parse_time(b["estimated_start"])
    assert now <= start_a < start_b < parse_time(b["estimated_finish"])
    # the third waits for the busy one and then for the second's whole run
    assert (start_b - start_a).total_seconds() == pytest.approx(a["typical_run_seconds"], abs=1)

    status = shell.run("status", str(third)).stdout
    assert f"Queue:       2nd of 2 waiting in queue '{queue[0]}'; starts in about" in status, status
    widget = Competition(comp["slug"], PodiumClient(service.url, user.token), download_dir=tmp_path / "w")
    widget._on_update(widget.client.submission(third))
    assert widget.status_label.value.startswith(f"submitted: 2nd of 2 waiting in queue '{queue[0]}'; starts in")

    for sid in (busy, second, third):
        api(user, "POST", f"/submissions/{sid}/cancel", expect=200)


def test_the_live_log_of_a_running_submission(api, setup, queue_worker, service, tmp_path) -> None:
    comp, phase_id, user = setup
    if queue_worker.proc is None:
        queue_worker.start()
    flood = 'print("x" * 20000, flush=True)'  # more than a heartbeat carries: only the tail arrives
    sid = submit(api, user, phase_id, model(20, chatter=flood))
    shell = Terminal(tmp_path, JUPYTERHUB_API_TOKEN=user.token, PODIUM_URL=service.url)
    follower = subprocess.Popen([str(PODIUM), "logs", str(sid), "--follow", "--interval", "0.5"], env=shell.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        seen = None
        while time.monotonic() < deadline:
            log = api(user, "GET", f"/submissions/{sid}/log", expect=200).json()
            if log["live"] and "tick 3" in log["text"]:
                seen = log
                break
            assert log["status"] not in TERMINAL, log
            time.sleep(0.5)
        assert seen is not None, "no live output within 120 s"
        assert seen["step"] == "predict" and len(seen["text"]) <= 8000
        assert programs.SECRET not in seen["text"]
        detail = api(user, "GET", f"/submissions/{sid}", expect=200).json()
        assert detail["status"] == "running" and "tick" in detail["live_log"]
        assert "tick 19" not in detail["live_log"]  # read before the code ends
        widget = Competition(comp["slug"], PodiumClient(service.url, user.token), download_dir=tmp_path / "w")
        widget._on_update(detail)
        assert "tick" in widget.log_html.value and "x" * 100 in widget.log_html.value

        line = follower.stdout.readline()
        while line and "tick" not in line:
            line = follower.stdout.readline()
        assert line.startswith("tick"), line
        assert api(user, "GET", f"/submissions/{sid}", expect=200).json()["status"] == "running"
        out, err = follower.communicate(timeout=180)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert "tick 19" in out and f"Submission {sid}: finished" in err
    final = wait_for(api, user, sid)
    assert final["status"] == "finished" and "live_log" not in final
    after = api(user, "GET", f"/submissions/{sid}/log", expect=200).json()
    assert after["live"] is False and after["text"] == final["log_tail"]
