"""Free disk space where a worker runs attempts and keeps its cache: below the admin's floor
(``--min-free-mb``) the worker prunes its dataset cache and, if that is not enough, claims
nothing until space is freed (``readiness``), so that a full disk never fails a participant's
submission (the service publishes an unclaimed attempt again, and a message left in the broker
goes to another worker of the queue)."""

from __future__ import annotations

import errno
import logging
import os

from .cache import DatasetCache

log = logging.getLogger("podium.worker")

#: what a participant reads when the worker's disk filled up under their attempt (retried at no cost)
WORKER_DISK_FULL = "The worker's disk is full; the submission is tried again and does not count against your quota."
#: seconds between two looks at the disk while it is too full to take a job
DISK_RETRY_SECONDS = 5.0
#: errors of a write that found no room (no space, or over a disk quota)
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def no_room(error: BaseException) -> bool:
    """Whether ``error`` is a write refused because the disk (or the user's quota on it) is full."""
    return isinstance(error, OSError) and error.errno in NO_ROOM_ERRNOS


def free_bytes(path: str) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DiskGuard:
    """Keeps ``min_free_bytes`` free on the filesystems of ``paths`` (0: no floor), pruning
    ``cache`` least recently used first when short."""

    def __init__(self, paths: list[str], min_free_bytes: int, cache: DatasetCache | None = None) -> None:
        self.paths, self.min_free_bytes, self.cache = paths, min_free_bytes, cache

    def shortage(self, prune: bool = True) -> str | None:
        """None when every path has room; else why not, once the cache is pruned as far as helps
        (``prune=False``: only look, as a status report beside a running job does)."""
        if self.min_free_bytes <= 0:
            return None
        if prune and self._low() is not None and self.cache is not None:
            freed = self.cache.prune(lambda: self._low() is None)
            if freed:
                log.warning("disk space is low: removed %d MB from the dataset cache", freed // (1024 * 1024))
        low = self._low()
        if low is None:
            return None
        path, free = low
        return (f"{path} has {free // (1024 * 1024)} MB free, less than the {self.min_free_bytes // (1024 * 1024)} MB "
                "this worker keeps free (--min-free-mb), even with its dataset cache pruned")

    def _low(self) -> tuple[str, int] | None:
        """The first path with less than the floor free, and its free bytes; None when all have room."""
        for path in self.paths:
            free = free_bytes(path)
            if free < self.min_free_bytes:
                return path, free
        return None
