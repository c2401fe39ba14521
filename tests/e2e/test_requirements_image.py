"""`podium images build --requirements FILE --tag NAME`: an extra runtime image from the default
one plus `pip install -r FILE` run inside the build (PyPI is reachable at build time only), its
environment recorded as a label, the package importable with no network at run time."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from podium.worker import images
from test_images import docker_run, need_images

PODIUM = Path(sys.executable).parent / "podium"


@pytest.fixture
def extra_tag():
    tag = f"podium-test/requirements:{uuid.uuid4().hex[:8]}"
    yield tag
    subprocess.run(["docker", "image", "rm", tag], capture_output=True)  # only the image this test made


def test_an_image_from_a_requirements_file_has_the_package_and_records_it(request, tmp_path, extra_tag) -> None:
    need_images(request)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tomli-w==1.0.0  # small, pure Python, not in the default image\n")
    done = subprocess.run([str(PODIUM), "images", "build", "--requirements", str(requirements), "--tag", extra_tag],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # importable with no network, as the unprivileged user the worker runs
    assert docker_run(extra_tag, "python3", "-c", "import tomli_w; print(tomli_w.dumps({'a': 1}).strip())",
                      options=("--user", "1000:1000")) == "a = 1"
    recorded = images.image_environment(extra_tag)
    assert recorded["packages"]["tomli-w"] == "1.0.0" and recorded["python"].startswith("3.11.")
    assert "numpy" in recorded["packages"]  # the base's packages are still there
    # `podium images environment` prints the same record
    shown = subprocess.run([str(PODIUM), "images", "environment", extra_tag], capture_output=True, text=True)
    assert json.loads(shown.stdout) == recorded
    # no pip, no certificates and no requirements file are left behind in the image
    assert docker_run(extra_tag, "sh", "-c", "ls /tmp | wc -l") == "0"


def test_requirements_builds_refuse_what_cannot_work(tmp_path) -> None:
    missing = subprocess.run([str(PODIUM), "images", "build", "--requirements", str(tmp_path / "nope.txt"),
                              "--tag", "x/y:z"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no requirements file" in missing.stderr
    (tmp_path / "r.txt").write_text("six\n")
    untagged = subprocess.run([str(PODIUM), "images", "build", "--requirements", str(tmp_path / "r.txt")],
                              capture_output=True, text=True)
    assert untagged.returncode == 1 and "--tag" in untagged.stderr
    with pytest.raises(images.ImageBuildError, match="Podium's own runtime images"):
        images.build_from_requirements(str(tmp_path / "r.txt"), images.DEFAULT_IMAGE)


def test_a_failing_pip_install_says_why_and_leaves_no_container_behind(request, tmp_path) -> None:
    need_images(request)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this-package-does-not-exist-podium-test==0.0.1\n")
    tag = f"podium-test/failing:{uuid.uuid4().hex[:8]}"
    done = subprocess.run([str(PODIUM), "images", "build", "--requirements", str(requirements), "--tag", tag],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 1
    assert "this-package-does-not-exist-podium-test" in done.stderr and "Could not find a version" in done.stderr
    assert not images.image_exists(tag)
    # the classic builder keeps a failed step's container unless told otherwise (--force-rm)
    left = subprocess.run(["docker", "ps", "-a", "--no-trunc", "--filter", "status=exited", "--format", "{{.Command}}"],
                          capture_output=True, text=True).stdout
    assert "this-package-does-not-exist-podium-test" not in left and "podium-requirements" not in left

