"""The embedded-default storage: a local directory, with URLs signed and served by the service."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import BinaryIO
from urllib.parse import quote, urlencode

from .base import Method, ObjectInfo, ObjectNotFound, Storage, validate_key
from .signing import UrlSigner

CHUNK = 1024 * 1024


class LocalStorage(Storage):
    def __init__(self, root: str, base_url: str, signer: UrlSigner) -> None:
        self.root = os.path.abspath(root)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.signer = signer
        os.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        return os.path.join(self.root, *validate_key(key).split("/"))

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

    def writer(self, key: str) -> AtomicWriter:
        """A file that appears under ``key`` only when committed."""
        return AtomicWriter(self.path(key), key)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectNotFound(f"No object {key!r}.") from None

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        if not os.path.isfile(path):
            return None
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return ObjectInfo(key, size, digest.hexdigest())

    def delete(self, key: str) -> None:
        try:
            os.remove(self.path(key))
        except FileNotFoundError:
            pass

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

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
            key, method, int(self.signer.clock()) + expires_in, max_size=max_size, filename=filename
        )
        return f"{self.base_url}storage/{quote(key)}?{urlencode(params)}"


class AtomicWriter:
    """Writes to a temporary file beside the target; ``commit`` renames it into place."""

    def __init__(self, path: str, key: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.key = path, key
        fd, self.tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".upload-")
        self.file = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def commit(self) -> ObjectInfo:
        self.file.close()
        os.replace(self.tmp, self.path)
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
