"""``podium up`` (also ``podium demo``): the platform on its embedded defaults, shown working end to end.

Starts a real JupyterHub with its proxy and the Podium service as a hub-managed service (SQLite
and local storage in ``--data-dir``), creates demo users and a demo competition through the REST
API behind the proxy, submits a sample prediction as a participant, prints what a new user needs
(URL, logins, the submission and the leaderboard), and serves until Ctrl-C.

A compute worker is started too: Docker when the engine answers (the runtime images are built
on first use), otherwise the local executor, which does not isolate code and says so.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from ..widgets.client import NotFound, PodiumAPIError, PodiumClient
from .launcher import HubProcess, free_port

DEMO_PASSWORD = "podium"
ORGANIZER, PARTICIPANT, ADMIN = "demo-organizer", "demo-participant", "demo-admin"


class DemoError(RuntimeError):
    pass


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def sample_submission() -> bytes:
    """A result submission: predictions for the demo's (hidden) test labels, one of them wrong."""
    return _zip({"predictions.csv": "id,label\n1,setosa\n2,versicolor\n3,virginica\n4,setosa\n"})


REFERENCE = _zip({"labels.csv": "id,label\n1,setosa\n2,versicolor\n3,virginica\n4,virginica\n"})
SCORING_PROGRAM = _zip({
    "metadata": "command: python $program/score.py $input $output\n",
    "score.py": (
        "import csv, os, sys\n"
        "def read(path):\n"
        "    return {r['id']: r['label'] for r in csv.DictReader(open(path))}\n"
        "truth = read(os.path.join(sys.argv[1], 'ref', 'labels.csv'))\n"
        "pred = read(os.path.join(sys.argv[1], 'res', 'predictions.csv'))\n"
        "accuracy = sum(pred.get(k) == v for k, v in truth.items()) / len(truth)\n"
        "open(os.path.join(sys.argv[2], 'scores.txt'), 'w').write('accuracy: %f\\n' % accuracy)\n"
    ),
})


