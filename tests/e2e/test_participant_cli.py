"""The participant's ``podium`` commands run as a subprocess against the real service, hub and
Docker worker: in a hub terminal (token from the environment) and outside it (after
``podium login``); tables, ``--json``, downloads, submitting and waiting, and the exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_widgets_participant import PERFECT, STARTING_KIT, THREE_RIGHT, TRAIN, iris_competition

pytestmark = pytest.mark.one_backend  # the commands are what is tested, not the database

PODIUM = Path(sys.executable).parent / "podium"


class Terminal:
    """A shell's environment for ``podium``: no Podium variables but those given, its own config."""

    def __init__(self, home: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PODIUM_", "JUPYTERHUB_")) and k != "XDG_CONFIG_HOME"}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), **env)
        self.cwd = home

    def run(self, *argv: str, stdin: str | None = None, expect: int | None = 0,
            timeout: float = 240) -> subprocess.CompletedProcess:
        done = subprocess.run([str(PODIUM), *argv], env=self.env, cwd=self.cwd, input=stdin, text=True,
                              capture_output=True, timeout=timeout)
        if expect is not None:
            assert done.returncode == expect, (argv, done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *argv: str, expect: int = 0) -> object:
        return json.loads(self.run(*argv, "--json", expect=expect).stdout)


@pytest.fixture(scope="module")
def iris(api, creator, service):
    return iris_competition(api, creator, max_submissions_per_day=2, max_submissions=20)


def test_in_a_hub_terminal_the_token_comes_from_the_environment(iris, users, service, worker, tmp_path) -> None:
    user = users.make("terminal")
    shell = Terminal(tmp_path, JUPYTERHUB_API_TOKEN=user.token, PODIUM_URL=service.url)
    slug = iris["slug"]

    listed = shell.run("competitions").stdout
    assert slug in listed and listed.splitlines()[0].split() == ["slug", "title", "you"]
    assert shell.run("login").stderr.startswith(f"In this hub terminal you are {user.name} already")
    assert not (tmp_path / ".config" / "podium" / "login.json").exists()

    shown = shell.run("show", slug).stdout
    assert "Registration: not registered" in shown and "Development *" in shown
    assert shell.run("register", slug).stdout.strip() == "You are registered: you may submit."
    assert slug in shell.run("competitions", "--mine").stdout
    assert "2 of 2 submissions left today" in shell.run("show", slug).stdout

    saved = shell.json("download", slug, "--dir", "data")
    assert saved == {"public_data": str(Path("data") / "public_data"), "starting_kit": str(Path("data") / "starting_kit")}
    assert (tmp_path / "data" / "public_data" / "train.csv").read_text() == TRAIN
    assert (tmp_path / "data" / "starting_kit" / "README.md").read_text().encode() in STARTING_KIT

    (tmp_path / "predictions.csv").write_text(PERFECT)
    done = shell.run("submit", slug, "predictions.csv", "-d", "from the terminal", "--wait", "--progress")
    assert "100%" in done.stderr and "Submission " in done.stderr, done.stderr
    assert "Status:      finished" in done.stdout and "accuracy 1.0" in done.stdout, done.stdout
    sid = int(done.stdout.split()[1])

    detail = shell.json("status", str(sid))
    assert detail["status"] == "finished" and detail["description"] == "from the terminal"
    assert detail["scores"] == {"accuracy": 1.0}
    mine = shell.run("status").stdout.splitlines()
    assert mine[0].split() == ["id", "competition", "phase", "status", "submitted", "result"]
    assert mine[2].split()[:4] == [str(sid), slug, "Development", "finished"]

    board = shell.run("leaderboard", slug).stdout.splitlines()
    assert board[0].split()[:3] == ["#", "participant", "Accuracy"]
    assert board[2].split()[:3] == ["1", user.name, "1.0000"]
    assert user.name in shell.run("leaderboard", slug, "--phase", "Development", "--csv").stdout
    assert shell.json("logs", str(sid))["live"] is False

    assert shell.json("select", str(sid))["selected"] is True
    assert "no longer chosen" in shell.run("select", str(sid), "--unselect").stdout


def test_outside_the_hub_after_podium_login(iris, users, service, worker, api, tmp_path) -> None:
    user = users.make("laptop")
    shell = Terminal(tmp_path)
    slug = iris["slug"]

    not_logged_in = shell.run("competitions", expect=6)
    assert "Not logged in: run `podium login --url URL`" in not_logged_in.stderr

    refused = shell.run("login", "--url", service.url, "--token-stdin", stdin="not-a-token\n", expect=6)
    assert refused.stderr.startswith("podium login: ")
    stored = tmp_path / ".config" / "podium" / "login.json"
    assert not stored.exists()
    shell.run("login", "--url", service.url, "--token-stdin", stdin=user.token + "\n")
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert json.loads(stored.read_text())["token"] == user.token

    assert shell.run("show", "no-such-competition", expect=5).stderr.startswith("podium show: ")
    assert "has no phase 'Final'" in shell.run("download", slug, "--phase", "Final", expect=5).stderr
    unregistered = shell.run("submit", slug, "predictions.csv", expect=None)
    assert unregistered.returncode == 1 and "There is no file or folder" in unregistered.stderr
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "predictions.csv").write_text(THREE_RIGHT)
    assert shell.run("submit", slug, "run", expect=7).stderr.startswith("podium submit: ")  # not registered

    shell.run("register", slug)
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "answers.txt").write_text("no predictions.csv here")
    failed = shell.run("submit", slug, "wrong", "--wait", "--json", expect=4)
    assert json.loads(failed.stdout)["status"] == "failed"

    sent = shell.json("submit", slug, "run")
    assert sent["status"] == "submitted"
    for _ in range(sent["quota"]["remaining_today"]):  # the failed one may or may not have counted
        shell.run("submit", slug, "run")
    over = shell.run("submit", slug, "run", expect=3)
    assert "You have used all your submissions for today" in over.stderr

    followed = shell.run("logs", str(sent["id"]), "--follow", "--interval", "0.5")
    assert f"Submission {sent['id']}: finished" in followed.stderr
    assert shell.run("status", "999999999", expect=5).stderr.startswith("podium status: No such submission")

    shell.run("login", "--logout")
    assert not stored.exists()
    shell.run("competitions", expect=6)
