"""The README's first command: `podium up` brings the platform up, shows it working, and stops
everything it started on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_port

PODIUM = Path(sys.executable).parent / "podium"


def descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live process below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        started[int(entry)] = fields[19]
    found: set[tuple[int, str]] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add((child, started[child]))
            todo.append(child)
    return found


def still_alive(process: tuple[int, str]) -> bool:
    """Is this exact process (same pid and start time, so not a reused pid) still running?"""
    pid, start = process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] == start and fields[0] != "Z"


def check_demo_output(out: str) -> None:
    assert "Podium is up: http://127.0.0.1:" in out
    assert "Competition 'Iris: a demo competition' (iris-demo), phase 'Development' (current)" in out
    assert "Submission 1 by demo-participant: finished with scores {'accuracy': 0.75}" in out
    assert "    1  demo-participant     {'accuracy': '0.7500'}" in out
    assert "quota today: 4 left" in out


def test_podium_up_serves_until_ctrl_c_and_leaves_no_process_behind(tmp_path: Path) -> None:
    data_dir = tmp_path / "up"
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen(
            [str(PODIUM), "up", "--data-dir", str(data_dir), "--port", str(free_port()), "--executor", "docker"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 400
        while "Serving; press Ctrl-C to stop." not in log.read_text():
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        check_demo_output(log.read_text())
        started = descendants(up.pid)
        commands = " ".join(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
                            for pid, _ in started if Path(f"/proc/{pid}/cmdline").exists())
        for part in ("jupyterhub", "configurable-http-proxy", "podium.hub.cli service", "podium.hub.cli worker"):
            assert part in commands, commands
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, log.read_text()
    finally:
        # even when a check failed: stop it as Ctrl-C would, then end whatever it left behind
        seen = descendants(up.pid) if up.poll() is None else set()
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
        for pid, start in seen:
            if still_alive((pid, start)):
                os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    left = [pid for pid, start in started if still_alive((pid, start))]
    assert not left, f"processes left behind: {left}\n{log.read_text()}"
    assert "==> stopping the worker, JupyterHub and the Podium service" in log.read_text()
    # each demo user finds their walk-through notebooks in their JupyterLab home
    assert (data_dir / "hub" / "homes" / "demo-participant" / "participant.ipynb").is_file()
    assert (data_dir / "hub" / "homes" / "demo-organizer" / "organizer.ipynb").is_file()
    # the service kept its state in the data dir, on SQLite with local storage
    assert (data_dir / "podium" / "podium.sqlite").exists()
    stored = list((data_dir / "podium" / "storage" / "submissions").rglob("*"))
    assert any(p.is_file() for p in stored)


def test_podium_up_no_serve_with_the_local_executor(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(PODIUM), "up", "--no-serve", "--data-dir", str(tmp_path / "up"), "--port", str(free_port()),
         "--executor", "local"],
        capture_output=True, text=True, timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    check_demo_output(out.stdout)
    assert "does NOT isolate" in out.stdout


def test_podium_demo_is_the_same_command() -> None:
    out = subprocess.run([str(PODIUM), "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: podium up" in out.stdout