def start_worker(service_url: str, token: str, work_dir: Path, executor_choice: str = "auto") -> subprocess.Popen:
    """A compute worker: Docker when the engine answers, else the (unsafe) local executor."""
    from podium.worker.executors.docker import DockerError, DockerExecutor
    from podium.worker.images import build_all

    try:
        use_docker = executor_choice != "local" and DockerExecutor("demo").available()
    except DockerError:
        use_docker = False
    if executor_choice == "docker" and not use_docker:
        raise DemoError("--executor docker was asked for, but the Docker engine does not answer.")
    if use_docker:
        print("==> Docker answers: building the runtime images if missing (a few minutes the first time)")
        build_all()
        executor = ["--executor", "docker"]
    else:
        print("==> No Docker engine: using the local executor, which does NOT isolate participant code")
        executor = ["--executor", "local", "--allow-unsafe-local-executor"]
    work_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "podium.hub.cli", "worker", "--service-url", service_url, "--token", token,
         "--name", "demo-worker", "--work-dir", str(work_dir), *executor],
        stdout=open(work_dir / "worker.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def demo_competition(slug: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return {
        "slug": slug,
        "title": "Iris: a demo competition",
        "description": "Predict the species of each flower in the test set.",
        "pages": [
            {"key": "overview", "title": "Overview", "content": "# Iris\nClassify flowers."},
            {"key": "evaluation", "title": "Evaluation", "content": "Accuracy on the hidden labels."},
        ],
        "tasks": [{"key": "iris", "name": "Iris classification"}],
        "docker_image": "codalab/codalab-legacy:py37",
        "leaderboards": [
            {
                "key": "main",
                "title": "Results",
                "columns": [{"key": "accuracy", "title": "Accuracy", "sorting": "desc", "precision": 4}],
            }
        ],
        "phases": [
            {
                "name": "Development",
                "start": start.isoformat().replace("+00:00", "Z"),
                "end": (start + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
                "tasks": ["iris"],
                "leaderboard": "main",
            }
        ],
    }


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WALK_THROUGHS = {PARTICIPANT: ["participant.ipynb"], ORGANIZER: ["organizer.ipynb", "instructor.ipynb"],
                 ADMIN: ["admin.ipynb"]}


def give_notebooks(homes: Path) -> None:
    """Put each demo user's walk-through notebooks in their JupyterLab home (from a source
    checkout; a wheel install has no notebooks/ and the users start with empty homes)."""
    for user, names in WALK_THROUGHS.items():
        for name in names:
            source = NOTEBOOKS / name
            target = homes / user / name
            if source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


def wait_for(url: str, timeout: float, hub: HubProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise DemoError(f"The Podium service did not answer at {url}; hub log:\n{hub.log_tail()}")


def run_demo(data_dir: Path, port: int, serve: bool, executor: str = "auto") -> dict[str, Any]:
    data_dir.mkdir(parents=True, exist_ok=True)
    service_port = free_port()
    hub = HubProcess(
        data_dir / "hub",
        service_url=f"http://127.0.0.1:{service_port}",
        service_managed=True,
        service_args=["--upgrade-db"],
        port=port,
        admin_users=[ADMIN],
        password=DEMO_PASSWORD,
    )
    token_file = data_dir / "queue_token"
    if not token_file.exists():
        token_file.write_text(secrets.token_urlsafe(32))
    queue_token = token_file.read_text().strip()
    hub.service_environment = {
        "PODIUM_DATA_DIR": str(data_dir / "podium"),
        "PODIUM_PUBLIC_URL": hub.public_url + hub.service_prefix,
        "PODIUM_QUEUE_TOKEN": queue_token,
    }
    worker = None
    print(f"==> starting JupyterHub on {hub.public_url} (log: {hub.log_path})")
    hub.start()
    try:
        service_url = hub.public_url + hub.service_prefix
        api_url = service_url + "api/v1"
        wait_for(api_url + "/", 60, hub)
        hub.create_user(ORGANIZER, groups=[hub.creator_group])
        hub.create_user(PARTICIPANT)
        hub.create_user(ADMIN, admin=True)
        give_notebooks(hub.workdir / "homes")
        organizer = PodiumClient(service_url, hub.token_for(ORGANIZER, note="podium up"))
        participant = PodiumClient(service_url, hub.token_for(PARTICIPANT, note="podium up"))

        slug = "iris-demo"
        try:
            competition = organizer.competition(slug)
        except NotFound:
            body = demo_competition(slug)
            task = body["tasks"][0]
            task["scoring_program"] = organizer.upload_dataset(SCORING_PROGRAM, kind="scoring_program",
                                                               name="scoring.zip")["id"]
            task["reference_data"] = organizer.upload_dataset(REFERENCE, kind="reference_data",
                                                              name="reference.zip")["id"]
            competition = organizer.create_competition(body)
            competition = organizer.publish(competition["id"])
        phase = competition["phases"][0]
        participant.register(slug)
        created = participant.submit(phase["id"], sample_submission(), description="demo",
                                     idempotency_key=f"demo-{datetime.now(UTC):%Y%m%d}")
        worker = start_worker(service_url, queue_token, data_dir / "worker", executor)
        created = participant.wait(created["id"], timeout=600, interval=0.5)
        board = participant.leaderboard(phase["id"])
        me = participant.me()

        print()
        print(f"Podium is up: {hub.public_url}/hub/login  (API: {api_url}/)")
        print(f"Logins (password '{DEMO_PASSWORD}'): {ORGANIZER} (creates competitions), "
              f"{PARTICIPANT}, {ADMIN} (hub admin); each finds a walk-through notebook in JupyterLab")
        print(f"Competition '{competition['title']}' ({slug}), phase '{phase['name']}' ({phase['status']})")
        print(f"Submission {created['id']} by {PARTICIPANT}: {created['status']}"
              + (f" with scores {created['scores']}" if created.get("scores") else "")
              + (f" ({created['failure_reason']})" if created.get("failure_reason") else ""))
        quota = me["competitions"][0]["phases"][0]["quota"] if me["competitions"] else {}
        print(f"{PARTICIPANT}'s quota today: {quota.get('remaining_today')} left, resets {quota.get('resets_at')}")
        print(f"Leaderboard ({board['total']} entries):")
        for entry in board["entries"]:
            print(f"  {entry['rank']:>3}  {entry['owner']:<20} {entry['display']}")
        if not board["entries"]:
            print("  (empty until a submission is scored)")
        if serve:
            print("\nServing; press Ctrl-C to stop.")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.is_set() and hub.process is not None and hub.process.poll() is None:
                stop.wait(1)
        return {"competition": competition, "submission": created, "leaderboard": board}
    finally:
        print("==> stopping the worker, JupyterHub and the Podium service")
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        hub.stop()


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``podium up`` (also read by the docs' command reference)."""
    parser = argparse.ArgumentParser(prog="podium up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("PODIUM_DEMO_DIR", "podium-data/demo"))
    parser.add_argument("--port", type=int, default=8000, help="The hub's public port.")
    parser.add_argument("--no-serve", action="store_true", help="Stop after showing it works.")
    parser.add_argument("--executor", choices=["auto", "docker", "local"], default="auto",
                        help="How the demo worker runs programs: Docker when it answers (auto), or the "
                        "local executor, which does not isolate code.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_demo(Path(args.data_dir).resolve(), args.port, serve=not args.no_serve, executor=args.executor)
    except (DemoError, PodiumAPIError) as e:
        print(f"podium up: {e}")
        return 1
    return 0
