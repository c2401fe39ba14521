"""The storage interface every backend implements (local directory now; S3 and Azure later).

Objects are addressed by keys: relative POSIX paths of ``[A-Za-z0-9._-]`` segments. Clients
never see the storage itself, only short-lived signed URLs for one method on one key, capped in
size for uploads. Their refusals are the ``StorageError`` branch of ``podium.server.errors``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

from ..errors import MAX_KEY_LENGTH, InvalidStorageKey, UploadMismatch

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


def content_disposition(filename: str) -> str:
    """A ``Content-Disposition`` header value naming a download (RFC 6266, any characters)."""
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class ObjectInfo:
    """What callers check an upload against: its exact size and content digest."""

    key: str
    size: int
    sha256: str


def hash_stream(key: str, stream: BinaryIO, chunk: int = 1024 * 1024) -> ObjectInfo:
    """Size and sha256 of what ``stream`` yields, read in chunks."""
    digest, size = hashlib.sha256(), 0
    while data := stream.read(chunk):
        digest.update(data)
        size += len(data)
    return ObjectInfo(key, size, digest.hexdigest())


class RememberedDigests:
    """Digests of remote objects by (key, ETag), so a checksum read once (say in a thread, before
    a request handler needs it) is not read again while the object is unchanged."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._items: OrderedDict[str, tuple[str, ObjectInfo]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, etag: str) -> ObjectInfo | None:
        with self._lock:
            entry = self._items.get(key)
        return entry[1] if entry is not None and etag and entry[0] == etag else None

    def put(self, key: str, etag: str, info: ObjectInfo) -> None:
        with self._lock:
            self._items[key] = (etag, info)
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)


#: S3's own floor for every part but the last; the same on every backend, so one protocol fits all
MIN_PART_SIZE = 5 * 1024 * 1024
#: S3's ceiling on the number of parts of one object
MAX_PARTS = 10_000


@dataclass(frozen=True)
class PartPlan:
    """How an object of ``size`` bytes is cut: parts 1..``count`` of ``part_size`` bytes, the
    last one the remainder. The plan is a function of the size and the part size only, so the
    service, the storage and a resuming client always agree on it."""

    size: int
    part_size: int

    @classmethod
    def for_size(cls, size: int, preferred: int) -> PartPlan:
        """The preferred part size, raised to S3's floor and to what keeps ``size`` within MAX_PARTS parts."""
        floor = -(-size // MAX_PARTS)  # ceiling division
        return cls(size, max(preferred, MIN_PART_SIZE, floor))

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def size_of(self, number: int) -> int:
        """Bytes of part ``number`` (1-based)."""
        if not 1 <= number <= self.count:
            raise ValueError(f"part {number} is not between 1 and {self.count}")
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def check_arrived(self, arrived: dict[int, int]) -> None:
        """Raise UploadMismatch naming the first part missing or of the wrong size (nothing is
        assembled then: the client sends those parts again and completes once more)."""
        for number in range(1, self.count + 1):
            expected = self.size_of(number)
            if number not in arrived:
                raise UploadMismatch(
                    f"Part {number} of {self.count} has not arrived; upload it (the others are kept), then complete again."
                )
            if arrived[number] != expected:
                raise UploadMismatch(
                    f"Part {number} of {self.count} is {arrived[number]} bytes where {expected} were expected; "
                    "it was not used. Upload that part again, then complete again."
                )


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
        exact_size: int | None = None,
    ) -> str:
        """A URL allowing ``method`` on ``key`` for ``expires_in`` seconds, so clients never hold
        storage credentials (uploads capped at ``max_size`` bytes, or of exactly ``exact_size``
        bytes where the backend can sign a length; downloads named ``filename``)."""

    @classmethod
    @abstractmethod
    def from_config(cls, parent: Any) -> Storage:
        """Build the backend from its settings (``parent`` is the service application)."""

    def check(self) -> None:
        """Raise StorageMisconfigured, naming the setting, when the storage cannot be used (at start-up)."""
        return None  # a local directory was made usable by the constructor

    def upload_headers(self) -> dict[str, str]:
        """Headers a client must send with a PUT to a signed upload URL of this backend."""
        return {}

    # --- uploads in parts (one protocol on every backend) -------------------------------------
    # The part size and count come from a PartPlan; parts are numbered from 1. A backend keeps
    # what arrived (S3: the multipart upload; Azure: uncommitted blocks; local: chunk files), so a
    # client resumes by asking which parts arrived and sending only the others.

    @abstractmethod
    def start_parts(self, key: str) -> None:
        """Open an upload in parts for ``key``, or keep the one already open (idempotent)."""

    @abstractmethod
    def part_url(self, key: str, number: int, size: int, expires_in: int) -> str:
        """A signed PUT URL for part ``number`` of ``key``, ``size`` bytes (bound by the storage
        server where it can sign a length: S3 and local; Azure at ``complete_parts``)."""

    def part_headers(self) -> dict[str, str]:
        """Headers a client must send with a PUT to a part URL of this backend."""
        return {}

    @abstractmethod
    def arrived_parts(self, key: str) -> dict[int, int]:
        """Size of every part of ``key`` that arrived, by part number ({} when none or no upload)."""

    @abstractmethod
    def complete_parts(self, key: str, plan: PartPlan) -> None:
        """Assemble the parts into the object ``key`` once every part arrived with its planned
        size (else UploadMismatch, naming the part, and nothing is assembled)."""

    @abstractmethod
    def abort_parts(self, key: str) -> None:
        """Drop every part of ``key`` that arrived and close its upload (a missing one is not an error)."""

    @abstractmethod
    def abandoned_part_uploads(self, older_than: float) -> list[str]:
        """Keys whose upload in parts started more than ``older_than`` seconds ago and is still open."""
