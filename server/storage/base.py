"""The storage interface every backend implements (local directory now; S3 and Azure later).

Objects are addressed by keys: relative POSIX paths of ``[A-Za-z0-9._-]`` segments. Clients
never see the storage itself, only short-lived signed URLs for one method on one key, capped in
size for uploads.

::

    StorageError
    ├── InvalidStorageKey (400)
    ├── ObjectNotFound (404)
    ├── SignatureInvalid (403) ........... missing or tampered signature
    ├── SignatureExpired (403)
    ├── MethodNotAllowedBySignature (403)  a GET with a PUT URL or the reverse
    └── ObjectTooLarge (413)
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, Literal

Method = Literal["GET", "PUT"]
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_KEY_LENGTH = 512


class StorageError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidStorageKey(StorageError):
    status_code = 400


class ObjectNotFound(StorageError):
    status_code = 404


class SignatureInvalid(StorageError):
    status_code = 403


class SignatureExpired(StorageError):
    status_code = 403


class MethodNotAllowedBySignature(StorageError):
    status_code = 403


class ObjectTooLarge(StorageError):
    status_code = 413


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise InvalidStorageKey."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey(f"An object key must be 1 to {MAX_KEY_LENGTH} characters.")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise InvalidStorageKey(
                f"Invalid object key {key!r}: use '/'-separated names of letters, digits, '.', '_' "
                "and '-', without empty, '.' or '..' parts."
            )
    return key


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str


class Storage(ABC):
    """Where programs, datasets, submissions and outputs live."""

    @abstractmethod
    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        """Store an object (atomically replacing any previous one)."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Read an object; raises ObjectNotFound."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of an object, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix/``."""

    @abstractmethod
    def signed_url(
        self,
        key: str,
        method: Method,
        expires_in: int,
        max_size: int | None = None,
        filename: str | None = None,
    ) -> str:
        """A URL allowing ``method`` on ``key`` for ``expires_in`` seconds (uploads capped at
        ``max_size`` bytes; downloads named ``filename``)."""
