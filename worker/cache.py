"""Downloaded datasets and programs, cached by content hash under a size cap (least recently used
first out), so a worker fetches reference data once per version, not once per submission."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable


class DatasetCache:
    def __init__(self, root: str, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        os.makedirs(root, exist_ok=True)

    def path_for(self, sha256: str) -> str:
        return os.path.join(self.root, sha256)

    def get(self, sha256: str, fetch: Callable[[str], None]) -> str:
        """The cached file with this hash, fetched (and verified by ``fetch``) if missing."""
        path = self.path_for(sha256)
        with self._lock:
            if os.path.exists(path):
                os.utime(path)
                return path
        tmp = f"{path}.part-{os.getpid()}-{threading.get_ident()}"
        try:
            fetch(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        self.evict()
        return path

    def _entries(self) -> list[tuple[float, int, str]]:
        """Complete cached files as (last use, size, path), least recently used first; downloads
        in progress (``.part-``) are not entries."""
        entries = []
        for name in os.listdir(self.root):
            full = os.path.join(self.root, name)
            if ".part-" in name or not os.path.isfile(full):
                continue
            st = os.stat(full)
            entries.append((st.st_mtime, st.st_size, full))
        return sorted(entries)

    def evict(self) -> None:
        with self._lock:
            entries = self._entries()
            total = sum(size for _, size, _ in entries)
            for _, size, full in entries:
                if total <= self.max_bytes:
                    break
                os.remove(full)
                total -= size

    def prune(self, enough: Callable[[], bool]) -> int:
        """Remove cached files, least recently used first, until ``enough()`` holds or none is
        left (the disk is short of space); returns the bytes removed."""
        freed = 0
        with self._lock:
            for _, size, full in self._entries():
                if enough():
                    break
                os.remove(full)
                freed += size
        return freed

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root, exist_ok=True)


