"""The README's first command: `podium up` brings the platform up, shows it working, and stops
everything it started on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import requests
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


def stop_everything(up: subprocess.Popen) -> None:
    """Stop `podium up` as Ctrl-C would, then end whatever it left behind (its hub, proxy,
    service and worker: killing `podium up` alone leaves them running into the next tests)."""
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


def run_up(args: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`podium up ARGS` to its end, its output captured. Past ``timeout`` everything it started
    is stopped (``stop_everything``) and the test fails with what it printed."""
    with subprocess.Popen([str(PODIUM), "up", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as up:
        try:
            out, err = up.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_everything(up)
            try:
                out, err = up.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                out, err = "", "(its output stayed open)"
            raise AssertionError(f"podium up {' '.join(args)} did not end within {timeout} s:\n{out}{err}") from None
    return subprocess.CompletedProcess(up.args, up.returncode, out, err)


def check_demo_output(out: str) -> None:
    assert "Podium is up: http://127.0.0.1:" in out
    assert "Competition 'Iris: a demo competition' (iris-demo), phase 'Development' (current)" in out
    assert "Submission 1 by demo-participant: finished with scores {'accuracy': 0.75}" in out
    assert "    1  demo-participant     {'accuracy': '0.7500'}" in out
    assert "quota today: 4 left" in out
    assert "API tokens for scripts: `podium token demo-organizer`" in out


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """This machine's environment, with the "last podium up" pointer in a tmp dir (not ~/.local)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PODIUM_DEMO_DIR", "PODIUM_DATA_DIR", "PODIUM_DB_URL")}
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}


def check_tokens_and_bundles_outside_the_hub(tmp_path: Path, env: dict[str, str]) -> None:
    """`podium token` and `podium bundle` find the running installation with no variable naming it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = json.loads(next(tmp_path.glob("*/installation.json")).read_text())

    def podium(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(PODIUM), *args], cwd=elsewhere, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    def me(token: str) -> dict:
        answer = requests.get(state["service_url"] + "api/v1/me", headers={"Authorization": f"token {token}"},
                              timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    made = podium("token", "demo-organizer")
    assert made.returncode == 0, made.stderr
    assert me(made.stdout.strip())["name"] == "demo-organizer"
    shell = podium("token", "demo-participant", "--env")
    assert shell.returncode == 0, shell.stderr
    assert f"export PODIUM_URL={state['service_url']}\n" in shell.stdout
    token = shell.stdout.split("export PODIUM_TOKEN=")[1].strip()
    assert me(token)["name"] == "demo-participant"
    # a user who did not run `podium up` proves who they are with their hub password
    own = podium("token", "demo-participant", "--hub-url", state["hub_url"], "--password-stdin", stdin="podium\n")
    assert own.returncode == 0, own.stderr
    assert me(own.stdout.strip())["name"] == "demo-participant"
    wrong = podium("token", "demo-participant", "--hub-url", state["hub_url"], "--password-stdin", stdin="nope\n")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (f"podium token: the hub at {state['hub_url']} refused the user name or "
                                    "password of 'demo-participant'")
    exported = podium("bundle", "export", "iris-demo", "-o", str(tmp_path / "iris.zip"))
    assert exported.returncode == 0, exported.stderr
    assert "competition.yaml" in zipfile.ZipFile(tmp_path / "iris.zip").namelist()


def test_podium_up_serves_until_ctrl_c_and_leaves_no_process_behind(tmp_path: Path) -> None:
    data_dir = tmp_path / "up"
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen(
            [str(PODIUM), "up", "--data-dir", str(data_dir), "--port", str(free_port()), "--executor", "docker"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=isolated_env(tmp_path),
        )
    try:
        deadline = time.monotonic() + 400
        while "Serving; press Ctrl-C to stop." not in log.read_text():
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        check_demo_output(log.read_text())
        check_tokens_and_bundles_outside_the_hub(tmp_path, isolated_env(tmp_path))
        started = descendants(up.pid)
        commands = " ".join(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
                            for pid, _ in started if Path(f"/proc/{pid}/cmdline").exists())
        for part in ("jupyterhub", "configurable-http-proxy", "podium.hub.cli service", "podium.hub.cli worker"):
            assert part in commands, commands
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, log.read_text()
    finally:
        stop_everything(up)  # even when a check failed
    time.sleep(1)
    left = [pid for pid, start in started if still_alive((pid, start))]
    assert not left, f"processes left behind: {left}\n{log.read_text()}"
    assert "==> stopping the worker, JupyterHub and the Podium service" in log.read_text()
    # each demo user finds their walk-through notebooks in their JupyterLab home
    assert (data_dir / "hub" / "homes" / "demo-participant" / "participant.ipynb").is_file()
    assert (data_dir / "hub" / "homes" / "demo-organizer" / "organizer.ipynb").is_file()
    # the files holding the hub admin token are the owner's alone
    for secret in (data_dir / "admin_token", data_dir / "hub" / "jupyterhub_config.py"):
        assert secret.stat().st_mode & 0o077 == 0, secret
    # the service kept its state in the data dir, on SQLite with local storage
    assert (data_dir / "podium" / "podium.sqlite").exists()
    stored = list((data_dir / "podium" / "storage" / "submissions").rglob("*"))
    assert any(p.is_file() for p in stored)


def test_podium_up_no_serve_runs_participant_code_in_docker_by_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "up"
    out = run_up(["--no-serve", "--data-dir", str(data_dir), "--port", str(free_port())], 600, isolated_env(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    check_demo_output(out.stdout)
    assert "==> engine: the Docker engine answers" in out.stdout
    assert "Scored by demo-worker with the docker executor (participant code ran isolated in a container)" \
        in out.stdout
    assert "(DockerExecutor, " in (data_dir / "worker" / "worker.log").read_text()
    assert "does NOT isolate" not in out.stdout


def test_podium_up_no_serve_with_the_local_executor(tmp_path: Path) -> None:
    out = run_up(["--no-serve", "--data-dir", str(tmp_path / "up"), "--port", str(free_port()), "--executor", "local"],
                 400)
    assert out.returncode == 0, out.stdout + out.stderr
    check_demo_output(out.stdout)
    assert "does NOT isolate" in out.stdout
    assert "Scored by demo-worker with the local executor (participant code ran WITHOUT isolation)" in out.stdout


def test_podium_demo_is_the_same_command() -> None:
    out = subprocess.run([str(PODIUM), "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: podium up" in out.stdout
