"""The organizer and instructor notebooks, executed top to bottom with nbclient against the real
service and a real worker, as the organizer user (kernel env PODIUM_URL and JUPYTERHUB_API_TOKEN,
nothing else), with their outputs checked."""

from __future__ import annotations

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


def test_instructor_notebook_runs_a_class_competition(service, worker, creator, users, home) -> None:
    group, tas = f"class-{uuid.uuid4().hex[:6]}", f"tas-{uuid.uuid4().hex[:6]}"
    book = run_notebook("instructor.ipynb", service, creator, home, PODIUM_CLASS_GROUP=group, PODIUM_TA_GROUP=tas)
    text = text_of(book)
    assert f"for members of {group}, organized with {tas}" in text
    assert "accuracy = 1" in text
    assert "Phase 'Homework 1' now runs" in text
    assert f"{creator.name} (dry run): finished {{'accuracy': 1.0}}" in text
    exports = list((home / "podium-exports").glob("ml101-homework-*-leaderboard.csv"))
    assert len(exports) == 1
    assert exports[0].read_bytes().decode().splitlines() == ["rank,participant,submission,submitted_at,Accuracy"]
