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
METHODS: tuple[Method, ...] = ("GET", "PUT")
MAX_KEY_LENGTH = 512
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


class StorageError(Exception):
    """Base of every storage refusal; ``status_code`` is the HTTP status it is served with."""

    status_code = 500
    default_message = "The file storage could not complete this request."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidStorageKey(StorageError):
    """The object name is not a safe relative path (so it can never escape the storage root)."""

    status_code = 400
    default_message = (
        "This file name is not valid: use '/'-separated names made of letters, digits, '.', '_' "
        f"and '-', with no empty, '.' or '..' parts, at most {MAX_KEY_LENGTH} characters in all."
    )


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    status_code = 404
    default_message = "This file does not exist (it was never uploaded, or it has been deleted)."


class SignatureInvalid(StorageError):
    """The link was altered, cut short, or signed with another key."""

    status_code = 403
    default_message = (
        "This link is not valid: it was altered or is incomplete. Copy the whole link again, "
        "or ask for a new one."
    )


class SignatureExpired(StorageError):
    """The link was genuine but its time is up."""

    status_code = 403
    default_message = "This link has expired. Ask for a new one."


class MethodNotAllowedBySignature(StorageError):
    """The link grants another method: a download link used to upload, or the reverse."""

    status_code = 403
    default_message = (
        "This link does not allow this kind of request: a download link cannot be used to "
        "upload, nor an upload link to download."
    )


class ObjectTooLarge(StorageError):
    """The upload exceeds the size the link was signed for."""

    status_code = 413
    default_message = "This file is larger than this upload link accepts."


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
