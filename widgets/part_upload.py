"""Large and resumable uploads, for the widgets and ``podium submit`` alike (one code path).

A file is sent as numbered parts to signed URLs, several at a time. What arrived stays in the
storage, so after a dropped connection or a kernel restart the same call asks the service which
parts arrived and sends only the others. Which announced object a file was going to is kept on
disk, keyed by the file's sha256 (``UploadMemory``), so a restarted kernel finds it again instead
of announcing (and paying quota for) a new one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import requests
from podium.worker.redaction import without_urls

if TYPE_CHECKING:
    from .client import PodiumClient

#: files at least this large go in parts (smaller ones in one PUT)
PARTS_FROM = 32 * 1024 * 1024
PARALLEL = 4
RETRIES = 3
READ_CHUNK = 256 * 1024

#: What can be uploaded, the bytes themselves or the path of a file (read part by part).
Source = bytes | str | os.PathLike
ProgressCallback = Callable[[int, int], None]


def source_size(source: Source) -> int:
    return len(source) if isinstance(source, bytes | bytearray) else os.path.getsize(source)


def source_sha256(source: Source) -> str:
    if isinstance(source, bytes | bytearray):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def read_all(source: Source) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    return Path(source).read_bytes()


def default_memory_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "podium" / "uploads"


class UploadMemory:
    """Uploads under way, one JSON file per file's sha256 (``<dir>/<sha256>.json``), each holding
    what that file was being uploaded as (``purpose`` → e.g. the submission's Idempotency-Key).
    Readable by its user only: it names objects, never a signed URL."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_memory_dir()

    def _file(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.json"

    def _read(self, sha256: str) -> dict[str, Any]:
        try:
            return json.loads(self._file(sha256).read_text())
        except (OSError, ValueError):
            return {}

    def recall(self, sha256: str, purpose: str) -> dict[str, Any] | None:
        return self._read(sha256).get(purpose)

    def remember(self, sha256: str, purpose: str, record: dict[str, Any]) -> None:
        entries = self._read(sha256)
        entries[purpose] = record
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._file(sha256).with_suffix(".tmp")
        tmp.write_text(json.dumps(entries))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._file(sha256))

    def forget(self, sha256: str, purpose: str) -> None:
        entries = self._read(sha256)
        if entries.pop(purpose, None) is None:
            return
        if entries:
            self._file(sha256).write_text(json.dumps(entries))
        else:
            self._file(sha256).unlink(missing_ok=True)


class _Slice:
    """Bytes ``offset`` to ``offset + length`` of the source, as a sized body for ``requests``,
    reporting every chunk read to ``sent``. Not an ``io`` class: requests would ask it for its
    position, fail, and send the body chunked, which storages refuse."""

    def __init__(self, source: Source, offset: int, length: int, sent: Callable[[int], None]) -> None:
        self.length, self.left, self.sent = length, length, sent
        if isinstance(source, bytes | bytearray):
            self.file: BinaryIO = io.BytesIO(memoryview(source)[offset:offset + length])
        else:
            self.file = open(source, "rb")
            self.file.seek(offset)

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left, READ_CHUNK)
        chunk = self.file.read(size) if size else b""
        self.left -= len(chunk)
        if chunk:
            self.sent(len(chunk))
        return chunk

    def close(self) -> None:
        self.file.close()


class _Progress:
    """Bytes sent across the threads, reported as (sent, total); a failed part's bytes are taken back."""

    def __init__(self, total: int, already: int, callback: ProgressCallback | None) -> None:
        self.total, self.sent, self.callback = total, already, callback
        self.lock = threading.Lock()
        self.report()

    def add(self, n: int) -> None:
        with self.lock:
            self.sent += n
            self.report()

    def report(self) -> None:
        if self.callback is not None:
            self.callback(min(self.sent, self.total), self.total)


