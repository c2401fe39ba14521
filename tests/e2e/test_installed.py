"""What admins install: the built wheel and sdist, each in a clean virtualenv with one extra.

Every other test runs the editable install, which once hid two subpackages missing from the
wheel. Here ``[worker]`` alone runs ``podium worker`` until it scores a submission on a queue that
no other worker serves, and ``[server]`` alone creates its schema and serves the API, answering a
hub user through the real hub.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from conftest import (
    ROOT,
    WorkerProcess,
    competition_body,
    free_port,
    submit,
    unique_slug,
    upload_dataset,
    wait_for,
)
from helpers import programs
from podium.server.orm import Attempt, Worker

INSTALLS = {
    "wheel-worker": ("wheel", "worker"),
    "sdist-worker": ("sdist", "worker"),
    "wheel-server": ("wheel", "server"),
}


def build_distributions(out: Path) -> dict[str, Path]:
    """The wheel and the sdist, built from the working tree as a release would be."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, cwd=out)
    subprocess.run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_sdist(sys.argv[1])",
                    str(out)], check=True, cwd=ROOT, capture_output=True)
    (wheel,) = out.glob("jupyter_podium-*.whl")
    (sdist,) = out.glob("jupyter_podium-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def install(venv: Path, dist: Path, extra: str) -> Path:
    """A fresh virtualenv holding ``jupyter-podium[extra]`` from ``dist``; returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           f"jupyter-podium[{extra}] @ {dist.as_uri()}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin"


@pytest.fixture(scope="module")
def installs(tmp_path_factory) -> dict[str, Path]:
    """Each install of INSTALLS, made in parallel (pip spends its time waiting on the network)."""
    root = tmp_path_factory.mktemp("installs")
    dists = build_distributions(root)
    with ThreadPoolExecutor(len(INSTALLS)) as pool:
        futures = {name: pool.submit(install, root / name, dists[kind], extra)
                   for name, (kind, extra) in INSTALLS.items()}
        return {name: future.result() for name, future in futures.items()}


def importable(bin_dir: Path, module: str) -> bool:
    return subprocess.run([str(bin_dir / "python"), "-c", f"import {module}"], capture_output=True).returncode == 0


@pytest.mark.parametrize("name", ["wheel-worker", "sdist-worker"])
def test_worker_extra_alone_scores_a_submission(name, installs, api, users, creator, service, runtime_images,
                                                dbsession, tmp_path) -> None:
    bin_dir = installs[name]
    # only what a worker box needs: no service dependencies came along
    assert importable(bin_dir, "kombu") and importable(bin_dir, "podium.worker.executors.docker")
    assert not importable(bin_dir, "tornado") and not importable(bin_dir, "sqlalchemy")

    admin = users.make("qadmin", admin=True)
    queue = f"private-{uuid.uuid4().hex[:8]}"
    token = api(admin, "POST", "/queues", json={"name": queue}, expect=201).json()["token"]
    api(admin, "PUT", f"/queues/{queue}/shares/users/{creator.name}", expect=200)
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, creator, "scoring_program", "scoring.zip", programs.CODALAB_SCORING),
            "reference_data": upload_dataset(api, creator, "reference_data", "ref.zip", programs.REFERENCE)}
    body = competition_body(unique_slug("inst"), tasks=[task], queue=queue, docker_image="codalab/codalab-legacy:py37")
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    participant = users.make("inst")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)

    worker = WorkerProcess(service, tmp_path / "work", podium=bin_dir / "podium", token=token)
    worker.start()
    try:
        sid = submit(api, participant, comp["phases"][0]["id"], programs.result_submission("a\nb\nc\nx\n"))
        sub = wait_for(api, participant, sid)
    finally:
        worker.stop()
    assert sub["status"] == "finished", (sub["failure_reason"], worker.log.read_text()[-3000:])
    assert sub["scores"] == {"accuracy": 0.75, "runtime": 1.5}
    # scored by the installed worker, the only one serving this queue
    names = dbsession.scalars(sa.select(Worker.name).join(Attempt, Attempt.worker_id == Worker.id)
                              .where(Attempt.submission_id == sid)).all()
    assert names and set(names) == {worker.name}


def test_server_extra_alone_serves_the_api(installs, hub, users, tmp_path) -> None:
    bin_dir = installs["wheel-server"]
    db_url = f"sqlite:///{tmp_path / 'podium.sqlite'}"
    env = {**os.environ, "PODIUM_DATA_DIR": str(tmp_path / "data"), "PODIUM_SECRET_KEY": "installed-test",
           "JUPYTERHUB_API_URL": hub.hub_api_url, "JUPYTERHUB_API_TOKEN": hub.service_api_token,
           "JUPYTERHUB_SERVICE_NAME": hub.service_name}
    upgraded = subprocess.run([str(bin_dir / "podium"), "db", "upgrade", f"--db-url={db_url}"], env=env,
                              capture_output=True, text=True, cwd=tmp_path)
    assert upgraded.returncode == 0 and "revision" in upgraded.stdout, upgraded.stderr[-3000:]

    port = free_port()
    log = ROOT / "test-artifacts" / f"installed-service-{port}.log"
    log.parent.mkdir(exist_ok=True)
    proc = subprocess.Popen([str(bin_dir / "podium"), "service", f"--port={port}", "--ip=127.0.0.1",
                             f"--db-url={db_url}"], env=env, cwd=tmp_path, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/services/podium/api/v1"
    try:
        root = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                root = requests.get(base + "/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert root is not None and root.status_code == 200, log.read_text()[-3000:]
        assert root.json()["name"] == "podium"
        # a hub user's token is resolved through the real hub by the installed service
        user = users.make("inst")
        me = requests.get(base + "/me", headers=user.headers, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["name"] == user.name
        assert requests.get(base + "/me", timeout=10).status_code in (401, 403)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)
