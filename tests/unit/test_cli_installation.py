"""`podium bundle` and `podium db` find the installation `podium up` made with no variable naming
it, and refuse a database at an old schema revision with one sentence that says the fix."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import competition_bundles as bb
from podium.hub import installation
from podium.server import db

PODIUM = Path(sys.executable).parent / "podium"


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No PODIUM_* variable, and the "last podium up" pointer in a tmp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state")}


def podium(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(PODIUM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_bundle_commands_find_the_installation_podium_up_recorded(tmp_path: Path, monkeypatch) -> None:
    env = clean_env(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    data_dir = tmp_path / "somewhere" / "demo"
    recorded = installation.record(data_dir, "http://127.0.0.1:9", "http://127.0.0.1:9/services/podium/", "t0ken")
    assert (data_dir / installation.ADMIN_TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    assert installation.find() == recorded and recorded.admin_token() == "t0ken"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    upgraded = podium("db", "upgrade", cwd=elsewhere, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"(the installation `podium up` made in {data_dir})" in upgraded.stderr
    assert (data_dir / "podium" / "podium.sqlite").exists()
    bundle = tmp_path / "legacy.zip"
    bundle.write_bytes(bb.codalab_v15())
    imported = podium("bundle", "import", str(bundle), "--owner", "alice", cwd=elsewhere, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "Imported 'Legacy Letters' as legacy-letters" in imported.stdout
    exported = podium("bundle", "export", "legacy-letters", "-o", str(tmp_path / "out.zip"), cwd=elsewhere, env=env)
    assert exported.returncode == 0, exported.stderr
    assert "competition.yaml" in zipfile.ZipFile(tmp_path / "out.zip").namelist()
    assert not list(elsewhere.iterdir())  # nothing landed in ./podium-data

    # a database named on the command line wins over the installation
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    named = podium("db", "upgrade", f"--db-url={other}", f"--data-dir={tmp_path / 'other'}", cwd=elsewhere, env=env)
    assert named.returncode == 0 and "installation" not in named.stderr


def test_the_default_data_dir_in_the_current_folder_is_found_first(tmp_path: Path, monkeypatch) -> None:
    env = clean_env(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    here = tmp_path / "project"
    installation.record(here / installation.DEFAULT_DATA_DIR, "http://127.0.0.1:9", "http://x/", "t")
    (tmp_path / "state" / "podium" / "last-up").write_text(str(tmp_path / "gone") + "\n")
    upgraded = podium("db", "upgrade", cwd=here, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (here / installation.DEFAULT_DATA_DIR / "podium" / "podium.sqlite").exists()


def test_an_old_schema_is_refused_with_one_sentence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    db.upgrade(url, "0006")
    env = clean_env(tmp_path)
    common = [f"--db-url={url}", f"--data-dir={tmp_path}"]
    refused = podium("bundle", "export", "anything", *common, cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        f"podium bundle: The database at {url} is at schema revision 0006, this Podium needs "
        f"{db.head_revision()}: run `podium db upgrade --db-url={url} --data-dir={tmp_path}`.\n"
    )
    # the command it names is the fix
    fixed = podium("db", "upgrade", *common, cwd=tmp_path, env=env)
    assert fixed.returncode == 0, fixed.stderr
    after = podium("bundle", "export", "anything", *common, cwd=tmp_path, env=env)
    assert after.returncode == 1 and after.stderr == "podium bundle: no competition 'anything'\n"
