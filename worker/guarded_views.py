"""Views of the folders participant code writes, in which no symbolic link is ever followed:
for a program that reads them while that code may still be writing (ingestion during scoring).

A view is a bind mount on the worker's host remounted ``nosymfollow,nodev,nosuid`` (read-only
too where asked), made before the container starts. Docker's bind mount of a view keeps those
flags, as long as Docker itself is not asked to make it read-only (its read-only remount drops
``nosymfollow``): the view is read-only on the host instead. Needs root and Linux 5.10 or later
(``supported`` probes once); ``disk_caps.release`` unmounts views with the rest of the run.
"""

from __future__ import annotations

import ctypes
import os
import tempfile

from .disk_caps import _LIBC, _unmount
from .errors import GuardedViewError

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOSYMFOLLOW, _MS_REMOUNT, _MS_BIND = 1, 2, 4, 256, 32, 4096
_supported: dict[str, bool] = {}


def make_view(source: str, target: str, read_only: bool) -> None:
    """Bind ``source`` at ``target`` (created) with links not followed; raises GuardedViewError."""
    if _LIBC is None:
        raise GuardedViewError("mount(2) is not available on this system")
    os.makedirs(target, exist_ok=True)
    if _LIBC.mount(os.fsencode(source), os.fsencode(target), None, _MS_BIND, None) != 0:
        raise GuardedViewError(f"bind mount refused: {os.strerror(ctypes.get_errno())}")
    flags = _MS_REMOUNT | _MS_BIND | _MS_NOSYMFOLLOW | _MS_NODEV | _MS_NOSUID | (_MS_RDONLY if read_only else 0)
    if _LIBC.mount(None, os.fsencode(target), None, flags, None) != 0:
        problem = os.strerror(ctypes.get_errno())
        _unmount(target)
        raise GuardedViewError(f"remount with nosymfollow refused: {problem}")


def supported(work_dir: str) -> bool:
    """Whether views can be made in ``work_dir`` here (root, a kernel with ``nosymfollow``);
    probed once per folder by making one and checking that a link in it is not followed."""
    if work_dir not in _supported:
        _supported[work_dir] = _probe(work_dir)
    return _supported[work_dir]


def _probe(work_dir: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="view-probe-", dir=work_dir) as tmp:
        source, target = os.path.join(tmp, "source"), os.path.join(tmp, "view")
        os.mkdir(source)
        with open(os.path.join(source, "file"), "w") as f:
            f.write("x")
        os.symlink("file", os.path.join(source, "link"))
        try:
            make_view(source, target, read_only=True)
        except GuardedViewError:
            return False
        try:
            open(os.path.join(target, "link")).close()  # noqa: SIM115
        except OSError:
            return True  # ELOOP: the kernel did not follow the link
        finally:
            _unmount(target)
        return False
