"""An opened bundle: safely extracted, ``competition.yaml`` found and parsed, files resolved.

``competition.yaml`` may sit at the top of the bundle or inside a single top folder;
``__MACOSX/`` and ``.DS_Store`` are ignored; YAML anchors and aliases work. Programs and data may
be zips or folders inside the bundle (folders are zipped on the way in).
"""

from __future__ import annotations

import io
import os
import posixpath
import zipfile

import yaml

from ...worker import archives
from ...worker.errors import ArchiveError
from ..errors import BundleError

YAML_NAME = "competition.yaml"


class BundleSource:
    def __init__(self, root: str, data: dict) -> None:
        self.root = root
        self.data = data

    def resolve(self, rel: str) -> str | None:
        """The absolute path of ``rel`` inside the bundle, or None (missing or escaping)."""
        if not isinstance(rel, str) or not rel.strip():
            return None
        clean = posixpath.normpath(rel.strip().replace("\\", "/")).lstrip("/")
        if clean.startswith(".."):
            return None
        path = os.path.join(self.root, clean)
        if os.path.islink(path) or not os.path.exists(path):
            return None
        return path

    def read_text(self, rel: str) -> str | None:
        path = self.resolve(rel)
        if path is None or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def zip_bytes(self, rel: str) -> bytes | None:
        """A program or dataset as zip bytes: a zip file as it is, a folder zipped."""
        path = self.resolve(rel)
        if path is None:
            return None
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            if zipfile.is_zipfile(io.BytesIO(data)):
                return data
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(os.path.basename(path), data)
            return buffer.getvalue()
        buffer = io.BytesIO()
        archives.check_tree(path, archives.DEFAULT_MAX_BYTES, archives.DEFAULT_MAX_FILES)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for dirpath, _dirs, files in os.walk(path):
                for name in sorted(files):
                    if name == ".DS_Store":
                        continue
                    full = os.path.join(dirpath, name)
                    zf.write(full, os.path.relpath(full, path))
        return buffer.getvalue()


def _find_yaml(root: str) -> str | None:
    if os.path.isfile(os.path.join(root, YAML_NAME)):
        return root
    entries = [e for e in os.listdir(root) if e not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and os.path.isdir(os.path.join(root, entries[0])):
        inner = os.path.join(root, entries[0])
        if os.path.isfile(os.path.join(inner, YAML_NAME)):
            return inner
    return None


def open_bundle(path: str, workdir: str, max_bytes: int = archives.DEFAULT_MAX_BYTES,
                max_files: int = archives.DEFAULT_MAX_FILES) -> BundleSource:
    """Extract (a zip) or check (a folder) a bundle, find and parse its ``competition.yaml``."""
    name = os.path.basename(path.rstrip("/"))
    if os.path.isdir(path):
        try:
            archives.check_tree(path, max_bytes, max_files)
        except ArchiveError as e:
            raise BundleError([f"{name}: {e}"]) from None
        root = path
    else:
        root = os.path.join(workdir, "bundle")
        try:
            archives.safe_extract(path, root, max_bytes=max_bytes, max_files=max_files)
        except ArchiveError as e:
            raise BundleError([f"{name}: {e}"]) from None
    top = _find_yaml(root)
    if top is None:
        raise BundleError([f"{name}: no {YAML_NAME} at the top of the bundle or inside a single top folder"])
    try:
        with open(os.path.join(top, YAML_NAME), encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise BundleError([f"{YAML_NAME}: not valid YAML: {e}"]) from None
    if not isinstance(data, dict):
        raise BundleError([f"{YAML_NAME}: must be a mapping of keys such as title, phases, leaderboards"])
    return BundleSource(top, data)
