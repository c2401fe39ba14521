"""Hard disk caps for an attempt's run directory: the directories containers write to become
size-capped tmpfs mounts (when the worker runs as root), released after the run and after a
crash. A full tmpfs is reported to the participant as the disk limit.
"""

from __future__ import annotations

import codecs
import ctypes
import ctypes.util
import logging
import os
import shutil
import subprocess
import sys

log = logging.getLogger("podium.worker")

_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None


def _mount_tmpfs(path: str, options: str) -> str | None:
    """mount(2) a tmpfs on ``path``; None on success, else the reason. The system call, not the
    ``mount`` command: eight fork-execs of mount and umount were 20-30 ms of every attempt."""
    if _LIBC is not None:
        if _LIBC.mount(b"tmpfs", os.fsencode(path), b"tmpfs", _MS_NOSUID | _MS_NODEV, options.encode()) == 0:
            return None
        return os.strerror(ctypes.get_errno())
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},nosuid,nodev", "tmpfs", path],
                            capture_output=True)
    return None if result.returncode == 0 else result.stderr.decode(errors="replace")


def _unmount(path: str) -> None:
    """Detach a mount (``umount -l``)."""
    if _LIBC is not None and _LIBC.umount2(os.fsencode(path), _MNT_DETACH) == 0:
        return
    subprocess.run(["umount", "-l", path], capture_output=True)


def cap(path: str, megabytes: int) -> None:
    """A hard size cap on a directory containers write to (a tmpfs); needs root."""
    problem = _mount_tmpfs(path, f"size={megabytes}m,mode=0777")
    if problem is not None:
        log.warning("could not cap %s with a tmpfs: %s", path, problem)


def _mounts_under(root: str) -> list[str] | None:
    """Mount points at or under ``root``, deepest first, from ``/proc/self/mountinfo`` (which also
    knows bind mounts of a folder on the same filesystem, where ``os.path.ismount`` says no);
    None where there is no such file."""
    prefix = os.path.realpath(root)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            points = [codecs.decode(line.split()[4], "unicode_escape") for line in f]
    except OSError:
        return None
    return sorted((p for p in points if p == prefix or p.startswith(prefix + "/")), key=len, reverse=True)


def release(root: str) -> None:
    """Unmount what was mounted under ``root`` (tmpfs caps, link-proof views) and remove it."""
    mounts = _mounts_under(root)
    if mounts is None:
        mounts = [d for d, _dirs, _files in os.walk(root, topdown=False) if os.path.ismount(d)]
    for point in mounts:
        _unmount(point)
    shutil.rmtree(root, ignore_errors=True)


def release_stale_runs(work_dir: str) -> None:
    """Unmount and remove the run directories a killed worker left in ``work_dir``."""
    for name in os.listdir(work_dir):
        if name.startswith("attempt-"):
            release(os.path.join(work_dir, name))
