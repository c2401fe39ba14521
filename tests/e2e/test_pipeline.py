"""The compute pipeline end to end: the real service, real RabbitMQ, a real `podium worker`
process and the real Docker engine, with competitions in both CodaLab v1.5 and Codabench v2
style; hostile submissions that must fail with the right reason while the worker keeps serving;
and a worker killed, a broker restarted and a message delivered twice."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from conftest import competition_body, submit, unique_slug, upload_dataset, wait_for
from conftest import make_pipeline_competition as make_competition
from helpers import programs
from podium.server.clock import utcnow
from podium.server.orm import Attempt, Score, Submission
from podium.worker.protocol import TASK_NAME, celery_queue


@pytest.fixture(scope="module")
def codalab(api, creator, users, service):
    return make_competition(api, creator, users, image="codalab/codalab-legacy:py37", scoring=programs.CODALAB_SCORING)


@pytest.fixture(scope="module")
def codabench(api, creator, users, service):
    return make_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                            ingestion=programs.V2_INGESTION, input_data=programs.INPUT_DATA, time_limit=8)


@pytest.fixture(scope="module")
def codabench_results(api, creator, users, service):
    return make_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING)


def test_codalab_v15_result_submission(api, worker, codalab, creator) -> None:
    phase_id, user = codalab
    sid = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nx\n"))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"] == {"accuracy": 0.75, "runtime": 1.5}
    board = api(user, "GET", f"/phases/{phase_id}/leaderboard", expect=200).json()
    assert [(e["owner"], e["display"]["accuracy"]) for e in board["entries"]] == [(user.name, "0.750")]
    # the scorer's files are the organizer's by default (the participant gets only their upload)
    files = {f["role"]: f for f in api(creator, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}
    assert {"submission", "scoring_output", "scoring_log", "detailed_results"} <= set(files)
    assert {f["role"] for f in api(user, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]} == {
        "submission"}
    html = requests.get(files["detailed_results"]["download_url"], timeout=10).text
    assert "3 of 4" in html


def test_codabench_v2_code_and_result_submissions(api, worker, codabench, codabench_results) -> None:
    phase_id, user = codabench
    sid = submit(api, user, phase_id, programs.GOOD_MODEL)
    sub = wait_for(api, user, sid)
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"] == {"accuracy": 0.75, "runtime": 2.0}
    assert [a["step"] for a in sub["attempts"]] == ["predict", "score"]
    results_phase, results_user = codabench_results
    sid = submit(api, results_user, results_phase, programs.result_submission("a\nb\nc\nd\n"))
    sub = wait_for(api, results_user, sid)
    assert sub["status"] == "finished" and sub["scores"]["accuracy"] == 1.0, sub
    assert [a["step"] for a in sub["attempts"]] == ["score"]


HOSTILE = {
    "time limit": ("import time\ndef predict(x):\n    time.sleep(60)\n", "Time limit exceeded"),
    "memory": ("blob = b'x' * (1024 ** 3)\ndef predict(x):\n    return 'a'\n", "Memory limit exceeded"),
    "fork bomb": ("import os\nwhile True:\n    os.fork()\n", None),
    "disk filler": ("f = open('/app/output/fill', 'wb')\nwhile True:\n    f.write(b'x' * 1048576)\n",
                    "Disk limit exceeded"),
    "log flood": ("import sys\nwhile True:\n    sys.stdout.write('spam ' * 20000)\n", "Log limit exceeded"),
    "network": ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\n", "exited with code 1"),
    "reference peek": (
        "import os\nneedle = 'SECRET-' + 'REFERENCE'\n"
        "found = [os.path.join(d, f) for d, _, fs in os.walk('/app') for f in fs\n"
        "         if needle in open(os.path.join(d, f), errors='ignore').read()]\n"
        "if os.path.exists('/app/input/ref') or found:\n    print('LEAK', found)\nelse:\n"
        "    raise SystemExit('no reference data visible')\n",
        "no reference data visible",
    ),
    "output symlink": ("import os\nos.symlink('/etc/passwd', '/app/output/leak')\n"
                       "def predict(x):\n    return 'a'\n", "the output contains a symbolic link: leak"),
    "non-zero exit": ("raise SystemExit(3)\n", "exited with code 3"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_submission_fails_with_its_reason(api, worker, codabench, case) -> None:
    phase_id, user = codabench
    code, expected = HOSTILE[case]
    sid = submit(api, user, phase_id, programs.code_submission(code))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "failed", sub
    reason = sub["failure_reason"]
    if case == "fork bomb":
        assert "exited with code" in reason or "Time limit exceeded" in reason, reason
    else:
        assert expected in reason, reason
    assert programs.SECRET not in reason and programs.SECRET not in (sub.get("log_tail") or "")
    assert "LEAK" not in (sub.get("log_tail") or "")
    # the same worker serves the next job
    good = wait_for(api, user, submit(api, user, phase_id, programs.GOOD_MODEL))
    assert good["status"] == "finished", good


def test_missing_scores_fail_clearly(api, worker, codabench_results) -> None:
    phase_id, user = codabench_results
    data = programs.make_zip({"noscore": "1"})
    sub = wait_for(api, user, submit(api, user, phase_id, data))
    assert sub["status"] == "failed"
    assert sub["failure_reason"] == ("No scores: the scoring program wrote no scores.json or scores.txt.")


def test_cancel_stops_a_running_container(api, worker, codabench) -> None:
    phase_id, user = codabench
    sid = submit(api, user, phase_id, programs.code_submission("import time\ndef predict(x):\n    time.sleep(7)\n"))
    wait_for(api, user, sid, statuses={"running"})
    api(user, "POST", f"/submissions/{sid}/cancel", expect=200)
    prefix = f"podium-{worker.name}-a"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
        if not any(n.startswith(prefix) for n in names.split()):
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the container kept running after cancel")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
        if sub["attempts"][0]["state"] != "running":
            break
        time.sleep(0.3)
    assert sub["status"] == "cancelled" and sub["failure_reason"] == "Cancelled by the participant."
    assert [a["state"] for a in sub["attempts"]] == ["cancelled"]
    good = wait_for(api, user, submit(api, user, phase_id, programs.GOOD_MODEL))
    assert good["status"] == "finished"


def one_result(service, sid: int) -> tuple[int, list[str]]:
    with service.app.session_factory() as session:
        scores = session.scalar(sa.select(sa.func.count(Score.id)).where(Score.submission_id == sid))
        attempts = [a.state.value for a in session.scalars(
            sa.select(Attempt).where(Attempt.submission_id == sid).order_by(Attempt.id))]
    return scores, attempts


def test_same_message_delivered_twice_scores_once(api, worker, codabench_results, service) -> None:
    phase_id, user = codabench_results
    sid = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nd\n"))
    with service.app.session_factory() as session:
        attempt = session.scalar(sa.select(Attempt).where(Attempt.submission_id == sid))
        args = [sid, attempt.step.value, attempt.id]
    for _ in range(2):
        service.app.dispatcher.celery_for("default").send_task(TASK_NAME, args=args,
                                                              queue=celery_queue("default"))
    sub = wait_for(api, user, sid)
    time.sleep(3)  # let the duplicates arrive and be refused
    assert sub["status"] == "finished"
    scores, attempts = one_result(service, sid)
    assert scores == 2 and attempts == ["succeeded"]


def test_worker_killed_mid_run_is_retried_without_cost(api, worker, codabench, service) -> None:
    phase_id, user = codabench
    slow = programs.code_submission("import time\ntime.sleep(4)\ndef predict(x):\n"
                                   "    return {'1': 'a', '2': 'b', '3': 'c', '4': 'd'}[x]\n")
    sid = submit(api, user, phase_id, slow)
    wait_for(api, user, sid, statuses={"running"})
    worker.kill(signal.SIGKILL)
    worker.start()  # same name: it removes the container its dead predecessor left
    sub = wait_for(api, user, sid, timeout=120)
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"]["accuracy"] == 1.0
    scores, attempts = one_result(service, sid)
    assert scores == 2
    assert attempts[0] == "expired" and attempts[-2:] == ["succeeded", "succeeded"], attempts


def test_broker_restart_mid_run(api, worker, codabench, service) -> None:
    phase_id, user = codabench
    slow = programs.code_submission("import time\ntime.sleep(3)\ndef predict(x):\n    return 'a'\n")
    sid = submit(api, user, phase_id, slow)
    wait_for(api, user, sid, statuses={"running", "scoring"})
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True)
    time.sleep(1)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True)
    sub = wait_for(api, user, sid, timeout=180)
    assert sub["status"] == "finished", sub["failure_reason"]
    after = wait_for(api, user, submit(api, user, phase_id, programs.GOOD_MODEL), timeout=180)
    assert after["status"] == "finished", after
    for submission in (sid, after["id"]):
        scores, _ = one_result(service, submission)
        assert scores == 2


def test_nothing_stays_running(service, worker) -> None:
    with service.app.session_factory() as session:
        stuck = session.scalars(sa.select(Submission).where(
            Submission.status.in_(["running", "scoring"]), Submission.created_at < utcnow() - timedelta(minutes=5))).all()
        # what an investigation needs: whose submission, in which competition and queue, and its attempts
        found = [(s.id, s.status.value, s.created_at.isoformat(), s.phase.competition.title,
                  s.phase.competition.queue.name if s.phase.competition.queue else "default",
                  [(a.id, a.step.value, a.state.value, a.worker.name if a.worker else None) for a in s.attempts])
                 for s in stuck]
    assert found == []


def test_multi_task_phase_runs_a_child_per_task(api, worker, creator, users, service) -> None:
    tasks = [
        {"key": "t1", "name": "Task 1",
         "scoring_program": upload_dataset(api, creator, "scoring_program", "s1.zip", programs.V2_SCORING),
         "reference_data": upload_dataset(api, creator, "reference_data", "r1.zip", programs.REFERENCE)},
        {"key": "t2", "name": "Task 2",
         "scoring_program": upload_dataset(api, creator, "scoring_program", "s2.zip", programs.F1_SCORING)},
    ]
    board = {"key": "main", "title": "Results", "columns": [
        {"key": "accuracy"}, {"key": "runtime", "sorting": "asc"}, {"key": "f1"}]}
    body = competition_body(unique_slug("multi"), tasks=tasks, leaderboards=[board], docker_image="python:3")
    body["phases"][0].update(tasks=["t1", "t2"], max_submissions_per_day=0, max_submissions=0)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    user = users.make("multi")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    sid = submit(api, user, comp["phases"][0]["id"], programs.result_submission("a\nb\nx\nx\n"))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"] == {"accuracy": 0.5, "runtime": 2.0, "f1": 0.5}
    with service.app.session_factory() as session:
        children = session.scalars(sa.select(Submission).where(Submission.parent_id == sid)).all()
        assert sorted(c.status.value for c in children) == ["finished", "finished"]
        assert not any(c.counts_toward_quota for c in children)
    # the worker's own metadata replaced the one the scoring program forged
    child_t2 = next(c for c in children if c.task_id == comp["tasks"][1]["id"])
    outputs = api(creator, "GET", f"/submissions/{child_t2.id}/outputs", expect=200).json()["files"]
    scoring = next(f for f in outputs if f["role"] == "scoring_output")
    import io
    import zipfile

    metadata = zipfile.ZipFile(io.BytesIO(requests.get(scoring["download_url"], timeout=10).content)).read("metadata")
    assert b"forged" not in metadata and b"exitCode: 0" in metadata


def test_ingestion_during_scoring_shares_a_directory(api, worker, creator, users) -> None:
    phase_id, user = make_competition(api, creator, users, image="python:3", scoring=programs.SHARED_SCORING,
                                      ingestion=programs.SHARED_INGESTION, input_data=programs.INPUT_DATA)
    with_flag = api(creator, "GET", f"/phases/{phase_id}", expect=200).json()
    task_id = api(creator, "GET", f"/competitions/{with_flag['competition']}", expect=200).json()["tasks"][0]["id"]
    api(creator, "PATCH", f"/tasks/{task_id}", json={"ingestion_only_during_scoring": True}, expect=200)
    sub = wait_for(api, user, submit(api, user, phase_id, programs.GOOD_MODEL))
    if sub["status"] != "finished":
        files = api(creator, "GET", f"/submissions/{sub['id']}/outputs", expect=200).json()["files"]
        logs = [requests.get(f["download_url"], timeout=10).text for f in files if f["role"].endswith("log")]
        raise AssertionError(f"{sub['failure_reason']}\n{logs}")
    assert sub["scores"]["accuracy"] == 0.75
    assert [a["step"] for a in sub["attempts"]] == ["score"]


def test_legacy_code_submission_without_ingestion_program(api, worker, creator, users) -> None:
    phase_id, user = make_competition(api, creator, users, image="codalab/codalab-legacy:py37",
                                      scoring=programs.CODALAB_SCORING, input_data=programs.INPUT_DATA)
    sub = wait_for(api, user, submit(api, user, phase_id, programs.LEGACY_CODE_SUBMISSION))
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"]["accuracy"] == 1.0


def test_runtime_images_speak_python3(runtime_images) -> None:
    for image, numpy_check in (("podium/runtime:py3", "True"), ("podium/runtime:legacy", "True")):
        code = ("import sys, numpy, scipy, sklearn, pandas, yaml, matplotlib, PIL, psutil; "
                "print(sys.version_info[0], numpy.__version__ < '1.24' if 'legacy' in sys.argv[1] else True)")
        for python in ("python", "python3"):
            out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "1000:1000",
                                  "--env", "MPLCONFIGDIR=/tmp", image, python, "-c", code, image],
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            assert out.stdout.split() == ["3", numpy_check], (image, python, out.stdout)


def test_unclaimed_attempts_fail_as_platform_failures_without_cost(api, creator, users, service, clock) -> None:
    """No worker serves queue 'nobody': the reaper publishes again, then fails it for free."""
    from podium.server.compute import queues as queues

    with service.app.session_factory() as session:
        queue, _ = queues.create_queue(session, f"nobody-{uuid.uuid4().hex[:6]}", None)
        queues.give_broker_account(queue, service.app.brokers)
        session.commit()
        name = session.scalars(sa.select(queues.ComputeQueue.name).order_by(queues.ComputeQueue.id.desc())).first()
    phase_id, user = make_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING)
    comp_id = api(creator, "GET", f"/phases/{phase_id}", expect=200).json()["competition"]
    api(creator, "PATCH", f"/competitions/{comp_id}", json={"queue": name}, expect=200)
    api(creator, "PATCH", f"/phases/{phase_id}", json={"max_submissions_per_day": 1}, expect=200)
    sid = submit(api, user, phase_id, programs.result_submission("a\n"))
    service.app.dispatcher.publish_pending()
    start = utcnow()
    for step in range(1, 5):
        clock.set(start + timedelta(seconds=step * (service.app.unclaimed_timeout + 1)))
        service.app.reap()
        service.app.dispatcher.publish_pending()
    sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
    assert sub["status"] == "failed" and "No compute worker took this submission" in sub["failure_reason"]
    assert sub["counts_toward_quota"] is False
    clock.reset()
    submit(api, user, phase_id, programs.result_submission("b\n"))  # the daily quota of 1 is still free
