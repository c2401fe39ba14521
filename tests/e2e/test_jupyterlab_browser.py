"""The participant's whole path in a real browser: the hub spawns JupyterLab, the participant
notebook runs in it, the widget's Submit button sends a file, the status reaches "finished" and
the row appears in the widget's leaderboard. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from helpers.web_session import PASSWORD, chromium, screenshot
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_widgets_participant import THREE_RIGHT, iris_competition


def notebook_for(slug: str, home: Path) -> Path:
    """notebooks/participant.ipynb in the user's home, pointed at ``slug``."""
    nb = nbformat.read(ROOT / "notebooks" / "participant.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace('"iris-demo"', repr(slug))
    home.mkdir(parents=True, exist_ok=True)
    path = home / "participant.ipynb"
    nbformat.write(nb, path)
    return path


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


@pytest.mark.one_backend
def test_participant_submits_from_jupyterlab_in_a_browser(hub, service, api, creator, users, worker, tmp_path) -> None:
    comp = iris_competition(api, creator)
    user = users.make("lab")
    home = Path(hub.workdir) / "homes" / user.name
    notebook_for(comp["slug"], home)
    predictions = tmp_path / "predictions.csv"
    predictions.write_text(THREE_RIGHT)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        try:
            page.goto(f"{hub.public_url}/hub/login")
            page.fill("input[name=username]", user.name)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login_submit")
            page.wait_for_url(re.compile(r".*/hub/(home|spawn|user).*"))
            page.goto(f"{hub.public_url}/hub/spawn/{user.name}?next=/user/{user.name}/lab/tree/participant.ipynb")
            # the hub spawns the server (spawn-pending page), then JupyterLab opens the notebook
            page.wait_for_url(re.compile(rf".*/user/{user.name}/lab.*"), timeout=180_000)
            page.locator(".jp-Notebook").first.wait_for()
            # JupyterLab may ask which kernel to start, even for a notebook that names one
            select = page.locator(".jp-Dialog button", has_text=re.compile(r"^\s*Select\s*$"))
            try:
                select.wait_for(timeout=10_000)
                select.click()
            except PlaywrightTimeout:
                pass
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
            run_all_cells(page)

            # the notebook's own submission (a DataFrame) ends with the rank print-out
            page.locator(".jp-OutputArea-output", has_text="My rank: 1").first.wait_for()
            screenshot(page, "jupyterlab-notebook-run")

            # now the widget's own form (in the first cell's output: back to the top, as JupyterLab
            # keeps only the cells in view in the page): choose a file, click Submit
            page.locator(".jp-WindowedPanel-outer").first.evaluate("element => { element.scrollTop = 0; }")
            # only what is shown: a hidden tab (Final, Team, My submissions) may name the submission too
            first_result = page.locator(".widget-html:visible", has_text=re.compile(r"Submission \d+ finished")).first
            first_result.wait_for()
            first_id = int(re.search(r"Submission (\d+) finished", first_result.text_content()).group(1))
            with page.expect_file_chooser() as chooser:
                page.locator("button.jupyter-button", has_text="Choose file").first.click()
            chooser.value.set_files(str(predictions))
            page.locator("button.jupyter-button", has_text="Choose file (1)").first.wait_for()
            page.locator("button.jupyter-button", has_text=re.compile(r"^\s*Submit\s*$")).first.click()
            second = page.locator(".widget-html:visible", has_text=re.compile(rf"Submission (?!{first_id}\b)\d+ finished"))
            second.first.wait_for()
            text = second.first.inner_text()
            assert "accuracy" in text.lower() and "0.75" in text, text
            assert page.locator(".widget-label", has_text=re.compile(r"^finished$")).count() >= 1
            screenshot(page, "jupyterlab-widget-submitted")

            page.locator(".lm-TabBar-tabLabel, .widget-tab .p-TabBar-tabLabel", has_text="Leaderboard").first.click()
            row = page.locator(".widget-html tr", has_text=user.name).first
            row.wait_for(state="visible")
            assert "1.0000" in row.inner_text() or "1.0" in row.inner_text(), row.inner_text()
            screenshot(page, "jupyterlab-widget-leaderboard")
        except Exception:
            screenshot(page, "jupyterlab-failure")
            raise
        finally:
            page.close()

    board = api(user, "GET", f"/phases/{comp['phases'][0]['id']}/leaderboard", expect=200).json()
    assert [e["owner"] for e in board["entries"]] == [user.name]
    mine = api(user, "GET", f"/phases/{comp['phases'][0]['id']}/submissions", expect=200).json()
    assert sorted(s["scores"]["accuracy"] for s in mine["submissions"]) == [0.75, 1.0]
    shutil.rmtree(home, ignore_errors=True)
