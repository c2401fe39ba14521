"""Notebook submissions, the parts that need no Docker: the runner script executing real
notebooks on a real kernel (this environment's, as the image's would), the worker reading what a
run left as hostile input, the page's sanitized view of an executed notebook, and the client's
check that a file is a notebook. The Docker path is tests/e2e/test_notebook_submissions.py."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from podium.server.web import notebook_view
from podium.widgets import packaging
from podium.worker import notebooks

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def write_notebook(path, *sources: str) -> str:
    nb = new_notebook(cells=[new_markdown_cell("# A notebook"), *[new_code_cell(s) for s in sources]])
    nbformat.write(nb, str(path))
    return str(path)


def run_runner(tmp_path, *sources: str) -> tuple[subprocess.CompletedProcess, dict, dict | None]:
    source = write_notebook(tmp_path / "work.ipynb", *sources)
    executed, status = tmp_path / "executed.ipynb", tmp_path / "status.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, notebooks.RUNNER, source, str(executed), str(status)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    return done, json.loads(status.read_text()), json.loads(executed.read_text()) if executed.exists() else None


# --- the runner script, on a real kernel ------------------------------------------------------------


def test_runner_executes_every_cell_and_keeps_outputs(tmp_path) -> None:
    done, status, executed = run_runner(tmp_path, "x = 6 * 7", "print(x)", "x")
    assert done.returncode == 0, done.stderr
    assert status == {"state": "succeeded", "cells": 4}
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert "".join(code[1]["outputs"][0]["text"]) == "42\n"
    assert "".join(code[2]["outputs"][0]["data"]["text/plain"]) == "42"


def test_runner_names_the_cell_that_raised_and_stops_there(tmp_path) -> None:
    # cell 1 is markdown: cells are numbered by their place in the notebook, as JupyterLab shows them
    done, status, executed = run_runner(tmp_path, "a = 1", "1 / 0", "print('never')")
    assert done.returncode == 1
    assert status == {"state": "failed", "cell": 3, "ename": "ZeroDivisionError", "evalue": "division by zero"}
    assert "cell 3 raised ZeroDivisionError: division by zero" in done.stderr
    failed = executed["cells"][2]
    assert failed["outputs"][0]["output_type"] == "error"
    assert executed["cells"][3]["outputs"] == []  # not run


def test_runner_reports_an_unreadable_notebook(tmp_path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    status = tmp_path / "status.json"
    done = subprocess.run([sys.executable, notebooks.RUNNER, str(bad), str(tmp_path / "out.ipynb"), str(status)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    found = notebooks.read_status(str(status))
    assert found.state == "unreadable" and found.failure().startswith("The notebook could not be read:")


# --- which submissions are notebooks ------------------------------------------------------------


def test_a_notebook_submission_is_one_notebook_without_metadata(tmp_path) -> None:
    (tmp_path / "work.ipynb").write_text("{}")
    assert notebooks.submitted_notebook(str(tmp_path)) == "work.ipynb"
    (tmp_path / "notes.txt").write_text("x")
    assert notebooks.submitted_notebook(str(tmp_path)) == "work.ipynb"  # data files may come along
    (tmp_path / "metadata").write_text("command: python run.py")
    assert notebooks.submitted_notebook(str(tmp_path)) is None  # a command wins
    os.remove(tmp_path / "metadata")
    (tmp_path / "second.ipynb").write_text("{}")
    assert notebooks.submitted_notebook(str(tmp_path)) is None  # which one? none is guessed
    os.remove(tmp_path / "second.ipynb")
    os.remove(tmp_path / "work.ipynb")
    os.symlink("/etc/passwd", tmp_path / "link.ipynb")
    assert notebooks.submitted_notebook(str(tmp_path)) is None


# --- the status file is hostile input ------------------------------------------------------------


def status_from(tmp_path, content: bytes | str) -> notebooks.NotebookStatus:
    path = tmp_path / "status.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return notebooks.read_status(str(path))


def test_status_names_cell_and_exception(tmp_path) -> None:
    found = status_from(tmp_path, json.dumps({"state": "failed", "cell": 3, "ename": "ZeroDivisionError",
                                              "evalue": "division by zero"}))
    assert found.failure() == "cell 3 raised ZeroDivisionError: division by zero"


@pytest.mark.parametrize("content", [
    b"", b"not json", b"[1, 2]", b'{"state": "won"}', b"\xff\xfe", b"[" * 100000,
    json.dumps({"state": "failed", "cell": 1, "ename": "x" * 10, "pad": "y" * 20000}).encode(),
])
def test_unusable_status_files_say_nothing(tmp_path, content) -> None:
    assert status_from(tmp_path, content).failure() is None


def test_status_text_is_stripped_of_control_characters_and_capped(tmp_path) -> None:
    found = status_from(tmp_path, json.dumps({
        "state": "failed", "cell": True, "ename": "Evil\x1b[31mError", "evalue": "a\x1b[2J\x07b\r\nc" + "z" * 1000}))
    assert found.cell is None and found.failure() is None  # a boolean is not a cell number
    found = status_from(tmp_path, json.dumps({
        "state": "failed", "cell": 2, "ename": "<script>", "evalue": "a\x1b[2J\x07b\r\nc" + "z" * 1000}))
    assert found.ename == "an exception"
    assert found.evalue.startswith("ab c") and len(found.evalue) == notebooks.MAX_MESSAGE_CHARS
    assert not any(ord(ch) < 32 for ch in found.failure())


def test_a_linked_or_special_status_file_is_not_read(tmp_path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"state": "failed", "cell": 1, "ename": "Leaked", "evalue": "reference data"}))
    os.symlink(secret, tmp_path / "status.json")
    assert notebooks.read_status(str(tmp_path / "status.json")).failure() is None
    os.mkfifo(tmp_path / "fifo.json")
    assert notebooks.read_status(str(tmp_path / "fifo.json")).state == "unknown"  # and it does not block


def test_executed_copy_is_checked_and_copied(tmp_path) -> None:
    results = tmp_path / "notebook"
    results.mkdir()
    assert notebooks.executed_copy(str(results), 1000) is None
    (results / notebooks.EXECUTED).write_text(json.dumps({"cells": []}))
    copy = notebooks.executed_copy(str(results), 1000)
    assert copy is not None and os.path.dirname(copy) == str(tmp_path) and json.load(open(copy)) == {"cells": []}
    (results / notebooks.EXECUTED).write_text(json.dumps({"cells": ["x" * 2000]}))
    assert notebooks.executed_copy(str(results), 1000) is None  # over the output slot's cap
    os.remove(results / notebooks.EXECUTED)
    os.symlink(tmp_path / "elsewhere.ipynb", results / notebooks.EXECUTED)
    (tmp_path / "elsewhere.ipynb").write_text("{}")
    assert notebooks.executed_copy(str(results), 1000) is None


# --- the page's view of an executed notebook -------------------------------------------------------


def hostile_notebook() -> bytes:
    cell = new_code_cell("print('<script>alert(1)</script>')")
    cell.outputs = [
        new_output("stream", name="stdout", text="\x1b[31m<script>alert(2)</script>\x1b[0m\n"),
        new_output("display_data", data={"text/html": "<img src=x onerror=alert(3)><b>bold</b><script>alert(4)</script>",
                                         "text/plain": "x"}),
        new_output("display_data", data={"application/javascript": "alert(5)"}),
        new_output("display_data", data={"image/svg+xml": "<svg onload=alert(6)></svg>"}),
        new_output("display_data", data={"image/png": PNG}),
        new_output("display_data", data={"image/png": "\"><script>alert(7)</script>"}),
        new_output("error", ename="ValueError", evalue="bad", traceback=["\x1b[0;31mValueError\x1b[0m: bad"]),
    ]
    nb = new_notebook(cells=[new_markdown_cell("<script>alert(8)</script>\n\n**ok**"), cell])
    return nbformat.writes(nb).encode()


def test_notebook_view_keeps_text_and_drops_active_content() -> None:
    cells = notebook_view.notebook_cells(hostile_notebook())
    assert [c["number"] for c in cells] == [1, 2]
    assert "<script" not in cells[0]["html"] and "<strong>ok</strong>" in cells[0]["html"]
    code = cells[1]
    assert code["failed"] and code["source"] == "print('<script>alert(1)</script>')"  # text, escaped by the template
    kinds = [o["kind"] for o in code["outputs"]]
    assert kinds == ["stream", "html", "dropped", "dropped", "image", "dropped", "error"]
    stream, html, _, _, image, _, error = code["outputs"]
    assert stream["text"] == "<script>alert(2)</script>\n"  # ANSI codes gone
    assert "onerror" not in html["html"] and "<script" not in html["html"] and "<b>bold</b>" in html["html"]
    assert image["src"] == f"data:image/png;base64,{PNG}"
    assert error["text"] == "ValueError: bad"


@pytest.mark.parametrize("data", [b"x" * 10, b"[]", b'{"cells": 3}', b"\xff"])
def test_notebook_view_refuses_what_is_not_a_notebook(data) -> None:
    with pytest.raises(notebook_view.NotebookUnreadable):
        notebook_view.notebook_cells(data)


# --- the client refuses a file that is not a notebook ---------------------------------------------


def test_client_checks_a_notebook_before_sending_it(tmp_path) -> None:
    good = write_notebook(tmp_path / "good.ipynb", "print(1)")
    assert packaging.zip_path(good)
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{oops")
    with pytest.raises(packaging.PackagingError, match="bad.ipynb is not a notebook"):
        packaging.zip_path(bad)
    with pytest.raises(packaging.PackagingError, match="not a notebook"):
        packaging.zip_notebook(bad)
