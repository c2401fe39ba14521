"""The platform the benchmarks measure, started for real on 127.0.0.1: a fresh PostgreSQL
database, a RabbitMQ virtual host, JupyterHub with its proxy, the Podium service as its own
process, and workers on demand. Every process started here is stopped on exit."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from podium.hub.launcher import HubProcess, free_port
from podium.server import db

ROOT = Path(__file__).resolve().parent.parent
PODIUM = str(Path(sys.executable).parent / "podium")
#: the admin database; a postgresql+psycopg2:// URL is served by psycopg 3 like the service's own
PG_ADMIN = db.engine_url(os.environ.get("PODIUM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
QUEUE_TOKEN = "bench-queue-token"


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


CONSTANT_SCORER = zip_bytes({
    "metadata": "command: python $program/score.py $input $output\n",
    "score.py": "import os, sys\nopen(os.path.join(sys.argv[2], 'scores.txt'), 'w').write('accuracy: 1.0\\n')\n",
})
RESULT = zip_bytes({"predictions.txt": "a\n"})


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    return {"n": len(samples), "p50": pct(50), "p95": pct(95), "p99": pct(99), "mean": statistics.fmean(samples),
            "min": ordered[0], "max": ordered[-1]}


class Platform:
    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.extra_env, self.extra_args = extra_env or {}, extra_args
        self.processes: list[subprocess.Popen] = []
        self.db_name = f"podium_bench_{uuid.uuid4().hex[:8]}"
        self.db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db_name
        self.vhost = f"podium-bench-{uuid.uuid4().hex[:6]}"
        self.broker_url = f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"
        self.port = free_port()
        self.hub = HubProcess(workdir / "hub", service_url=f"http://127.0.0.1:{self.port}", creator_group="creators",
                              project_dir=ROOT)
        self.url = f"http://127.0.0.1:{self.port}/services/podium/"
        self.api = self.url + "api/v1"

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> Platform:
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        engine.dispose()
        db.upgrade(self.db_url)
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        self.hub.start()
        env = {**os.environ, **self.hub.env_for_service(), "PODIUM_DB_URL": self.db_url,
               "PODIUM_BROKER_URL": self.broker_url, "PODIUM_QUEUE_TOKEN": QUEUE_TOKEN,
               "PODIUM_SECRET_KEY": "bench", "PODIUM_DATA_DIR": str(self.workdir / "service"),
               "PODIUM_METRICS_TOKEN": "bench-metrics", **self.extra_env}  # bench/loop.py reads the loop lag
        self.service = self.spawn([PODIUM, "service", "--PodiumService.creator_group=creators",
                                   "--log-level=WARN", *self.extra_args], env, "service.log")
        self.wait_for(self.api + "/")
        return self

    def spawn(self, argv: list[str], env: dict[str, str] | None, log: str) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, stdout=open(self.workdir / log, "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.processes.append(proc)
        return proc

    def wait_for(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer")

    def start_worker(self, executor: str = "docker", name: str | None = None) -> subprocess.Popen:
        name = name or f"bench-{executor}-{uuid.uuid4().hex[:4]}"
        argv = [PODIUM, "worker", "--service-url", self.url, "--token", QUEUE_TOKEN, "--name", name,
                "--executor", executor, "--work-dir", str(self.workdir / name), "--log-level", "WARNING"]
        if executor == "local":
            argv.append("--allow-unsafe-local-executor")
        proc = self.spawn(argv, None, f"{name}.log")
        time.sleep(2)
        return proc

    @staticmethod
    def stop_process(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            self.stop_process(proc)
        self.hub.stop()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True)
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        engine.dispose()

    # --- users and competitions ---------------------------------------------------------------

    def user(self, name: str, groups: tuple[str, ...] = (), admin: bool = False) -> requests.Session:
        self.hub.create_user(name, admin=admin, groups=list(groups))
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.hub.token_for(name)}"
        session.username = name  # type: ignore[attr-defined]
        return session

    def call(self, session: requests.Session, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 60)
        r = session.request(method, self.api + path, **kwargs)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path} → {r.status_code}: {r.text[:300]}")
        return r.json()

    def dataset(self, session: requests.Session, kind: str, data: bytes) -> int:
        a = self.call(session, "POST", "/datasets", json={"kind": kind, "name": f"{kind}.zip", "size": len(data),
                                                         "sha256": hashlib.sha256(data).hexdigest()})
        requests.put(a["upload_url"], data=data, timeout=60).raise_for_status()
        self.call(session, "POST", f"/datasets/{a['id']}/uploaded")
        return a["id"]

    def competition(self, organizer: requests.Session, image: str = "codalab/codalab-legacy:py37") -> dict:
        scorer = self.dataset(organizer, "scoring_program", CONSTANT_SCORER)
        start = "2020-01-01T00:00:00Z"
        body = {"slug": f"bench-{uuid.uuid4().hex[:8]}", "title": "Bench", "docker_image": image,
                "tasks": [{"key": "t", "name": "T", "scoring_program": scorer}],
                "leaderboards": [{"key": "main", "title": "Main", "columns": [{"key": "accuracy"}]}],
                "phases": [{"name": "P", "start": start, "tasks": ["t"], "max_submissions_per_day": 0,
                            "submission_rule": "last",
                            "max_submissions": 0}]}
        comp = self.call(organizer, "POST", "/competitions", json=body)
        self.call(organizer, "POST", f"/competitions/{comp['id']}/publish")
        return comp

    def submit(self, session: requests.Session, phase_id: int, data: bytes = RESULT, key: str | None = None) -> int:
        headers = {"Idempotency-Key": key} if key else {}
        created = self.call(session, "POST", f"/phases/{phase_id}/submissions", headers=headers,
                            json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        requests.put(created["upload_url"], data=data, timeout=60).raise_for_status()
        self.call(session, "POST", f"/submissions/{created['id']}/uploaded")
        return created["id"]


def pss_kb(pid: int) -> int:
    """Proportional set size of a process and all its descendants, in kB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as f:
                pids.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return total


def write_result(bench_id: str, data: dict[str, Any]) -> Path:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{bench_id}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="podium-bench-"))
