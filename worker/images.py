"""Runtime images without a registry (Debian via mmdebstrap | docker import) and their aliases."""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ImageBuildError

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
    # notebook submissions: the worker runs run_notebook.py with the image's own nbclient and kernel
    "python3-nbclient",
    "python3-nbformat",
    "python3-ipykernel",
    "ca-certificates",
)

RECIPE_LABEL = "org.podium.runtime.recipe"
#: JSON ``{"python": "3.11.2", "packages": {"numpy": "1.24.2", ...}}``, written when an image is built
ENVIRONMENT_LABEL = "org.podium.runtime.environment"
ENGINE_HINT = "start the engine with `podium images engine` (as root)"


@dataclass(frozen=True)
class ImageSpec:
    """One runtime image: a Debian suite and the packages installed into it."""

    name: str
    suite: str
    packages: tuple[str, ...] = PACKAGES
    # Packages replaced by empty placeholders: bookworm's scipy hard-depends on pythran, which
    # drags in g++, boost and every -dev header (~500 MB) that nothing needs at run time.
    stubs: tuple[str, ...] = ()
    description: str = ""


# In both images `python` and `python3` are Python 3 (old bundles call `python`), user `podium`
# (uid/gid 1000) exists and /app is the working directory. The legacy image keeps numpy < 1.24,
# which still has np.float and friends that old CodaLab scoring code uses.
DEFAULT_IMAGE = "podium/runtime:py3"
LEGACY_IMAGE = "podium/runtime:legacy"

RUNTIME_IMAGES: dict[str, ImageSpec] = {
    DEFAULT_IMAGE: ImageSpec(
        DEFAULT_IMAGE, "bookworm", stubs=("python3-pythran",), description="Python 3.11, numpy 1.24"
    ),
    LEGACY_IMAGE: ImageSpec(LEGACY_IMAGE, "bullseye", description="Python 3.9, numpy 1.19"),
}


