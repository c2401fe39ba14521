"""Notebook submissions end to end: the real service, a real `podium worker` and the real Docker
engine executing each notebook with the runtime image's own nbclient and kernel, no network and
the phase's time limit; then the executed copy rendered on the submission page in headless
Chromium, where none of the scripts its outputs carry may run."""

from __future__ import annotations

import json

import nbformat
import pytest
import requests
from conftest import make_pipeline_competition, submit, wait_for
from helpers import programs
from helpers.web_session import browser_login, screenshot
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from podium.server.web.notebook_view import plain
from podium.widgets.packaging import zip_files

pytestmark = pytest.mark.one_backend  # the worker and the page are what is tested, not the database

PREDICT = """
answers = {"1": "a", "2": "b", "3": "c", "4": "x"}
items = open("/app/input_data/test.txt").read().split()
"""
WRITE = """
with open("/app/output/predictions.txt", "w") as f:
    f.write("\\n".join(answers[x] for x in items))
print("wrote", len(items), "predictions")
"""
HOSTILE_OUTPUTS = """
from IPython.display import HTML, Markdown, display
print("<script>window.pwned = 'stream'</script>")
display(HTML('<img src="x" onerror="window.pwned = \\'onerror\\'"><b id="bold">bold</b>'
             '<script>window.pwned = \\'html\\'</script>'))
display(Markdown("<script>window.pwned = 'markdown'</script> *fine*"))
"""


def notebook_zip(*sources: str, name: str = "solution.ipynb") -> bytes:
    nb = new_notebook(cells=[new_markdown_cell("# My solution"), *[new_code_cell(s) for s in sources]])
    nb.metadata["kernelspec"] = {"name": "my-conda-env", "display_name": "mine", "language": "python"}
    return zip_files({name: nbformat.writes(nb)})


@pytest.fixture(scope="module")
def notebook_phase(api, creator, users, service):
    return make_pipeline_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                     input_data=programs.INPUT_DATA, time_limit=60,
                                     phase={"accepts_notebooks": True})


@pytest.fixture(scope="module")
def short_notebook_phase(api, creator, users, service):
    return make_pipeline_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                     input_data=programs.INPUT_DATA, time_limit=10,
                                     phase={"accepts_notebooks": True})