def upload_in_parts(
    client: PodiumClient,
    upload_path: str,
    source: Source,
    progress: ProgressCallback | None = None,
    parallel: int = PARALLEL,
) -> dict[str, Any]:
    """Send ``source`` to the announced object at ``upload_path`` (e.g. ``submissions/7/upload``)
    in parts, ``parallel`` at a time, skipping the parts that arrived before; then complete.
    Raises TransferFailed when a part cannot be sent: what arrived stays for the next call."""
    from .client import TransferFailed

    session = client.post(upload_path)
    plan_size, part_size = session["size"], session["part_size"]
    if plan_size != source_size(source):
        raise TransferFailed(f"This file is {source_size(source)} bytes, but {plan_size} bytes were announced.")
    missing = [n for n in range(1, session["part_count"] + 1) if n not in set(session["arrived"])]
    meter = _Progress(plan_size, session["bytes_arrived"], progress)
    headers = {**session.get("part_headers", {}), "Content-Type": "application/octet-stream"}

    def send(part: dict[str, Any]) -> None:
        offset = (part["number"] - 1) * part_size
        error = "no attempt"
        for attempt in range(RETRIES):
            counted = 0

            def sent(n: int) -> None:
                nonlocal counted
                counted += n
                meter.add(n)

            body = _Slice(source, offset, part["size"], sent)
            try:
                response = requests.put(part["url"], data=body, headers={**headers, "Content-Length": str(part["size"])},
                                        timeout=max(client.timeout, 300))
            except requests.RequestException as exc:
                error = without_urls(str(exc))
                response = None
            finally:
                body.close()
            if response is not None and response.status_code < 300:
                return
            meter.add(-counted)  # sent for nothing: it is sent again
            if response is not None:
                from .client import error_from_response

                error = error_from_response(response).message
                if response.status_code in (400, 403, 404, 409, 413):
                    break  # refused, not lost: sending it again would not help
            time.sleep(0.5 * (attempt + 1))
        raise TransferFailed(
            f"Part {part['number']} of {session['part_count']} could not be sent ({error}); the parts "
            "that arrived are kept: call the same upload again to resume."
        )

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for batch in _batches(missing, max(1, parallel) * 4):
            signed = client.post(upload_path + "/parts", {"numbers": batch})
            done, _ = wait([pool.submit(send, part) for part in signed["parts"]], return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # the first part that failed stops the upload (the rest waits for a resume)
    return client.post(upload_path + "/complete")


def _batches(numbers: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(numbers), size):
        yield numbers[i:i + size]


def download_in_parts(url: str, size: int, target: Path, part_size: int = 16 * 1024 * 1024,
                      parallel: int = PARALLEL, timeout: float = 300) -> Path:
    """Save the object behind a signed GET ``url`` to ``target`` in byte ranges fetched
    ``parallel`` at a time (S3 and Azure serve ranges; a storage that answers a range with the
    whole object is read in one stream instead). Written to ``target.part`` and renamed when whole."""
    from .client import TransferFailed

    partial = target.with_name(target.name + ".part")
    with open(partial, "wb") as f:
        f.truncate(size)

    def fetch(start: int) -> None:
        end = min(start + part_size, size) - 1
        with requests.get(url, headers={"Range": f"bytes={start}-{end}"}, stream=True, timeout=timeout) as r:
            if r.status_code == 200 and start == 0:
                return _stream_whole(r, partial)
            if r.status_code != 206:
                raise TransferFailed(f"The download of bytes {start}-{end} failed ({r.status_code}).", r.status_code)
            with open(partial, "r+b") as f:
                f.seek(start)
                for chunk in r.iter_content(READ_CHUNK):
                    f.write(chunk)

    try:
        if size <= part_size:
            fetch(0)
        else:
            with requests.get(url, headers={"Range": "bytes=0-0"}, stream=True, timeout=timeout) as probe:
                ranged = probe.status_code == 206
            if not ranged:  # no ranges here: one stream
                with requests.get(url, stream=True, timeout=timeout) as r:
                    _stream_whole(r, partial)
            else:
                with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
                    for future in [pool.submit(fetch, start) for start in range(0, size, part_size)]:
                        future.result()
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise TransferFailed(f"The download failed: {without_urls(str(exc))}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


def _stream_whole(response: requests.Response, path: Path) -> None:
    from .client import TransferFailed

    if response.status_code >= 400:
        raise TransferFailed(f"The download failed ({response.status_code}).", response.status_code)
    with open(path, "wb") as f:
        for chunk in response.iter_content(READ_CHUNK):
            f.write(chunk)
