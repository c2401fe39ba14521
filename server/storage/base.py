"""The storage interface every backend implements (local directory now; S3 and Azure later).

Objects are addressed by keys: relative POSIX paths of ``[A-Za-z0-9._-]`` segments. Clients
never see the storage itself, only short-lived signed URLs for one method on one key, capped in
size for uploads. Their refusals are the ``StorageError`` branch of ``podium.server.errors``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, Literal

from ..errors import MAX_KEY_LENGTH, InvalidStorageKey

Method = Literal["GET", "PUT"]
METHODS: tuple[Method, ...] = ("GET", "PUT")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise InvalidStorageKey.

    Shared by every backend, so a key valid on one is valid on all (and can never climb out of a
    local root or alias another object).
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey()
    for segment in key.split("/"):
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            raise InvalidStorageKey(f"The file name {key[:80]!r} is not valid. " + InvalidStorageKey.default_message)
    return key


@dataclass(frozen=True)
class ObjectInfo:
    """What callers check an upload against: its exact size and content digest."""

    key: str
    size: int
    sha256: str


class Storage(ABC):
    """Where programs, datasets, submissions and outputs live, whatever the backend."""

    @abstractmethod
    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        """Store an object, atomically replacing any previous one (readers never see half)."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Read an object; raises ObjectNotFound."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of an object (computed by streaming), or None when it does not exist."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self.stat(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error (deletes are retried)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix/`` (a missing prefix is not an error)."""

    @abstractmethod
    def signed_url(
        self,
        key: str,
        method: Method,
        expires_in: int,
        max_size: int | None = None,
        filename: str | None = None,
    ) -> str:
        """A URL allowing ``method`` on ``key`` for ``expires_in`` seconds, so clients never hold
        storage credentials (uploads capped at ``max_size`` bytes; downloads named ``filename``)."""
