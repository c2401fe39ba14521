"""`podium token` against a real hub: a token scoped to the Podium service, made with the admin
token `podium up` records, and the sentences it says when it cannot make one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers.hub_harness import HubHarness
from podium.hub import installation
from podium.hub.service import access_scope
from podium.hub.tokens import TokenError, request_token

PODIUM = Path(sys.executable).parent / "podium"


def run_token(*args: str, tmp_path: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return subprocess.run([str(PODIUM), "token", *args], cwd=tmp_path, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def whoami(hub: HubHarness, token: str) -> dict:
    answer = requests.get(f"{hub.public_url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_token_for_any_user_with_the_admin_token_podium_up_keeps(hub: HubHarness, tmp_path: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    hub.create_user("token-organizer", groups=[hub.creator_group])
    data_dir = tmp_path / "up"
    installation.record(data_dir, hub.public_url, hub.public_url + hub.service_prefix, hub.setup_token)
    made = run_token("token-organizer", "--data-dir", str(data_dir), "--note", "for my script", tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(made.stdout.splitlines()) == 1  # only the token on stdout, for $(podium token ...)
    me = whoami(hub, token)
    assert me["name"] == "token-organizer"
    # the Podium API, and who the token's owner is (which the hub grants every token); nothing else
    assert access_scope() in me["scopes"]
    assert {s.split("!")[0] for s in me["scopes"]} == {"access:services", "read:users:name", "read:users:groups"}
    # found without --data-dir: the data dir podium up remembered last
    again = run_token("token-organizer", tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert whoami(hub, again.stdout.strip())["name"] == "token-organizer"
    unknown = run_token("nobody-here", "--data-dir", str(data_dir), tmp_path=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith(f"podium token: the hub at {hub.public_url} has no user 'nobody-here'")


def test_no_installation_and_no_hub_say_what_to_do(hub: HubHarness, tmp_path: Path) -> None:
    missing = run_token("someone", "--data-dir", str(tmp_path / "none"), tmp_path=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == (f"podium token: no installation of `podium up` found in {tmp_path / 'none'}: start one "
                              "with `podium up`, or name its hub with --hub-url.\n")
    with pytest.raises(TokenError, match=r"no hub answers at http://127.0.0.1:9 \(is `podium up` running\?\)"):
        request_token("http://127.0.0.1:9", "someone", password="x")
    with pytest.raises(TokenError, match="refused the user name or password of 'nobody-here'"):
        request_token(hub.public_url, "nobody-here", password="x")