def executed_notebook(api, user, sid: int) -> dict:
    files = {f["role"]: f for f in api(user, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}
    assert "executed_notebook" in files, files
    return json.loads(requests.get(files["executed_notebook"]["download_url"], timeout=10).content)


def code_outputs(nb: dict) -> list[list[dict]]:
    return [cell["outputs"] for cell in nb["cells"] if cell["cell_type"] == "code"]


def test_a_passing_notebook_is_scored_on_the_leaderboard(api, worker, notebook_phase) -> None:
    phase_id, user = notebook_phase
    sid = submit(api, user, phase_id, notebook_zip(PREDICT, WRITE))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"] == {"accuracy": 0.75, "runtime": 2.0}
    board = api(user, "GET", f"/phases/{phase_id}/leaderboard", expect=200).json()
    assert [(e["owner"], e["display"]["accuracy"]) for e in board["entries"]] == [(user.name, "0.750")]
    executed = executed_notebook(api, user, sid)
    assert "".join(code_outputs(executed)[1][0]["text"]) == "wrote 4 predictions\n"
    assert executed["metadata"]["kernelspec"]["name"] == "python3"  # the image's kernel, whatever it said


def test_the_legacy_image_executes_notebooks_too(api, worker, creator, users, service) -> None:
    """bullseye's nbclient 0.5 and ipykernel 5 (Python 3.9) run the same runner."""
    phase_id, user = make_pipeline_competition(api, creator, users, image="codalab/codalab-legacy:py37",
                                               scoring=programs.V2_SCORING, input_data=programs.INPUT_DATA,
                                               phase={"accepts_notebooks": True})
    sid = submit(api, user, phase_id, notebook_zip("import sys\nassert sys.version_info[:2] == (3, 9)", PREDICT, WRITE))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"]["accuracy"] == 0.75
    sid = submit(api, user, phase_id, notebook_zip(PREDICT, "{}['missing']"))
    assert wait_for(api, user, sid)["failure_reason"] == "The notebook failed: cell 3 raised KeyError: 'missing'."


def test_a_notebook_raising_in_cell_3_names_the_cell(api, worker, notebook_phase) -> None:
    phase_id, user = notebook_phase
    sid = submit(api, user, phase_id, notebook_zip(PREDICT, "ratio = 1 / 0", WRITE))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "failed"
    assert sub["failure_reason"] == "The notebook failed: cell 3 raised ZeroDivisionError: division by zero."
    executed = executed_notebook(api, user, sid)
    error = executed["cells"][2]["outputs"][0]
    assert error["output_type"] == "error" and error["ename"] == "ZeroDivisionError"
    traceback = plain("\n".join(error["traceback"]))  # IPython colours it
    assert "ratio = 1 / 0" in traceback and "ZeroDivisionError: division by zero" in traceback
    assert executed["cells"][3]["outputs"] == []  # never ran


def test_a_notebook_past_the_time_limit_is_stopped(api, worker, short_notebook_phase) -> None:
    phase_id, user = short_notebook_phase
    sid = submit(api, user, phase_id, notebook_zip("print('started')", "while True:\n    pass"))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "failed"
    assert sub["failure_reason"] == ("Time limit exceeded: the notebook ran longer than 10 s "
                                     "(cell 3 was running).")
    executed = executed_notebook(api, user, sid)  # what ended before the limit comes back
    assert "".join(code_outputs(executed)[0][0]["text"]) == "started\n"


def test_a_notebook_has_no_network(api, worker, notebook_phase) -> None:
    phase_id, user = notebook_phase
    sid = submit(api, user, phase_id, notebook_zip(
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=5)"))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "failed"
    assert sub["failure_reason"] == "The notebook failed: cell 2 raised OSError: [Errno 101] Network is unreachable."


def test_a_phase_without_notebooks_keeps_the_old_behaviour(api, worker, creator, users, service) -> None:
    """Without the opt-in a lone notebook is a result submission (as in Codabench): not executed."""
    phase_id, user = make_pipeline_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                               input_data=programs.INPUT_DATA)
    sid = submit(api, user, phase_id, notebook_zip(PREDICT, WRITE))
    sub = wait_for(api, user, sid)
    assert sub["status"] == "failed" and "notebook" not in sub["failure_reason"], sub
    roles = {f["role"] for f in api(user, "GET", f"/submissions/{sid}/outputs", expect=200).json()["files"]}
    assert "executed_notebook" not in roles


def test_executed_notebook_is_shown_with_no_script_running(api, worker, notebook_phase, hub, page) -> None:
    phase_id, user = notebook_phase
    sid = submit(api, user, phase_id, notebook_zip(HOSTILE_OUTPUTS, "raise ValueError('<script>x</script>')"))
    sub = wait_for(api, user, sid)
    assert sub["failure_reason"].startswith("The notebook failed: cell 3 raised ValueError: <script>x</script>")
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    browser_login(page, hub, user.name)
    page.goto(hub.public_url + f"/services/podium/submissions/{sid}")
    page.wait_for_selector("#executed-notebook")
    assert page.inner_text("#status") == "failed"
    shown = page.inner_text("#executed-notebook")
    assert "<script>window.pwned = 'stream'</script>" in shown  # printed text stays text
    assert page.inner_text("#executed-notebook .cell-html b") == "bold"  # sanitized HTML keeps formatting
    assert page.locator("#executed-notebook script").count() == 0
    assert page.locator("#executed-notebook [onerror]").count() == 0
    assert "cell-failed" in page.get_attribute("#cell-3", "class")
    assert "ValueError" in page.inner_text("#cell-3")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.pwned") == "undefined"
    screenshot(page, "executed-notebook")
    download = page.get_attribute("#notebook-download", "href")
    with page.expect_download() as info:
        page.click("#notebook-download")
    assert download.endswith(f"/submissions/{sid}/executed_notebook")
    saved = json.loads(open(info.value.path()).read())
    assert saved["cells"][2]["outputs"][0]["ename"] == "ValueError"


# --- the clients: the organizer's dry run, the widget and `podium submit` ----------------------------

LABELS_NOTEBOOK = [
    "import pandas as pd\nitems = pd.read_csv('/app/input_data/items.csv')",
    "items['label'] = items['id'].map({1: 'a', 2: 'b', 3: 'c', 4: 'x'})",
    "items[['id', 'label']].to_csv('/app/output/predictions.csv', index=False)",
]


def labels_score(reference_dir, prediction_dir):
    import os

    import pandas as pd

    truth = pd.read_csv(os.path.join(reference_dir, "reference.csv"))
    pred = pd.read_csv(os.path.join(prediction_dir, "predictions.csv"))
    return {"accuracy": float((truth["label"] == pred["label"]).mean())}


def test_dry_run_widget_and_command_line_send_a_notebook(service, worker, creator, users, tmp_path) -> None:
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import pandas as pd
    from conftest import unique_slug
    from podium.widgets import Column, Competition, CompetitionDraft
    from podium.widgets.client import PodiumClient

    comp = CompetitionDraft(unique_slug("nbsub"), "Notebook competition", "Submit your notebook.",
                            client=PodiumClient(url=service.url, token=creator.token))
    comp.add_task("main", "Labels", scoring=labels_score,
                  reference_data=pd.DataFrame({"id": [1, 2, 3, 4], "label": ["a", "b", "c", "d"]}),
                  input_data={"items.csv": "id\n1\n2\n3\n4\n"})
    comp.add_leaderboard("main", "Results", [Column("accuracy", sorting="desc")])
    start = datetime.now(UTC) - timedelta(hours=1)
    comp.add_phase("Development", start, start + timedelta(days=7), accepts_notebooks=True, max_per_day=0,
                   max_total=0)
    notebook = tmp_path / "solution.ipynb"
    nb = new_notebook(cells=[new_code_cell(source) for source in LABELS_NOTEBOOK])
    nbformat.write(nb, notebook)

    dry = comp.dry_run(notebook, quiet=True)  # the organizer tries the starting notebook first
    assert dry["status"] == "finished" and dry["scores"] == {"accuracy": 0.75}, dry
    comp.publish()

    user = users.make("nbclient")
    participant = Competition(comp.slug, PodiumClient(url=service.url, token=user.token), download_dir=tmp_path)
    participant.register()
    assert "Notebooks: submit_notebook() sends this notebook" in participant.describe()
    final = participant.submit_notebook(notebook, wait=True)
    assert final["status"] == "finished" and final["scores"]["accuracy"] == 0.75, final
    assert final["description"] == "solution.ipynb"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "JUPYTERHUB_"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"), PODIUM_URL=service.url,
               JUPYTERHUB_API_TOKEN=user.token)
    podium = Path(sys.executable).parent / "podium"
    done = subprocess.run([str(podium), "submit", comp.slug, str(notebook), "--wait", "--json"], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scores"]["accuracy"] == 0.75
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not a notebook")
    refused = subprocess.run([str(podium), "submit", comp.slug, str(broken)], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode != 0 and "broken.ipynb is not a notebook" in refused.stderr
