"""Runtime images without a registry: built locally from Debian packages, named by alias.

Competitions name images such as ``codalab/codalab-legacy:py37``; sites without a registry (and
this project's tests) map those names to local images built here with
``mmdebstrap ... | docker import``:

- ``podium/runtime:py3``: Debian bookworm's Python 3 with numpy, scipy, scikit-learn, pandas,
  pyyaml, matplotlib, pillow and psutil.
- ``podium/runtime:legacy``: Debian bullseye (numpy 1.19, older than 1.24) for old CodaLab
  scoring code.

In both, ``python`` and ``python3`` are Python 3 (old bundles call ``python``), a user
``podium`` (uid 1000) exists, and ``/app`` is the working root. Build once; later calls reuse the
image from the local engine.

    podium images build [--force] [NAME ...]
    podium images list
"""

from __future__ import annotations

import argparse
import glob
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

PACKAGES = (
    "python3",
    "python-is-python3",
    "python3-numpy",
    "python3-scipy",
    "python3-sklearn",
    "python3-pandas",
    "python3-yaml",
    "python3-matplotlib",
    "python3-pil",
    "python3-psutil",
    "ca-certificates",
)


@dataclass(frozen=True)
class ImageSpec:
    name: str
    suite: str
    packages: tuple[str, ...] = PACKAGES
    description: str = ""


RUNTIME_IMAGES = {
    "podium/runtime:py3": ImageSpec("podium/runtime:py3", "bookworm", description="current Python 3"),
    "podium/runtime:legacy": ImageSpec(
        "podium/runtime:legacy", "bullseye", description="numpy < 1.24 for old CodaLab code"
    ),
}
DEFAULT_IMAGE = "podium/runtime:py3"
LEGACY_IMAGE = "podium/runtime:legacy"

DEFAULT_IMAGE_ALIASES = {
    "codalab/codalab-legacy:py3": LEGACY_IMAGE,
    "codalab/codalab-legacy:py37": LEGACY_IMAGE,
    "codalab/codalab-legacy:py39": DEFAULT_IMAGE,
    "codalab/codalab-legacy:py312": DEFAULT_IMAGE,
    "codalab/codabench-legacy:py37": LEGACY_IMAGE,
    "codalab/default:latest": DEFAULT_IMAGE,
    "python:3": DEFAULT_IMAGE,
    "python:3.9": LEGACY_IMAGE,
    "python:3.11": DEFAULT_IMAGE,
}


class ImageBuildError(RuntimeError):
    """Building a runtime image failed; the message carries the tool's last output."""


def resolve_image(name: str, aliases: dict[str, str] | None = None) -> str:
    """The local image to run for the image a competition names (unknown names pass through)."""
    table = DEFAULT_IMAGE_ALIASES if aliases is None else aliases
    name = (name or "").strip() or DEFAULT_IMAGE
    if name in table:
        return table[name]
    if ":" not in name.rsplit("/", 1)[-1] and f"{name}:latest" in table:
        return table[f"{name}:latest"]
    return name


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def debian_mirror() -> str:
    """The Debian mirror apt already uses here (no internet host is hardcoded)."""
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]:
        try:
            text = open(path).read()
        except OSError:
            continue
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)\s", text, re.M
        )
        if match:
            return match.group(1)
    raise ImageBuildError("No Debian mirror found in /etc/apt/sources.list(.d); mmdebstrap needs one.")


def _require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise ImageBuildError(f"'{tool}' is needed to build runtime images: apt-get install {package}")
    return found


def build_image(spec: ImageSpec, *, force: bool = False, log: Callable[[str], None] = print) -> str:
    """Build ``spec`` into the local engine unless it is already there."""
    docker = _require("docker", "docker.io")
    mmdebstrap = _require("mmdebstrap", "mmdebstrap")
    if not force and image_exists(spec.name):
        log(f"{spec.name}: present")
        return spec.name
    mirror = debian_mirror()
    log(f"{spec.name}: building from Debian {spec.suite} ({mirror})")
    started = time.monotonic()
    hooks = [
        'chroot "$1" useradd --uid 1000 --create-home --shell /bin/sh podium',
        'mkdir -p "$1/app" && chmod 0777 "$1/app"',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/cache/apt/*',
    ]
    command = [
        mmdebstrap,
        "--variant=essential",
        "--mode=root",
        "--format=tar",
        f"--include={','.join(spec.packages + ('passwd',))}",
        *[f"--customize-hook={hook}" for hook in hooks],
        spec.suite,
        "-",
        f"deb {mirror} {spec.suite} main",
    ]
    importer = [
        docker,
        "import",
        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", "ENV PYTHONUNBUFFERED=1",
        "--change", "ENV LANG=C.UTF-8",
        "--change", "WORKDIR /app",
        "--change", 'CMD ["python3"]',
        "-",
        spec.name,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as build:
        imported = subprocess.run(importer, stdin=build.stdout, capture_output=True)
        build.stdout.close()  # type: ignore[union-attr]
        stderr = build.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
        build.wait()
    if build.returncode != 0 or imported.returncode != 0:
        tail = "\n".join((stderr + imported.stderr.decode(errors="replace")).splitlines()[-20:])
        raise ImageBuildError(f"building {spec.name} failed:\n{tail}")
    log(f"{spec.name}: built in {time.monotonic() - started:.0f} s")
    return spec.name


def build_all(names: list[str] | None = None, force: bool = False, log: Callable[[str], None] = print) -> list[str]:
    chosen = names or list(RUNTIME_IMAGES)
    unknown = [n for n in chosen if n not in RUNTIME_IMAGES]
    if unknown:
        raise ImageBuildError(f"unknown runtime image(s): {', '.join(unknown)}; known: {', '.join(RUNTIME_IMAGES)}")
    return [build_image(RUNTIME_IMAGES[n], force=force, log=log) for n in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podium images", description="Local runtime images, no registry.")
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="Build the runtime images that are missing.")
    build.add_argument("--force", action="store_true", help="Rebuild even if present.")
    build.add_argument("names", nargs="*", help=f"Images to build (default: {', '.join(RUNTIME_IMAGES)}).")
    sub.add_parser("list", help="Show the runtime images and the aliases that map to them.")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            build_all(args.names, force=args.force)
        else:
            for name, spec in RUNTIME_IMAGES.items():
                state = "present" if shutil.which("docker") and image_exists(name) else "missing"
                print(f"{name:<24} {spec.suite:<10} {state:<8} {spec.description}")
            for alias, target in sorted(DEFAULT_IMAGE_ALIASES.items()):
                print(f"  {alias} -> {target}")
    except ImageBuildError as e:
        print(f"podium images: {e}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
