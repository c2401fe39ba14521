"""My kernel against the phase's runtime image: the imports of a submission, their versions here
and there, and the phase's public scoring run on this machine (``check``) before spending quota.

The imports are read with ``ast`` (nothing is executed): from a ``.py`` file, a notebook's code
cells, a folder of them, a module object or source text. Their versions here come from
``importlib.metadata``; the image's from ``GET /phases/{id}/environment``. ``check`` downloads the
phase's public scoring kit and runs it through ``podium.worker.local_check`` (the worker's own
runner and Docker executor): nothing is sent to the service.
"""

from __future__ import annotations

import ast
import hashlib
import html
import importlib.metadata
import json
import os
import platform
import re
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from .client import PodiumClient, TransferFailed

Source = str | os.PathLike[str] | types.ModuleType


def _normalize(name: str) -> str:
    """PEP 503 names: ``Scikit_Learn`` and ``scikit-learn`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _sources(source: Source) -> list[str]:
    """The Python text of a module, a file, a notebook's code cells, a folder, or source itself."""
    if isinstance(source, types.ModuleType):
        return [Path(source.__file__).read_text()] if getattr(source, "__file__", None) else []
    path = Path(source)
    if isinstance(source, str) and ("\n" in source or not path.exists()):
        return [source]
    if path.is_dir():
        return [text for child in sorted(path.rglob("*")) if child.suffix in (".py", ".ipynb")
                for text in _sources(child)]
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text()).get("cells", [])
        code = ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
        # magics and shell escapes are not Python: drop those lines
        return ["\n".join(line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))
                for cell in code]
    return [path.read_text()]


def imported_modules(source: Source) -> list[str]:
    """The top-level modules ``source`` imports (relative imports and the standard library left out)."""
    found: set[str] = set()
    for text in _sources(source):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return sorted(m for m in found if m not in sys.stdlib_module_names and m != "__future__")


def kernel_environment() -> dict[str, Any]:
    """This kernel's Python version and installed distributions (normalized names)."""
    packages = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[_normalize(name)] = dist.version
    return {"python": platform.python_version(), "packages": packages}


def environment_diff(image: dict[str, Any], source: Source, kernel: dict[str, Any] | None = None
                     ) -> list[dict[str, Any]]:
    """One row per difference that matters to ``source``: Python, then each module it imports
    (``module``, ``package``, ``kernel`` and ``image`` versions, ``same``); None where absent."""
    kernel = kernel or kernel_environment()
    image_packages = {_normalize(k): v for k, v in image["packages"].items()}
    owners = importlib.metadata.packages_distributions()
    rows = [{"module": "python", "package": "Python", "kernel": kernel["python"], "image": image["python"],
             "same": kernel["python"].split(".")[:2] == image["python"].split(".")[:2]}]
    for module in imported_modules(source):
        names = [_normalize(n) for n in owners.get(module, [])] or [_normalize(module)]
        package = next((n for n in names if n in kernel["packages"] or n in image_packages), names[0])
        here, there = kernel["packages"].get(package), image_packages.get(package)
        rows.append({"module": module, "package": package, "kernel": here, "image": there,
                     "same": here is not None and here == there})
    return rows


def diff_html(rows: list[dict[str, Any]], image_name: str) -> str:
    """The rows as a small HTML table, differences marked."""
    def cell(value: Any) -> str:
        return html.escape(str(value)) if value is not None else "<i>missing</i>"

    body = "".join(
        f"<tr style='{'' if r['same'] else 'background:#fff3cd'}'><td>{cell(r['module'])}</td>"
        f"<td>{cell(r['package'])}</td><td>{cell(r['kernel'])}</td><td>{cell(r['image'])}</td>"
        f"<td>{'same' if r['same'] else 'differs'}</td></tr>" for r in rows)
    return (f"<table class='podium-environment'><caption>This kernel against {html.escape(image_name)}</caption>"
            "<tr><th>import</th><th>package</th><th>this kernel</th><th>phase image</th><th></th></tr>"
            f"{body}</table>")


def diff_text(rows: list[dict[str, Any]]) -> str:
    """The rows as a plain table, for a terminal."""
    lines = [f"{'import':<18} {'package':<22} {'this kernel':<14} {'phase image':<14}"]
    for r in rows:
        lines.append(f"{r['module']:<18} {r['package']:<22} {r['kernel'] or 'missing':<14} "
                     f"{r['image'] or 'missing':<14} {'' if r['same'] else 'differs'}")
    return "\n".join(lines)


def download_kit(client: PodiumClient, phase_id: int, folder: str, task: str | None = None
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """The phase's public scoring kit and its files saved in ``folder`` (checked against their sha256)."""
    kit = client.get(f"phases/{phase_id}/scoring-kit", **({"task": task} if task else {}))
    files = {}
    for name, spec in kit["files"].items():
        data = client.get_object(spec["url"])
        if hashlib.sha256(data).hexdigest() != spec["sha256"]:
            raise TransferFailed(f"The downloaded {name.replace('_', ' ')} does not match its checksum; try again.")
        files[name] = os.path.join(folder, f"{name}.zip")
        Path(files[name]).write_bytes(data)
    return kit, files


def check(client: PodiumClient, phase_id: int, submission: str | os.PathLike[str], task: str | None = None,
          executor: Any = None, keep_output: str | os.PathLike[str] | None = None) -> Any:
    """Score ``submission`` (a zip, a file or a folder) with the phase's public scoring kit on this
    machine, in the phase's image and with a worker's limits; returns a ``CheckResult``
    (``keep_output``: where to save the scoring output zip)."""
    from podium.worker.executors.docker import DockerExecutor
    from podium.worker.local_check import run_check

    from . import packaging

    with tempfile.TemporaryDirectory(prefix="podium-kit-") as folder:
        kit, files = download_kit(client, phase_id, folder, task)
        zipped = Path(folder, "submission.zip")
        zipped.write_bytes(packaging.zip_path(submission))  # as `submit` would send it
        return run_check(kit, files, str(zipped), executor or DockerExecutor(f"check-{os.getpid()}"),
                         keep_output=str(keep_output) if keep_output else None)
