"""The organizer and instructor notebooks, executed top to bottom with nbclient against the real
service and a real worker, as the organizer user (kernel env PODIUM_URL and JUPYTERHUB_API_TOKEN,
nothing else), with their outputs checked."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(name: str, service, user, home: Path, **env: str) -> nbformat.NotebookNode:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    kernel_env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "JUPYTERHUB_"))}
    kernel_env.update(PODIUM_URL=service.url, JUPYTERHUB_API_TOKEN=user.token, HOME=str(home),
                      PODIUM_SLUG_SUFFIX=f"-{uuid.uuid4().hex[:8]}", **env)
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(home)}}).execute(env=kernel_env)
    return book


def text_of(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_organizer_notebook_dry_run_shows_the_expected_score(service, worker, creator, home) -> None:
    book = run_notebook("organizer.ipynb", service, creator, home)
    text = text_of(book)
    assert "expected score: {'accuracy': 0.75}" in text
    assert "finished in" in text and "accuracy = 0.75" in text
    assert "dry run score matches the expected score: {'accuracy': 0.75}" in text
    assert "published: True" in text
    assert "OrganizerPanel" in text or any(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for cell in book.cells for out in cell.get("outputs", []))


def test_instructor_notebook_runs_the_course_loop(service, worker, creator, users, home) -> None:
    """The class group's members are the roster: three play the class (their tokens given to the
    notebook for the walk-through), a fourth never submits and still gets a grade."""
    group, tas = f"class-{uuid.uuid4().hex[:6]}", f"tas-{uuid.uuid4().hex[:6]}"
    students = [users.make(f"student{i}-", groups=(group,)) for i in (1, 2, 3)]
    absent = users.make("absent-", groups=(group,))
    first, second, ill = sorted(students, key=lambda u: u.name)
    book = run_notebook("instructor.ipynb", service, creator, home, PODIUM_CLASS_GROUP=group, PODIUM_TA_GROUP=tas,
                        PODIUM_DEMO_STUDENTS=json.dumps({u.name: u.token for u in students}))
    text = text_of(book)
    assert f"for members of {group}, organized with {tas}" in text
    assert f"{ill.name} may submit until" in text
    assert f"{second.name} chose nothing: " in text and "'fallback': True" in text
    assert "late=0.1" in text  # the submission inside the grace period
    assert f"{first.name} refused: Phase 'Homework 1' closed at" in text
    # public: first 1.0, ill 0.9, second 0.7; private (final selections): second 0.8, ill 0.7, first 0.5
    assert f"#1 {second.name}: private 0.80, public rank 3, shake-up +2" in text
    assert f"#2 {ill.name}: private 0.70, public rank 2, shake-up +0" in text
    assert f"#3 {first.name}: private 0.50, public rank 1, shake-up -2" in text
    canvas = list(csv.reader(io.StringIO(
        next((home / "podium-exports").glob("ml101-homework-*-grades-canvas.csv")).read_text())))
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "100"
    # second's late submission counts: 80 less its 10 %; absent never submitted
    assert {r[3]: r[5] for r in canvas[2:]} == {first.name: "50", second.name: "72", ill.name: "70", absent.name: "0"}
    moodle = next((home / "podium-exports").glob("ml101-homework-*-grades-moodle.csv")).read_text()
    assert moodle.splitlines()[0].startswith("Username,")
