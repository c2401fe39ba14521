"""The distribution maps every folder under ``podium`` and ships no generic top-level module."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_has_only_the_podium_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("jupyter_podium-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"podium"}, top_level
    for module in ("server/app.py", "server/orm.py", "worker/__init__.py", "widgets/__init__.py", "hub/cli.py"):
        assert f"podium/{module}" in names, module
    assert any(n.startswith("podium/server/alembic/versions/0001") for n in names)
    assert "podium/server/alembic/script.py.mako" in names
    # every module of the source tree is in the wheel: a subpackage left out of pyproject's list
    # passes every editable-install test and breaks `pip install`
    roots = {"server": "server", "worker": "worker", "widgets": "widgets", "hub_extension": "hub"}
    sources = {
        f"podium/{roots[path.relative_to(ROOT).parts[0]]}/{'/'.join(path.relative_to(ROOT).parts[1:])}"
        for folder in roots
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources - set(names) == set()


def test_imports_from_any_directory(tmp_path: Path) -> None:
    code = "import podium.server.app, podium.worker, podium.widgets, podium.hub.cli; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    for generic in ("server", "worker", "widgets", "hub_extension"):
        probe = subprocess.run(
            [sys.executable, "-c", f"import {generic}"], cwd=tmp_path, capture_output=True, text=True
        )
        assert probe.returncode != 0, f"a top-level module '{generic}' is importable"


def test_podium_command_lists_subcommands(tmp_path: Path) -> None:
    podium = Path(sys.executable).parent / "podium"
    out = subprocess.run([str(podium), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0
    for sub in ("service", "db", "images"):
        assert f"  {sub}" in out.stdout
    bad = subprocess.run([str(podium), "nope"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command 'nope'" in bad.stderr
