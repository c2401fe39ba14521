"""Runtime images: the alias map, the build recipe, and the real images run on the real engine."""

from __future__ import annotations

import subprocess

import pytest
from podium.worker import images
from podium.worker.errors import ImageBuildError
from podium.worker.images import (
    DEFAULT_IMAGE,
    DEFAULT_IMAGE_ALIASES,
    LEGACY_IMAGE,
    RUNTIME_IMAGES,
    build_image,
    engine_answers,
    resolve_image,
)

STACK = "numpy, scipy, sklearn, pandas, yaml, matplotlib, PIL, psutil, nbclient, nbformat, ipykernel"

# A scoring program's day: fit, score, a table, a plot, all on a read-only root with /tmp only.
WORKLOAD = """
import sys, numpy, pandas, psutil, yaml, PIL.Image, matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from scipy import stats
X, y = make_classification(n_samples=200, random_state=0)
acc = accuracy_score(y, LogisticRegression(max_iter=500).fit(X, y).predict(X))
pandas.DataFrame({"acc": [acc]}).to_csv("/tmp/scores.csv")
plt.plot(X[:, 0]); plt.savefig("/tmp/plot.png")
PIL.Image.open("/tmp/plot.png").verify()
print(sys.version_info[0], yaml.safe_dump({"ok": bool(acc > 0.5)}).strip(), stats.norm.cdf(0))
"""


def need_images(request: pytest.FixtureRequest) -> None:
    """Fail, never skip: CI runs `podium images engine` first, so no engine is a real fault."""
    if not engine_answers():
        pytest.fail(
            "No Docker engine answers ('docker info' fails). Run `podium images engine` "
            "as root (it installs docker.io and starts dockerd), then the tests again.",
            pytrace=False,
        )
    request.getfixturevalue("runtime_images")  # conftest: build_all(), reusing present images


def docker_run(image: str, *argv: str, options: tuple[str, ...] = ()) -> str:
    out = subprocess.run(
        ["docker", "run", "--rm", "--pull", "never", "--network", "none", *options, image, *argv],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, f"{image} {argv}: exit {out.returncode}\n{out.stderr[-3000:]}"
    return out.stdout.strip()


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


# --- the real images --------------------------------------------------------------------------


def test_py3_image_imports_the_scientific_stack_as_uid_1000(request) -> None:
    need_images(request)
    out = docker_run(
        DEFAULT_IMAGE,
        "python",
        "-c",
        f"import {STACK}; print(numpy.__version__)",
        options=("--user", "1000"),
    )
    assert version(out) >= (1, 24), out


def test_legacy_image_has_old_numpy_and_python_is_python3(request) -> None:
    need_images(request)
    numpy_version = docker_run(
        LEGACY_IMAGE,
        "python",
        "-c",
        f"import {STACK}; print(numpy.__version__)",
        options=("--user", "1000"),
    )
    assert version(numpy_version) < (1, 24), numpy_version
    for python in ("python", "python3"):
        assert docker_run(LEGACY_IMAGE, python, "--version").startswith("Python 3."), python


@pytest.mark.parametrize("image", list(RUNTIME_IMAGES))
def test_images_run_a_scoring_workload_hardened_like_the_worker(request, image: str) -> None:
    need_images(request)
    hardened = (
        "--read-only", "--tmpfs", "/tmp:rw,exec,nosuid,nodev,size=64m", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--user", "1000:1000",
        "--env", "HOME=/tmp", "--env", "MPLCONFIGDIR=/tmp",
    )  # fmt: skip
    for python in ("python", "python3"):
        assert docker_run(image, python, "-c", WORKLOAD, options=hardened) == "3 ok: true 0.5"


@pytest.mark.parametrize("image", list(RUNTIME_IMAGES))
def test_images_have_the_podium_user_and_app_workdir(request, image: str) -> None:
    need_images(request)
    out = docker_run(
        image,
        "sh",
        "-c",
        "id -un; id -u; id -g; pwd; stat -c %u:%a /app",
        options=("--user", "podium"),
    )
    assert out.split() == ["podium", "1000", "1000", "/app", "1000:755"]


def test_present_images_are_reused_without_rebuilding(request) -> None:
    need_images(request)
    said: list[str] = []
    before = {spec.name: images.image_id(spec.name) for spec in RUNTIME_IMAGES.values()}
    for spec in RUNTIME_IMAGES.values():
        assert build_image(spec, log=said.append) == spec.name
    # the very same images (same ids, built from the current recipe), not rebuilt ones
    assert {spec.name: images.image_id(spec.name) for spec in RUNTIME_IMAGES.values()} == before
    assert all(": present" in line for line in said), said


# --- the alias map and the recipe, no engine needed ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("codalab/codalab-legacy:py37", LEGACY_IMAGE),
        ("codalab/codalab-legacy:py3", LEGACY_IMAGE),
        ("codalab/codabench-legacy:py37", LEGACY_IMAGE),
        ("codalab/codalab-legacy:py39", DEFAULT_IMAGE),
        ("codalab/codalab-legacy:py312", DEFAULT_IMAGE),
        ("docker.io/codalab/codalab-legacy:py37", LEGACY_IMAGE),
        ("python:3", DEFAULT_IMAGE),
        ("python", DEFAULT_IMAGE),
        ("python:3.7", LEGACY_IMAGE),
        ("python:3.9-slim", LEGACY_IMAGE),
        ("docker.io/library/python:3.11-slim-bookworm", DEFAULT_IMAGE),
        ("python:3.12", DEFAULT_IMAGE),
        ("", DEFAULT_IMAGE),
        ("  ", DEFAULT_IMAGE),
        (None, DEFAULT_IMAGE),
        ("podium/runtime:legacy", LEGACY_IMAGE),
        ("my/own:1", "my/own:1"),
    ],
)
def test_resolve_image_default_aliases(name, expected) -> None:
    assert resolve_image(name) == expected


