"""The README's first command: `podium demo` brings the platform up and shows it working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port


@pytest.mark.parametrize("executor", ["docker", "local"])
def test_podium_demo_scores_a_submission_through_the_hub(tmp_path: Path, executor: str) -> None:
    podium = Path(sys.executable).parent / "podium"
    out = subprocess.run(
        [str(podium), "demo", "--no-serve", "--data-dir", str(tmp_path / "demo"), "--port", str(free_port()),
         "--executor", executor],
        capture_output=True, text=True, timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Podium is up: http://127.0.0.1:" in out.stdout
    assert "Competition 'Iris: a demo competition' (iris-demo), phase 'Development' (current)" in out.stdout
    assert "Submission 1 by demo-participant: finished with scores {'accuracy': 0.75}" in out.stdout
    assert "    1  demo-participant     {'accuracy': '0.7500'}" in out.stdout
    if executor == "local":
        assert "does NOT isolate" in out.stdout
    assert "quota today: 4 left" in out.stdout
    # the service kept its state in the demo's data dir, on SQLite with local storage
    assert (tmp_path / "demo" / "podium" / "podium.sqlite").exists()
    stored = list((tmp_path / "demo" / "podium" / "storage" / "submissions").rglob("*"))
    assert any(p.is_file() for p in stored)
