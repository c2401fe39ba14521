"""A bounded mapping that forgets the least recently used key first, safe across threads: the
service's in-memory caches (leaderboard pages, and what the change feed keeps good) are built on it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LeastRecentlyUsed(Generic[K, V]):
    """At most ``size`` values (0 keeps none); reading or writing a key makes it the most recent."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            self._trim()

    def resize(self, size: int) -> None:
        """Keep at most ``size`` values from now on."""
        with self._lock:
            self.size = size
            self._trim()

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def _trim(self) -> None:
        while len(self._values) > self.size:
            self._values.popitem(last=False)
