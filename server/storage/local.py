"""The embedded-default storage: a local directory, with URLs signed and served by the service."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from ..errors import InvalidStorageKey, ObjectNotFound
from .base import Method, ObjectInfo, PartPlan, Storage, validate_key
from .signing import UrlSigner

CHUNK = 1024 * 1024
TEMP_PREFIX = ".upload-"
#: digests of objects this process wrote, kept while the file is provably the one written
REMEMBERED_DIGESTS = 4096
#: folder of the parts of uploads in progress; ``#`` is never in a key, so no object can clash
PARTS_FOLDER = "#parts"
_STARTED = "started"


def part_grant_name(key: str, number: int) -> str:
    """What a part URL's signature covers: the object's key and the part number together."""
    return f"{key}#part={number}"


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What changes whenever a file's content may have: a replace gives a new inode, a write in
    place a new ctime (which, unlike mtime, cannot be set back)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_ctime_ns)


def _conflict(key: str) -> InvalidStorageKey:
    return InvalidStorageKey(
        f"The file name {key[:80]!r} clashes with an existing file or folder of the same name "
        "in local storage; choose another name."
    )


class LocalStorage(Storage):
    """Objects as files under ``root``; clients reach them through ``{base_url}storage/<key>``."""

    @classmethod
    def from_config(cls, parent: Any) -> LocalStorage:
        """The service's own directory (``storage_root``), its public URL and its URL signer."""
        return cls(root=parent.storage_root, base_url=parent.public_url, signer=parent.signer)

    def __init__(self, root: str, base_url: str, signer: UrlSigner) -> None:
        self.root = os.path.abspath(root)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.signer = signer
        os.makedirs(self.root, exist_ok=True)
        self._digests: OrderedDict[str, tuple[tuple[int, int, int, int], ObjectInfo]] = OrderedDict()
        self._digests_lock = threading.Lock()

    def path(self, key: str) -> str:
        """The file of ``key`` (validated, so always inside ``root``)."""
        return os.path.join(self.root, *validate_key(key).split("/"))

    def writer(self, key: str) -> AtomicWriter:
        """A file that appears under ``key`` only when committed (used by the PUT handler)."""
        return AtomicWriter(self.path(key), key, self._remember)

    def _remember(self, identity: tuple[int, int, int, int], info: ObjectInfo) -> None:
        """Keep the size and sha256 an upload computed while streaming, so confirming it (and
        attaching a worker's outputs) does not read the whole object back on the event loop."""
        with self._digests_lock:
            self._digests[info.key] = (identity, info)
            self._digests.move_to_end(info.key)
            while len(self._digests) > REMEMBERED_DIGESTS:
                self._digests.popitem(last=False)

    def _remembered(self, key: str, st: os.stat_result) -> ObjectInfo | None:
        with self._digests_lock:
            entry = self._digests.get(key)
        if entry is not None and entry[0] == _identity(st):
            return entry[1]
        return None

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
        with f:
            st = os.fstat(f.fileno())
            remembered = self._remembered(key, st)
            if remembered is not None:
                return remembered
            digest, size = hashlib.sha256(), 0
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return ObjectInfo(key, size, digest.hexdigest())

    def _forget(self, key: str) -> None:
        with self._digests_lock:
            self._digests.pop(key, None)

    def keys(self) -> Iterator[str]:
        """Every object key under the root, in a stable order (uploads in progress left out)."""
        for directory, folders, files in os.walk(self.root):
            if directory == self.root and PARTS_FOLDER in folders:
                folders.remove(PARTS_FOLDER)
            folders.sort()
            for name in sorted(files):
                if not name.startswith(TEMP_PREFIX):
                    yield os.path.relpath(os.path.join(directory, name), self.root).replace(os.sep, "/")

    def delete(self, key: str) -> None:
        self._forget(key)
        try:
            os.remove(self.path(key))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass  # no object under that key (a folder is not an object)

    def delete_prefix(self, prefix: str) -> None:
        with self._digests_lock:
            for key in [k for k in self._digests if k.startswith(prefix.rstrip("/") + "/")]:
                del self._digests[key]
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
        exact_size: int | None = None,
    ) -> str:
        validate_key(key)
        if max_size is None and exact_size is not None:
            max_size = exact_size
        params = self.signer.sign(
            key, method, int(self.signer.clock()) + int(expires_in), max_size=max_size, filename=filename
        )
        return f"{self.base_url}storage/{quote(key)}?{urlencode(params)}"

    # --- uploads in parts: chunk files under #parts/<key with / as ~>/<number> -------------------

    def parts_dir(self, key: str) -> str:
        """The folder of ``key``'s parts (``~`` is never in a key either, so the name is unique)."""
        return os.path.join(self.root, PARTS_FOLDER, validate_key(key).replace("/", "~"))

    def start_parts(self, key: str) -> None:
        folder = self.parts_dir(key)
        os.makedirs(folder, exist_ok=True)
        marker = os.path.join(folder, _STARTED)
        if not os.path.exists(marker):
            with open(marker, "w"):
                pass  # its mtime is when the upload started (for the cleanup of abandoned ones)

    def part_writer(self, key: str, number: int) -> AtomicWriter:
        """A part file that appears only once complete (used by the part PUT handler)."""
        folder = self.parts_dir(key)
        if not os.path.exists(os.path.join(folder, _STARTED)):
            raise InvalidStorageKey("No upload in parts is open for this file: start one first.")
        return AtomicWriter(os.path.join(folder, str(number)), key)

    def part_url(self, key: str, number: int, size: int, expires_in: int) -> str:
        params = self.signer.sign(
            part_grant_name(validate_key(key), number), "PUT", int(self.signer.clock()) + int(expires_in), max_size=size
        )
        return f"{self.base_url}storage-parts/{int(number)}/{quote(key)}?{urlencode(params)}"

    def arrived_parts(self, key: str) -> dict[int, int]:
        folder = self.parts_dir(key)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return {}
        return {int(n): os.path.getsize(os.path.join(folder, n)) for n in names if n.isdigit()}

    def complete_parts(self, key: str, plan: PartPlan) -> None:
        plan.check_arrived(self.arrived_parts(key))
        folder = self.parts_dir(key)
        writer = self.writer(key)
        try:
            for number in range(1, plan.count + 1):
                with open(os.path.join(folder, str(number)), "rb") as part:
                    while chunk := part.read(CHUNK):
                        writer.write(chunk)
            writer.commit()
        finally:
            writer.abort()
        shutil.rmtree(folder, ignore_errors=True)

    def abort_parts(self, key: str) -> None:
        shutil.rmtree(self.parts_dir(key), ignore_errors=True)

    def abandoned_part_uploads(self, older_than: float) -> list[str]:
        top, cutoff = os.path.join(self.root, PARTS_FOLDER), time.time() - older_than
        try:
            names = sorted(os.listdir(top))
        except FileNotFoundError:
            return []
        stale = []
        for name in names:
            try:
                started = os.path.getmtime(os.path.join(top, name, _STARTED))
            except FileNotFoundError:
                started = os.path.getmtime(os.path.join(top, name))
            if started < cutoff:
                stale.append(name.replace("~", "/"))
        return stale


class AtomicWriter:
    """Writes to a temporary file beside the target; ``commit`` renames it into place, so readers
    never see a partial object and a failed upload leaves the previous one untouched."""

    def __init__(self, path: str, key: str, on_commit: Callable[[tuple[int, int, int, int], ObjectInfo], None] | None = None) -> None:
        self.path, self.key, self.on_commit = path, key, on_commit
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
        try:
            os.replace(self.tmp, self.path)
        except IsADirectoryError:
            self.file.close()
            raise _conflict(self.key) from None
        self.tmp = None
        try:
            # this very inode, as renamed: a later replace by anyone gives the key another one
            identity = _identity(os.fstat(self.file.fileno()))
        finally:
            self.file.close()
        info = ObjectInfo(self.key, self.size, self.digest.hexdigest())
        if self.on_commit is not None:
            self.on_commit(identity, info)
        return info

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
