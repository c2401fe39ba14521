"""notebooks/participant.ipynb and notebooks/admin.ipynb executed top to bottom by nbclient in a
real kernel, configured only as the hub configures a notebook (PODIUM_URL, JUPYTERHUB_API_TOKEN),
against the running service and a real Docker worker; their outputs checked."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import nbformat
import requests
from conftest import ROOT
from nbclient import NotebookClient
from test_widgets_participant import iris_competition

NOTEBOOKS = ROOT / "notebooks"


def run_notebook(name: str, env: dict[str, str], home: Path) -> list[str]:
    """Execute a notebook as a new user would; returns each code cell's text output. The executed
    copy is kept in test-artifacts/ to look at when a check fails."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    kernel_env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "JUPYTERHUB_", "JPY_"))}
    kernel_env.update(env, HOME=str(home))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(home)}})
    try:
        client.execute(env=kernel_env)
    finally:
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        nbformat.write(nb, artifacts / f"executed-{name}")
    return ["".join(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", ""))
                    for o in cell.get("outputs", []))
            for cell in nb.cells if cell.cell_type == "code"]


def test_participant_notebook_reaches_the_leaderboard(api, creator, users, service, worker, tmp_path) -> None:
    comp = iris_competition(api, creator)
    user = users.make("notebook")
    outputs = run_notebook("participant.ipynb", {
        "PODIUM_URL": service.url, "JUPYTERHUB_API_TOKEN": user.token, "PODIUM_COMPETITION": comp["slug"],
    }, tmp_path)
    text = "\n".join(outputs)
    assert "Registration: approved" in text
    assert re.search(r"^Python\s+here 3\.\d+\.\d+\s+in the phase's image 3\.\d+\.\d+$", text, re.M), text
    assert re.search(r"^pandas\s+here \S+\s+in the phase's image \d", text, re.M), text
    assert (tmp_path / "podium" / comp["slug"] / "public_data" / "train.csv").is_file()
    assert "starting_kit ->" in text and "README.md" in text
    assert re.search(r"Submission \d+: finished\nScores: \{'accuracy': 1\.0\}\nMy rank: 1\n", text), text
    assert f"1 {user.name} {{'accuracy': '1.0000'}}" in text

    board = api(user, "GET", f"/phases/{comp['phases'][0]['id']}/leaderboard", expect=200).json()
    assert [(e["owner"], e["scores"]) for e in board["entries"]] == [(user.name, {"accuracy": 1.0})]
    assert board["entries"][0]["rank"] == 1


def test_admin_notebook_prints_a_working_worker_command(users, service, worker, tmp_path) -> None:
    admin = users.make("nbadmin", admin=True)
    queue = f"nb-{uuid.uuid4().hex[:6]}"
    outputs = run_notebook("admin.ipynb", {
        "PODIUM_URL": service.url, "JUPYTERHUB_API_TOKEN": admin.token, "PODIUM_NEW_QUEUE": queue,
        "PODIUM_SHARE_GROUP": "nb-lab",
    }, tmp_path)
    text = "\n".join(outputs)
    assert re.search(rf"^default: \d+ waiting, workers: .*{worker.name} \(\d+\.\d+", text, re.M), text
    match = re.search(rf"^podium worker --service-url {re.escape(service.url)} --token (\S+) "
                      rf"--name {queue}-worker-1 --executor docker --work-dir ~/podium-worker$", text, re.M)
    assert match, text
    answer = requests.get(service.api_url + "/worker/config", timeout=10,
                          headers={"Authorization": f"token {match.group(1)}"})
    assert answer.status_code == 200 and answer.json()["queue"] == queue
    assert f"'{queue}'" in outputs[-2]
    assert outputs[-1].strip() == "{'users': [], 'groups': ['nb-lab']}"