def _python_aliases() -> dict[str, str]:
    """Docker Hub's ``python:3.x`` tags: up to 3.9 the legacy image (bullseye has 3.9)."""
    table = {}
    for tag in ("3", "latest", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"):
        target = LEGACY_IMAGE if tag in ("3.6", "3.7", "3.8", "3.9") else DEFAULT_IMAGE
        for suffix in ("", "-slim", "-bullseye", "-bookworm", "-slim-bullseye", "-slim-bookworm"):
            if not (tag == "latest" and suffix):
                table[f"python:{tag}{suffix}"] = target
    return table


DEFAULT_IMAGE_ALIASES: dict[str, str] = {
    # CodaLab / Codabench defaults: py3 (3.6) and py37 era code expects numpy < 1.24.
    "codalab/codalab-legacy:py27": LEGACY_IMAGE,
    "codalab/codalab-legacy:py3": LEGACY_IMAGE,
    "codalab/codalab-legacy:py36": LEGACY_IMAGE,
    "codalab/codalab-legacy:py37": LEGACY_IMAGE,
    "codalab/codalab-legacy:latest": LEGACY_IMAGE,
    "codalab/codabench-legacy:py3": LEGACY_IMAGE,
    "codalab/codabench-legacy:py37": LEGACY_IMAGE,
    "codalab/codalab-legacy:py39": DEFAULT_IMAGE,
    "codalab/codalab-legacy:py310": DEFAULT_IMAGE,
    "codalab/codalab-legacy:py311": DEFAULT_IMAGE,
    "codalab/codalab-legacy:py312": DEFAULT_IMAGE,
    "codalab/codabench-legacy:py39": DEFAULT_IMAGE,
    "codalab/codabench-legacy:py312": DEFAULT_IMAGE,
    "codalab/default:latest": DEFAULT_IMAGE,
    **_python_aliases(),
}

DEBIAN_SUITES = {
    "stable", "oldstable", "testing", "unstable", "sid",
    "buster", "bullseye", "bookworm", "trixie", "forky",
}  # fmt: skip


def _normalize(name: str) -> str:
    """Docker's spelling rules: ``docker.io/library/python`` is ``python:latest``."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.startswith("library/"):
        name = name[len("library/") :]
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def resolve_image(name: str | None, aliases: dict[str, str] | None = None) -> str:
    """The local image to run for the image a competition names; unknown names pass through."""
    table = DEFAULT_IMAGE_ALIASES if aliases is None else aliases
    name = (name or "").strip()
    if not name:
        return DEFAULT_IMAGE
    if name in table:
        return table[name]
    return table.get(_normalize(name), name)


def _docker() -> str:
    return _require("docker", "docker.io")


def _require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise ImageBuildError(
            f"'{tool}' is needed to build runtime images but is not installed: "
            f"apt-get install {package} (or run `podium images engine` as root)"
        )
    return found


def engine_answers() -> bool:
    """Whether a Docker engine answers (the CLI alone is not enough)."""
    docker = shutil.which("docker")
    return (
        docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0
    )


def _inspect(name: str, template: str) -> str | None:
    """One field of a local image (None if the engine has no such image)."""
    out = subprocess.run(
        [_docker(), "image", "inspect", "--format", template, name], capture_output=True, text=True
    )
    return out.stdout.strip() if out.returncode == 0 else None


def image_id(name: str) -> str | None:
    """The id of a local image (None if the engine has no such image or does not answer)."""
    return _inspect(name, "{{.Id}}")


def image_exists(name: str) -> bool:
    return _inspect(name, "{{.Id}}") is not None


def image_recipe(name: str) -> str | None:
    """The recipe hash a present image was built from (None if absent or unlabelled)."""
    labels = _inspect(name, "{{json .Config.Labels}}")
    return (json.loads(labels or "null") or {}).get(RECIPE_LABEL)


def image_size(name: str) -> int | None:
    size = _inspect(name, "{{.Size}}")
    return int(size) if size and size.isdigit() else None


def _source_entries(path: str) -> list[tuple[list[str], str, list[str]]]:
    """(types, uri, suites) of each entry of an apt sources file, deb822 or one-line style."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    entries = []
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                match = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if match:
                    fields[match.group(1).lower()] = match.group(2).split()
            if fields.get("enabled", ["yes"])[0].lower() == "no":
                continue
            for uri in fields.get("uris", []):
                entries.append((fields.get("types", []), uri, fields.get("suites", [])))
    else:
        for line in text.splitlines():
            match = re.match(r"^\s*(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match:
                entries.append(([match.group(1)], match.group(2), [match.group(3)]))
    return entries


def debian_mirror(apt_dir: str = "/etc/apt") -> str:
    """The Debian archive apt already uses here: no internet host is hardcoded.

    ``PODIUM_DEBIAN_MIRROR`` overrides; otherwise the first enabled ``deb`` entry of
    sources.list(.d) whose suite is a Debian release (not -security or -updates).
    """
    if os.environ.get("PODIUM_DEBIAN_MIRROR"):
        return os.environ["PODIUM_DEBIAN_MIRROR"].rstrip("/")
    listed = glob.glob(f"{apt_dir}/sources.list.d/*.list") + glob.glob(
        f"{apt_dir}/sources.list.d/*.sources"
    )
    paths = [f"{apt_dir}/sources.list", *sorted(listed)]
    for path in paths:
        for types, uri, suites in _source_entries(path):
            if "deb" in types and any(suite in DEBIAN_SUITES for suite in suites):
                return uri.rstrip("/")
    raise ImageBuildError(
        f"No Debian archive found in {apt_dir}/sources.list(.d); set PODIUM_DEBIAN_MIRROR to one."
    )


def _hooks() -> list[str]:
    """Run inside the new root: the unprivileged user, /app, and less weight."""
    return [
        'chroot "$1" groupadd --gid 1000 podium',
        'chroot "$1" useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh podium',
        'install -d -o 1000 -g 1000 -m 0755 "$1/app"',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old'
        ' "$1"/var/log/apt "$1"/var/log/*.log',
    ]


DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)

IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONUNBUFFERED=1",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "ENV MPLBACKEND=Agg",
    "WORKDIR /app",
    'CMD ["python3"]',
)


def recipe_hash(spec: ImageSpec) -> str:
    """Everything that shapes the image except the mirror, so changing the recipe rebuilds."""
    recipe = [spec.suite, spec.packages, spec.stubs, _hooks(), DPKG_OPTIONS, IMPORT_CHANGES]
    return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]


