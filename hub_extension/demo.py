"""``podium up`` (also ``podium demo``): the platform on its embedded defaults, shown working end to end.

Starts a real JupyterHub with its proxy and the Podium service as a hub-managed service (SQLite
and local storage in ``--data-dir``), creates demo users and a demo competition through the REST
API behind the proxy, submits a sample prediction as a participant, prints what a new user needs
(URL, logins, the submission and the leaderboard), and serves until Ctrl-C.

A compute worker is started too, with the Docker executor: the engine is installed and started
(``podium.worker.engine``) and the runtime images are built first when missing. Where that cannot
happen (not root, not Debian), it stops and says why and the command that fixes it; the local
executor, which does not isolate participant code, is used only when asked for by name
(``--executor local``). ``installation.json`` in the data dir lets ``podium token`` and
``podium bundle`` find this installation.
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

from ..widgets.client import NotFound, PodiumAPIError, PodiumClient, WaitTimeout
from . import installation
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


def prepare_executor(choice: str = "docker") -> list[str]:
    """The demo worker's executor options: Docker (installed, started and its runtime images built
    here when this machine allows it), or the local executor when asked for by name."""
    if choice == "local":  # anything else ("docker", and "auto" from older versions) means Docker
        print("==> --executor local: participant code runs WITHOUT isolation (the local executor "
              "does NOT isolate it from this machine)")
        return ["--executor", "local", "--allow-unsafe-local-executor"]
    from podium.worker.engine import EngineError, ensure_engine
    from podium.worker.images import ImageBuildError, build_all

    try:
        ensure_engine()
        print("==> building the runtime images if missing (a few minutes the first time)")
        build_all()
    except (EngineError, ImageBuildError) as e:
        fix = getattr(e, "fix", None)
        reason = getattr(e, "reason", str(e))
        raise DemoError(
            "participant code cannot run isolated in Docker here: " + reason
            + (f".\n  Fix it with: {fix}\n" if fix else ".\n")
            + "  Or run without isolation, on a machine you trust: podium up --executor local"
        ) from e
    return ["--executor", "docker"]


def worker_argv(service_url: str, token: str, work_dir: Path, executor: list[str]) -> list[str]:
    """The demo worker's command line. The token goes in ``--token=...``: a token starting with
    ``-`` (one in 64 of an earlier demo's, kept in its data directory) would otherwise be read
    as an option, the worker would exit and ``podium up`` wait for a result that never comes."""
    return [sys.executable, "-m", "podium.hub.cli", "worker", f"--service-url={service_url}", f"--token={token}",
            "--name", "demo-worker", "--work-dir", str(work_dir), *executor]


def start_worker(service_url: str, token: str, work_dir: Path, executor: list[str]) -> subprocess.Popen:
    """A compute worker process with the executor options from ``prepare_executor``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        worker_argv(service_url, token, work_dir, executor),
        stdout=open(work_dir / "worker.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_for_result(participant: PodiumClient, submission_id: int, worker: subprocess.Popen, worker_log: Path,
                    timeout: float = 600) -> dict[str, Any]:
    """The demo submission once it ended. A worker that exits meanwhile ends the wait at once,
    with the end of its log, instead of after ``timeout``: nothing else would score it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return participant.wait(submission_id, timeout=5, interval=0.5)
        except WaitTimeout:
            if worker.poll() is not None:
                lines = worker_log.read_text(errors="replace").splitlines()[-10:] if worker_log.exists() else []
                raise DemoError(f"The demo worker exited (code {worker.returncode}) before it scored the demo "
                                f"submission; the end of its log ({worker_log}):\n" + "\n".join(lines)) from None
            if time.monotonic() >= deadline:
                raise


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


def configure_hub(data_dir: Path, port: int) -> tuple[HubProcess, str]:
    """The hub with Podium as its managed service (not started yet), and the demo queue's token."""
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
        token_file.write_text("pq_" + secrets.token_urlsafe(32))  # the shape the service gives queue tokens
    queue_token = token_file.read_text().strip()
    hub.service_environment = {
        "PODIUM_DATA_DIR": str(data_dir / "podium"),
        "PODIUM_PUBLIC_URL": hub.public_url + hub.service_prefix,
        "PODIUM_QUEUE_TOKEN": queue_token,
    }
    return hub, queue_token


def create_demo_users(hub: HubProcess, service_url: str) -> tuple[PodiumClient, PodiumClient]:
    """The demo users with their walk-through notebooks; API clients of the organizer and the participant."""
    hub.create_user(ORGANIZER, groups=[hub.creator_group])
    hub.create_user(PARTICIPANT)
    hub.create_user(ADMIN, admin=True)
    give_notebooks(hub.workdir / "homes")
    organizer = PodiumClient(service_url, hub.token_for(ORGANIZER, note="podium up"))
    participant = PodiumClient(service_url, hub.token_for(PARTICIPANT, note="podium up"))
    return organizer, participant


def ensure_competition(organizer: PodiumClient, slug: str) -> dict[str, Any]:
    """The demo competition: the one from an earlier run, or created with its programs and published."""
    try:
        return organizer.competition(slug)
    except NotFound:
        body = demo_competition(slug)
        task = body["tasks"][0]
        task["scoring_program"] = organizer.upload_dataset(SCORING_PROGRAM, kind="scoring_program",
                                                           name="scoring.zip")["id"]
        task["reference_data"] = organizer.upload_dataset(REFERENCE, kind="reference_data",
                                                          name="reference.zip")["id"]
        competition = organizer.create_competition(body)
        return organizer.publish(competition["id"])


def print_welcome(hub: HubProcess, api_url: str, competition: dict[str, Any], phase: dict[str, Any],
                  created: dict[str, Any], board: dict[str, Any], me: dict[str, Any],
                  executor_options: list[str]) -> None:
    """What a new user needs: the URL, the logins, the demo submission, the quota and the leaderboard."""
    print()
    print(f"Podium is up: {hub.public_url}/hub/login  (API: {api_url}/)")
    print(f"Logins (password '{DEMO_PASSWORD}'): {ORGANIZER} (creates competitions), "
          f"{PARTICIPANT}, {ADMIN} (hub admin); each finds a walk-through notebook in JupyterLab")
    print(f"Competition '{competition['title']}' ({competition['slug']}), phase '{phase['name']}' ({phase['status']})")
    print(f"Submission {created['id']} by {PARTICIPANT}: {created['status']}"
          + (f" with scores {created['scores']}" if created.get("scores") else "")
          + (f" ({created['failure_reason']})" if created.get("failure_reason") else ""))
    print(f"Scored by demo-worker with the {executor_options[1]} executor"
          + (" (participant code ran isolated in a container)" if executor_options[1] == "docker"
             else " (participant code ran WITHOUT isolation)"))
    quota = me["competitions"][0]["phases"][0]["quota"] if me["competitions"] else {}
    print(f"{PARTICIPANT}'s quota today: {quota.get('remaining_today')} left, resets {quota.get('resets_at')}")
    print(f"Leaderboard ({board['total']} entries):")
    for entry in board["entries"]:
        print(f"  {entry['rank']:>3}  {entry['owner']:<20} {entry['display']}")
    if not board["entries"]:
        print("  (empty until a submission is scored)")
    print(f"API tokens for scripts: `podium token {ORGANIZER}` (or any user; --env prints PODIUM_URL and "
          "PODIUM_TOKEN); `podium bundle import|export` find this installation by themselves")


def serve_until_stopped(hub: HubProcess) -> None:
    """Wait for Ctrl-C (or SIGTERM), or for the hub to exit."""
    print("\nServing; press Ctrl-C to stop.")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set() and hub.process is not None and hub.process.poll() is None:
        stop.wait(1)


def stop_worker(worker: subprocess.Popen | None) -> None:
    """Stop the demo worker's process group: SIGTERM, then SIGKILL after 20 s."""
    if worker is not None and worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def run_demo(data_dir: Path, port: int, serve: bool, executor: str = "docker") -> dict[str, Any]:
    """Start everything, score one participant submission, show it, and serve (or stop) after."""
    data_dir.mkdir(parents=True, exist_ok=True)
    executor_options = prepare_executor(executor)
    hub, queue_token = configure_hub(data_dir, port)
    worker = None
    print(f"==> starting JupyterHub on {hub.public_url} (log: {hub.log_path})")
    hub.start()
    try:
        service_url = hub.public_url + hub.service_prefix
        installation.record(data_dir, hub.public_url, service_url, hub.setup_token)
        api_url = service_url + "api/v1"
        wait_for(api_url + "/", 60, hub)
        organizer, participant = create_demo_users(hub, service_url)
        slug = "iris-demo"
        competition = ensure_competition(organizer, slug)
        phase = competition["phases"][0]
        participant.register(slug)
        created = participant.submit(phase["id"], sample_submission(), description="demo",
                                     idempotency_key=f"demo-{datetime.now(UTC):%Y%m%d}")
        worker = start_worker(service_url, queue_token, data_dir / "worker", executor_options)
        created = wait_for_result(participant, created["id"], worker, data_dir / "worker" / "worker.log")
        board = participant.leaderboard(phase["id"])
        print_welcome(hub, api_url, competition, phase, created, board, participant.me(), executor_options)
        if serve:
            serve_until_stopped(hub)
        return {"competition": competition, "submission": created, "leaderboard": board}
    finally:
        print("==> stopping the worker, JupyterHub and the Podium service")
        stop_worker(worker)
        hub.stop()


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``podium up`` (also read by the docs' command reference)."""
    parser = argparse.ArgumentParser(prog="podium up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(installation.default_data_dir()),
                        help="Where the hub and the service keep their state (default: $PODIUM_DEMO_DIR or "
                        f"./{installation.DEFAULT_DATA_DIR}).")
    parser.add_argument("--port", type=int, default=8000, help="The hub's public port.")
    parser.add_argument("--no-serve", action="store_true", help="Stop after showing it works.")
    parser.add_argument("--executor", choices=["docker", "local", "auto"], default="docker",
                        help="How the demo worker runs participant code: in Docker (installed and started "
                        "here when run as root on Debian), or with the local executor, which does NOT "
                        "isolate it. 'auto', from older versions, now means docker.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_demo(Path(args.data_dir).resolve(), args.port, serve=not args.no_serve, executor=args.executor)
    except (DemoError, PodiumAPIError) as e:
        print(f"podium up: {e}")
        return 1
    return 0
