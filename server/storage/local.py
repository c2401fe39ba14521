"""The embedded-default storage: a local directory, with URLs signed and served by the service."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import BinaryIO
from urllib.parse import quote, urlencode

from .base import InvalidStorageKey, Method, ObjectInfo, ObjectNotFound, Storage, validate_key
from .signing import UrlSigner

CHUNK = 1024 * 1024
TEMP_PREFIX = ".upload-"


def _conflict(key: str) -> InvalidStorageKey:
    return InvalidStorageKey(
        f"The file name {key[:80]!r} clashes with an existing file or folder of the same name "
        "in local storage; choose another name."
    )


class LocalStorage(Storage):
    """Objects as files under ``root``; clients reach them through ``{base_url}storage/<key>``."""

    def __init__(self, root: str, base_url: str, signer: UrlSigner) -> None:
        self.root = os.path.abspath(root)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.signer = signer
        os.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        """The file of ``key`` (validated, so always inside ``root``)."""
        return os.path.join(self.root, *validate_key(key).split("/"))

    def writer(self, key: str) -> AtomicWriter:
        """A file that appears under ``key`` only when committed (used by the PUT handler)."""
        return AtomicWriter(self.path(key), key)

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        writer = self.writer(key)
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                writer.write(bytes(data))
            else:
                while chunk := data.read(CHUNK):
                    writer.write(chunk)
            return writer.commit()
        finally:
            writer.abort()

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound() from None

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            f = self.open(key)
        except ObjectNotFound:
            return None
        digest, size = hashlib.sha256(), 0
        with f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return ObjectInfo(key, size, digest.hexdigest())

    def delete(self, key: str) -> None:
        try:
            os.remove(self.path(key))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass  # no object under that key (a folder is not an object)

    def delete_prefix(self, prefix: str) -> None:
        try:
            shutil.rmtree(self.path(prefix))
        except (FileNotFoundError, NotADirectoryError):
            pass  # nothing under prefix/

    def signed_url(
        self,
        key: str,
        method: Method,
        expires_in: int,
        max_size: int | None = None,
        filename: str | None = None,
    ) -> str:
        validate_key(key)
        params = self.signer.sign(
            key, method, int(self.signer.clock()) + int(expires_in), max_size=max_size, filename=filename
        )
        return f"{self.base_url}storage/{quote(key)}?{urlencode(params)}"


class AtomicWriter:
    """Writes to a temporary file beside the target; ``commit`` renames it into place, so readers
    never see a partial object and a failed upload leaves the previous one untouched."""

    def __init__(self, path: str, key: str) -> None:
        self.path, self.key = path, key
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
        except (FileExistsError, NotADirectoryError):
            raise _conflict(key) from None
        self.file = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def commit(self) -> ObjectInfo:
        """Make the object visible under its key; returns its size and sha256."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        try:
            os.replace(self.tmp, self.path)
        except IsADirectoryError:
            raise _conflict(self.key) from None
        self.tmp = None
        return ObjectInfo(self.key, self.size, self.digest.hexdigest())

    def abort(self) -> None:
        """Remove the temporary file unless committed (safe to call more than once)."""
        if not self.file.closed:
            self.file.close()
        if self.tmp is not None:
            try:
                os.remove(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None