def _stub_deb(package: str, directory: Path) -> Path:
    """An empty package with a higher version than Debian's, so apt installs it instead."""
    root = directory / package
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 99:0+podium\nArchitecture: all\n"
        "Maintainer: Podium <root@localhost>\n"
        "Description: placeholder installed by podium images\n"
        " The real package is only needed to compile code, never to run it.\n"
    )
    deb = directory / f"{package}_stub.deb"
    out = subprocess.run(
        [_require("dpkg-deb", "dpkg"), "--root-owner-group", "--build", str(root), str(deb)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise ImageBuildError(f"dpkg-deb could not build a stub for {package}:\n{out.stderr}")
    deb.chmod(0o644)
    return deb


def mmdebstrap_command(spec: ImageSpec, mirror: str, stubs: list[Path]) -> list[str]:
    """The mmdebstrap call that writes the image's root filesystem as a tar to stdout."""
    command = [
        _require("mmdebstrap", "mmdebstrap"),
        "--variant=essential",
        "--format=tar",
        '--aptopt=Acquire::Languages "none"',
        f"--include={','.join((*spec.packages, 'passwd'))}",
        *[f"--dpkgopt={option}" for option in DPKG_OPTIONS],
        *[f"--customize-hook={hook}" for hook in _hooks()],
    ]
    if stubs:
        command += [f"--include={deb}" for deb in stubs]
        command.append("--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount")
    return [*command, spec.suite, "-", f"deb {mirror} {spec.suite} main"]


def build_image(spec: ImageSpec, *, force: bool = False, log: Callable[[str], None] = print) -> str:
    """Build ``spec`` into the local engine unless an image from the same recipe is there."""
    docker = _docker()
    if not engine_answers():
        raise ImageBuildError(
            f"the Docker engine does not answer ('docker info' fails): {ENGINE_HINT}"
        )
    recipe = recipe_hash(spec)
    previous = _inspect(spec.name, "{{.Id}}")
    if previous and not force:
        present = image_recipe(spec.name)
        if present == recipe:
            log(f"{spec.name}: present (recipe {recipe})")
            return spec.name
        log(f"{spec.name}: present but from another recipe ({present}); rebuilding")
    mirror = debian_mirror()
    log(f"{spec.name}: building from Debian {spec.suite} at {mirror} (a minute or two)")
    started = time.monotonic()
    importer = [docker, "import", "--change", f"LABEL {RECIPE_LABEL}={recipe}"]
    importer += [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
    with (
        tempfile.TemporaryDirectory(prefix="podium-image-") as tmp,
        tempfile.TemporaryFile() as err,
    ):
        os.chmod(tmp, 0o755)  # mmdebstrap's unshare mode reads the stubs as another user
        stubs = [_stub_deb(package, Path(tmp)) for package in spec.stubs]
        command = mmdebstrap_command(spec, mirror, stubs)
        # Import untagged and tag only after mmdebstrap succeeded: a truncated tar never gets the name.
        bootstrap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        imported = None
        try:
            imported = subprocess.run([*importer, "-"], stdin=bootstrap.stdout, capture_output=True)
        finally:
            bootstrap.stdout.close()  # type: ignore[union-attr]
            if imported is None or imported.returncode != 0:
                bootstrap.terminate()  # no reader left: do not let apt run on for nothing
            bootstrap.wait()
        err.seek(0)
        output = err.read().decode(errors="replace") + imported.stderr.decode(errors="replace")
    image_id = imported.stdout.decode().strip()
    if bootstrap.returncode != 0 or imported.returncode != 0 or not image_id:
        if image_id:
            subprocess.run([docker, "image", "rm", image_id], capture_output=True)
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise ImageBuildError(
            f"building {spec.name} failed (mmdebstrap exit {bootstrap.returncode}, "
            f"docker import exit {imported.returncode}):\n{tail}"
        )
    tagged = subprocess.run([docker, "tag", image_id, spec.name], capture_output=True, text=True)
    if tagged.returncode != 0:
        raise ImageBuildError(f"docker tag {image_id} {spec.name} failed: {tagged.stderr.strip()}")
    if previous and previous != image_id:
        # Untagged now; refused (and kept) while a container or another tag still uses it.
        subprocess.run([docker, "image", "rm", previous], capture_output=True)
    size = image_size(spec.name) or 0
    log(f"{spec.name}: built in {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    record_environment(spec.name, log=log)
    return spec.name


def build_all(
    names: list[str] | None = None, force: bool = False, log: Callable[[str], None] = print
) -> list[str]:
    """Build the named runtime images (all by default); each one is reused when up to date."""
    chosen = names or list(RUNTIME_IMAGES)
    unknown = [name for name in chosen if name not in RUNTIME_IMAGES]
    if unknown:
        raise ImageBuildError(
            f"unknown runtime image(s): {', '.join(unknown)}; known: {', '.join(RUNTIME_IMAGES)}"
        )
    return [build_image(RUNTIME_IMAGES[name], force=force, log=log) for name in chosen]


# --- what an image holds: its Python and its distributions --------------------------------

#: Run inside an image (no network, as the unprivileged user): its Python version and every
#: installed distribution (PEP 503 names: ``tomli-w``, ``pyyaml``) with its version, as JSON on stdout.
ENVIRONMENT_PROBE = (
    "import importlib.metadata as m, json, platform, re;"
    "print(json.dumps({'python': platform.python_version(), 'packages': "
    "{re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version "
    "for d in m.distributions() if d.metadata['Name']}}))"
)


def probe_environment(name: str) -> dict:
    """Run ``ENVIRONMENT_PROBE`` in the image ``name``: ``{"python", "packages"}``."""
    out = subprocess.run(
        [_docker(), "run", "--rm", "--network", "none", "--user", "1000:1000", "--entrypoint", "python3",
         name, "-c", ENVIRONMENT_PROBE],
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise ImageBuildError(f"could not read the Python environment of {name}: {out.stderr.strip()[-500:]}")
    try:
        found = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ImageBuildError(f"the Python environment probe of {name} printed no JSON") from None
    return {"python": str(found["python"]), "packages": dict(sorted(found["packages"].items()))}


def image_environment(name: str) -> dict:
    """The recorded environment of a local image (its ``ENVIRONMENT_LABEL``), or probed when the
    image has none (built before the label existed); ``ImageBuildError`` when it is absent."""
    labels = _inspect(name, "{{json .Config.Labels}}")
    if labels is None:
        raise ImageBuildError(f"no image {name} on this engine: build it with `podium images build`")
    recorded = (json.loads(labels or "null") or {}).get(ENVIRONMENT_LABEL)
    if recorded:
        return json.loads(recorded)
    return probe_environment(name)


def _label_build(base: str, tag: str, dockerfile: str, context: str | None = None,
                 log: Callable[[str], None] = print) -> None:
    """``docker build`` with the classic builder (no BuildKit, no registry: ``base`` is local)."""
    with tempfile.TemporaryDirectory(prefix="podium-image-") as tmp:
        directory = context or tmp
        Path(tmp, "Dockerfile").write_text(dockerfile)
        out = subprocess.run(
            [_docker(), "build", "--pull=false", "--force-rm", "--network", "default", "-t", tag, "-f",
             str(Path(tmp, "Dockerfile")), directory],
            capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    if out.returncode != 0:
        # the steps after FROM that worked left untagged images behind: remove them, newest first
        # (refused, and so kept, when another image builds on one); never the base image itself
        steps = re.findall(r"^ ---> ([0-9a-f]{12})$", out.stdout, re.M)[1:]
        base_id = (image_id(base) or "").removeprefix("sha256:")[:12]
        for step in reversed(steps):
            if step != base_id and _inspect(step, "{{len .RepoTags}}") == "0":  # untagged only
                subprocess.run([_docker(), "image", "rm", "--no-prune", step], capture_output=True)
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-25:])
        raise ImageBuildError(f"building {tag} from {base} failed:\n{tail}")


def record_environment(name: str, log: Callable[[str], None] = print) -> dict:
    """Probe the image and write what it holds as its ``ENVIRONMENT_LABEL`` (a label-only layer)."""
    found = probe_environment(name)
    label = json.dumps(json.dumps(found, separators=(",", ":")))  # a Dockerfile string literal
    _label_build(name, name, f"FROM {name}\nLABEL {ENVIRONMENT_LABEL}={label}\n", log=log)
    log(f"{name}: Python {found['python']}, {len(found['packages'])} packages recorded")
    return found


def _download_pip_wheel(directory: Path) -> None:
    """pip's wheel (pure Python, runnable as ``python3 pip-X.whl/pip``) for images without pip."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(directory), "pip"],
        capture_output=True, text=True,
    )
    if out.returncode != 0 or not list(directory.glob("pip-*.whl")):
        raise ImageBuildError(f"could not download pip's wheel for the image build:\n{out.stderr.strip()[-800:]}")


def build_from_requirements(requirements: str, tag: str, base: str = DEFAULT_IMAGE,
                            ca_bundle: str | None = None, log: Callable[[str], None] = print) -> str:
    """An extra runtime image: ``base`` plus ``pip install -r requirements`` run inside the build
    (the only step that needs a package index), then its environment recorded as a label.

    Debian's Python refuses pip outside a virtual environment (PEP 668); the image is a single
    purpose container, so ``--break-system-packages`` is right there. The runtime images have no
    apt and no pip: pip's own wheel, fetched here by this machine's pip, runs from the wheel file. ``ca_bundle`` (default: ``$PIP_CERT``): the
    certificates pip trusts during the build, for sites behind a TLS-inspecting proxy; it is
    removed from the image afterwards."""
    path = Path(requirements)
    if not path.is_file():
        raise ImageBuildError(f"no requirements file at {requirements}")
    if not engine_answers():
        raise ImageBuildError(f"the Docker engine does not answer ('docker info' fails): {ENGINE_HINT}")
    if not image_exists(base):
        raise ImageBuildError(f"the base image {base} is missing: build it first with `podium images build`")
    if tag in RUNTIME_IMAGES:
        raise ImageBuildError(f"{tag} is one of Podium's own runtime images; name the new image another tag")
    log(f"{tag}: {base} + pip install -r {path.name}")
    ca_bundle = ca_bundle if ca_bundle is not None else os.environ.get("PIP_CERT")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ImageBuildError(f"no certificate bundle at {ca_bundle}")
    with tempfile.TemporaryDirectory(prefix="podium-requirements-") as context:
        shutil.copy(path, Path(context, "requirements.txt"))
        shutil.copy(ca_bundle, Path(context, "ca.crt")) if ca_bundle else Path(context, "ca.crt").write_text("")
        _download_pip_wheel(Path(context, "pip"))
        _label_build(base, tag, "\n".join((
            f"FROM {base}",
            "COPY requirements.txt /tmp/podium-requirements.txt",
            "COPY ca.crt /tmp/podium-ca.crt",
            "COPY pip /tmp/podium-pip",
            "USER root",
            "RUN if [ -s /tmp/podium-ca.crt ]; then export PIP_CERT=/tmp/podium-ca.crt; fi && "
            "if python3 -m pip --version >/dev/null 2>&1; then PIP='python3 -m pip'; "
            "else PIP=\"python3 $(ls /tmp/podium-pip/pip-*.whl)/pip\"; fi && "
            "$PIP install --no-cache-dir --break-system-packages --disable-pip-version-check "
            "-r /tmp/podium-requirements.txt && rm -r /tmp/podium-requirements.txt /tmp/podium-ca.crt /tmp/podium-pip",
            "USER 1000:1000",
            "WORKDIR /app",
            "",
        )), context=context, log=log)
    record_environment(tag, log=log)
    return tag


def _list() -> None:
    answers = engine_answers()
    for name, spec in RUNTIME_IMAGES.items():
        if not answers:
            state = "unknown (no engine)"
        elif not image_exists(name):
            state = "missing"
        elif image_recipe(name) != recipe_hash(spec):
            state = "outdated"
        else:
            state = f"present {(image_size(name) or 0) / 1e6:.0f} MB"
        print(f"{name:<24} {spec.suite:<9} {state:<20} {spec.description}")
    print("\naliases:")
    for alias, target in sorted(DEFAULT_IMAGE_ALIASES.items()):
        print(f"  {alias:<34} -> {target}")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``podium images`` (also read by the docs' command reference)."""
    parser = argparse.ArgumentParser(
        prog="podium images", description="Local runtime images built from Debian, no registry."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="Build the runtime images that are missing or outdated.")
    build.add_argument("--force", action="store_true", help="Rebuild even if up to date.")
    build.add_argument(
        "names", nargs="*", metavar="NAME", help=f"default: {' '.join(RUNTIME_IMAGES)}"
    )
    build.add_argument(
        "--requirements", metavar="FILE",
        help="Build one extra image: the base image plus `pip install -r FILE` (needs --tag).",
    )
    build.add_argument("--tag", metavar="NAME", help="Name of the extra image, e.g. myhub/runtime:2026.")
    build.add_argument("--base", metavar="IMAGE", default=DEFAULT_IMAGE,
                       help=f"Image the extra image starts from (default {DEFAULT_IMAGE}).")
    build.add_argument("--ca-bundle", metavar="FILE",
                       help="Certificates pip trusts during the build (default: $PIP_CERT).")
    env = sub.add_parser("environment", help="Print an image's Python version and packages as JSON.")
    env.add_argument("name", metavar="NAME")
    sub.add_parser("list", help="Show the runtime images and the aliases that map to them.")
    sub.add_parser("engine", help="Install (Debian, as root) and start the Docker engine the images need.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``podium images build|list|engine``."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.action == "engine":
        from .engine import main as engine_main

        return engine_main([])
    try:
        if args.action == "build" and args.requirements:
            if not args.tag:
                raise ImageBuildError("--requirements needs --tag NAME, the new image's name")
            build_from_requirements(args.requirements, args.tag, args.base, args.ca_bundle)
        elif args.action == "build":
            build_all(args.names, force=args.force)
        elif args.action == "environment":
            print(json.dumps(image_environment(resolve_image(args.name)), indent=1))
        else:
            _list()
    except ImageBuildError as e:
        print(f"podium images: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