def test_resolve_image_with_a_site_table() -> None:
    table = {"codalab/codalab-legacy:py37": "site/py37:2024", "python:latest": "site/python"}
    assert resolve_image("codalab/codalab-legacy:py37", table) == "site/py37:2024"
    assert resolve_image("python", table) == "site/python"
    assert resolve_image("codalab/codalab-legacy:py39", table) == "codalab/codalab-legacy:py39"
    assert resolve_image("my/own:1", {}) == "my/own:1"


def test_every_alias_targets_a_runtime_image_that_exists_in_the_recipes() -> None:
    assert set(DEFAULT_IMAGE_ALIASES.values()) <= set(RUNTIME_IMAGES)
    assert {spec.name for spec in RUNTIME_IMAGES.values()} == set(RUNTIME_IMAGES)


def test_debian_mirror_comes_from_apt_sources(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PODIUM_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "node.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text(
        "deb http://nope/debian bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
    )
    assert images.debian_mirror(str(tmp_path)) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "# old style\ndeb [arch=amd64] http://old.example/deb bullseye main\n"
    )
    assert images.debian_mirror(str(tmp_path)) == "http://old.example/deb"
    monkeypatch.setenv("PODIUM_DEBIAN_MIRROR", "http://override.example/debian/")
    assert images.debian_mirror(str(tmp_path)) == "http://override.example/debian"
    monkeypatch.delenv("PODIUM_DEBIAN_MIRROR")
    with pytest.raises(ImageBuildError, match="PODIUM_DEBIAN_MIRROR"):
        images.debian_mirror(str(tmp_path / "nothing"))


def test_recipe_builds_an_unprivileged_user_and_stubs_pythran() -> None:
    spec = RUNTIME_IMAGES[DEFAULT_IMAGE]
    command = images.mmdebstrap_command(spec, "http://mirror.example/debian", [])
    assert command[-3:] == ["bookworm", "-", "deb http://mirror.example/debian bookworm main"]
    assert any("useradd --uid 1000" in part for part in command)
    assert "python3-pythran" in spec.stubs and RUNTIME_IMAGES[LEGACY_IMAGE].suite == "bullseye"
    assert images.recipe_hash(spec) != images.recipe_hash(RUNTIME_IMAGES[LEGACY_IMAGE])


def test_missing_tools_and_engine_say_what_to_do(monkeypatch) -> None:
    monkeypatch.setattr(images.shutil, "which", lambda tool: None if tool == "mmdebstrap" else "/x")
    with pytest.raises(ImageBuildError, match="apt-get install mmdebstrap"):
        images.mmdebstrap_command(RUNTIME_IMAGES[DEFAULT_IMAGE], "http://m/debian", [])
    monkeypatch.setattr(images, "engine_answers", lambda: False)
    with pytest.raises(ImageBuildError, match="podium images engine"):
        build_image(RUNTIME_IMAGES[DEFAULT_IMAGE], log=lambda _: None)


def test_cli_refuses_unknown_names_and_lists_aliases(capsys) -> None:
    assert images.main(["build", "podium/runtime:nope"]) == 1
    assert "unknown runtime image" in capsys.readouterr().err
    assert images.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "codalab/codalab-legacy:py37" in listed and LEGACY_IMAGE in listed
