"""The organizer and instructor notebooks, executed top to bottom with nbclient against the real
service and a real worker, as the organizer user (kernel env PODIUM_URL and JUPYTERHUB_API_TOKEN,
nothing else), with their outputs checked."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import requests
from helpers.lti_platform import LEARNER, registered
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class HookedClient(NotebookClient):
    """Runs the notebook as NotebookClient does, calling ``before[marker]()`` before the first cell
    whose source holds ``marker``: what happens outside the notebook meanwhile (students opening
    the competition from their LMS)."""

    def __init__(self, book: nbformat.NotebookNode, before: dict[str, Callable[[], None]], **kwargs) -> None:
        super().__init__(book, **kwargs)
        self.before = dict(before)

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        for marker in [m for m in self.before if m in cell.source]:
            self.before.pop(marker)()
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)


def run_notebook(name: str, service, user, home: Path, before: dict[str, Callable[[], None]] | None = None,
                 **env: str) -> nbformat.NotebookNode:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    kernel_env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "JUPYTERHUB_"))}
    kernel_env.update(PODIUM_URL=service.url, JUPYTERHUB_API_TOKEN=user.token, HOME=str(home),
                      PODIUM_SLUG_SUFFIX=f"-{uuid.uuid4().hex[:8]}")
    kernel_env.update(env)
    client = HookedClient(book, before or {}, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": str(home)}})
    client.execute(env=kernel_env)
    assert not client.before, f"no cell holds {sorted(client.before)}"
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


def test_instructor_notebook_runs_the_course_loop(service, worker, creator, users, home, tmp_path_factory) -> None:
    """The class group's members are the roster: three play the class and two more a team (their
    tokens given to the notebook for the walk-through), a sixth never submits and still gets a
    grade. The course's LMS is the tests' LTI 1.3 platform: every student opens the competition
    from it once before the notebook's LMS cell, which then puts the grades in its gradebook."""
    group, tas = f"class-{uuid.uuid4().hex[:6]}", f"tas-{uuid.uuid4().hex[:6]}"
    students = [users.make(f"student{i}-", groups=(group,)) for i in (1, 2, 3)]
    pair = sorted((users.make(f"pair{i}-", groups=(group,)) for i in (1, 2)), key=lambda u: u.name)
    absent = users.make("absent-", groups=(group,))
    first, second, ill = sorted(students, key=lambda u: u.name)
    suffix = f"-{uuid.uuid4().hex[:8]}"
    with registered(service, tmp_path_factory.mktemp("lti") / "tool-key.pem") as lms:
        def open_from_the_course() -> None:
            for user in [*students, *pair, absent]:
                claims = lms.claims(sub=f"lms-{user.name}", email=user.name, roles=[LEARNER],
                                    custom={"competition": f"ml101-homework{suffix}"})
                assert lms.launch(requests.Session(), claims).status_code == 302

        book = run_notebook("instructor.ipynb", service, creator, home, before={"send_grades_to_lms": open_from_the_course},
                            PODIUM_CLASS_GROUP=group, PODIUM_TA_GROUP=tas, PODIUM_SLUG_SUFFIX=suffix,
                            PODIUM_DEMO_STUDENTS=json.dumps({u.name: u.token for u in students}),
                            PODIUM_DEMO_TEAM=json.dumps({u.name: u.token for u in pair}))
    text = text_of(book)
    assert f"for members of {group}, organized with {tas}" in text
    assert f"{ill.name} may submit until" in text
    assert f"teams: [('Pair', {[u.name for u in pair]!r})]" in text
    assert "Team Pair may submit until" in text
    assert f"{second.name} chose nothing: " in text and "'fallback': True" in text
    assert "late=0.1" in text  # the submission inside the grace period
    assert f"{first.name} refused: Phase 'Homework 1' closed at" in text
    assert f"{pair[0].name} selects for team Pair: True" in text  # after the deadline: the team's extension
    # public: first 1.0, ill 0.9, second 0.7, Pair 0.6; private (final selections): Pair 1.0, second 0.8,
    # ill 0.7, first 0.5
    assert "#1 team/Pair: private 1.00, public rank 4, shake-up +3" in text
    assert f"#2 {second.name}: private 0.80, public rank 3, shake-up +1" in text
    assert f"#3 {ill.name}: private 0.70, public rank 2, shake-up -1" in text
    assert f"#4 {first.name}: private 0.50, public rank 1, shake-up -3" in text
    canvas = list(csv.reader(io.StringIO(
        next((home / "podium-exports").glob("ml101-homework-*-grades-canvas.csv")).read_text())))
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "100"
    # second's late submission counts: 80 less its 10 %; each of the pair gets the team's 100;
    # absent never submitted
    expected = {first.name: "50", second.name: "72", ill.name: "70", pair[0].name: "100", pair[1].name: "100",
                absent.name: "0"}
    assert {r[3]: r[5] for r in canvas[2:]} == expected
    moodle = next((home / "podium-exports").glob("ml101-homework-*-grades-moodle.csv")).read_text()
    assert moodle.splitlines()[0].startswith("Username,")
    # the LMS cell: the same grades in the course's gradebook, one line item for the phase
    assert "Sent 6 grade(s) to 1 course(s)." in text, text[-3000:]
    (lineitem,) = lms.lineitems["course-1"].values()
    book_scores = {user: s["scoreGiven"] for (item, user), s in lms.gradebook.items() if item == lineitem["id"]}
    assert book_scores == {f"lms-{name}": float(grade) for name, grade in expected.items()}
