"""Notebook submissions on the worker: which submissions are notebooks, the command that executes
one in the competition's container (``run_notebook.py``, mounted read-only), and what the run
left behind, read as hostile input.

The notebook's own code runs in the same container as the runner, so the status file and the
executed copy may be anything: a link, a FIFO, gigabytes, invalid JSON, control characters.
They are opened without following links, read up to a cap, parsed strictly, and used for one
thing only: the participant's own failure message and their own copy of the executed notebook.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass

from .executors.base import Mount

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_notebook.py")
#: where the runner, the notebook's working folder and its results are inside the container
RUNNER_IN_CONTAINER = "/podium/run_notebook.py"
RESULTS_IN_CONTAINER = "/app/notebook"
EXECUTED = "executed.ipynb"
STATUS = "status.json"
#: bytes: the most of the status file ever read (a real one is under 1 KB)
MAX_STATUS_BYTES = 16 * 1024
#: characters of an exception's name and message kept for the failure reason
MAX_NAME_CHARS, MAX_MESSAGE_CHARS = 100, 300

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def submitted_notebook(folder: str) -> str | None:
    """The notebook a submission folder holds when it is a notebook submission: exactly one
    ``.ipynb`` file at its top, no ``metadata`` (a submission with a command runs that command).
    None otherwise."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    if any(name in ("metadata", "metadata.yaml", "metadata.yml") for name in entries):
        return None
    notebooks = [name for name in entries if name.lower().endswith(".ipynb") and not name.startswith(".")
                 and os.path.isfile(os.path.join(folder, name)) and not os.path.islink(os.path.join(folder, name))]
    return notebooks[0] if len(notebooks) == 1 else None


def command(notebook: str) -> list[str]:
    """The argv that executes ``notebook`` (a name in ``/app/program``) in the container."""
    return ["python3", RUNNER_IN_CONTAINER, f"/app/program/{notebook}", f"{RESULTS_IN_CONTAINER}/{EXECUTED}",
            f"{RESULTS_IN_CONTAINER}/{STATUS}"]


def mounts(results: str) -> list[Mount]:
    """The runner (read-only) and the folder it writes the executed copy and status file to."""
    return [Mount(RUNNER, RUNNER_IN_CONTAINER), Mount(results, RESULTS_IN_CONTAINER, read_only=False)]


def clean_text(text: str, limit: int) -> str:
    """Text from the container made safe for a one-line message: ANSI codes and control
    characters removed, whitespace collapsed, capped at ``limit`` characters."""
    text = _CONTROL.sub("", _ANSI.sub("", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_regular(path: str, cap: int) -> bytes | None:
    """Up to ``cap`` bytes of a regular file, never following a link; None if it is anything
    else or is missing. Returns None too when the file is larger than ``cap``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(cap + 1)
        return data if len(data) <= cap else None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class NotebookStatus:
    """What the runner says happened: ``state`` is running, failed, succeeded, unreadable or
    unknown (no usable status file); ``cell`` the position (from 1) of the last cell started."""

    state: str = "unknown"
    cell: int | None = None
    ename: str = ""
    evalue: str = ""

    def failure(self) -> str | None:
        """The participant's message for a failed run, or None when the file says nothing usable."""
        if self.state == "unreadable":
            return f"The notebook could not be read: {self.evalue or 'not a notebook file'}."
        if self.state != "failed" or self.cell is None:
            return None
        what = f"{self.ename}: {self.evalue}" if self.evalue else (self.ename or "an error")
        return f"cell {self.cell} raised {what}"


def read_status(path: str) -> NotebookStatus:
    """The runner's status file, parsed strictly (any deviation: ``unknown``)."""
    data = _read_regular(path, MAX_STATUS_BYTES)
    if data is None:
        return NotebookStatus()
    try:
        found = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NotebookStatus()
    if not isinstance(found, dict) or found.get("state") not in ("running", "failed", "succeeded", "unreadable"):
        return NotebookStatus()
    cell = found.get("cell")
    if not (isinstance(cell, int) and not isinstance(cell, bool) and 0 < cell < 1_000_000):
        cell = None
    ename = found.get("ename")
    ename = clean_text(ename, MAX_NAME_CHARS) if isinstance(ename, str) else ""
    if ename and not _IDENTIFIER.match(ename):
        ename = "an exception"
    evalue = found.get("evalue") if found["state"] == "failed" else found.get("error")
    evalue = clean_text(evalue, MAX_MESSAGE_CHARS) if isinstance(evalue, str) else ""
    return NotebookStatus(found["state"], cell, ename, evalue)


def executed_copy(results: str, max_bytes: int) -> str | None:
    """The executed notebook's path when it is a regular file of at most ``max_bytes`` holding a
    JSON object (what is shown of it is sanitized by the service), else None."""
    path = os.path.join(results, EXECUTED)
    data = _read_regular(path, max_bytes)
    if data is None:
        return None
    try:
        if not isinstance(json.loads(data.decode("utf-8")), dict):
            return None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    safe = os.path.join(results, "..", "executed-checked.ipynb")
    with open(safe, "wb") as f:  # a new file of ours: the container cannot swap it afterwards
        f.write(data)
    return os.path.normpath(safe)
