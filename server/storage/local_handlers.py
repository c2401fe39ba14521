"""Serves the local backend's signed URLs: streamed GET and PUT, verified before any byte moves."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from tornado import httputil, iostream
from tornado.ioloop import IOLoop
from tornado.log import app_log
from tornado.web import RequestHandler, stream_request_body

from ..errors import ObjectTooLarge, StorageError, UploadClosed
from ..keepalive import announce_close_if_body_unread
from .base import validate_key
from .local import CHUNK, AtomicWriter, LocalStorage, part_grant_name

# An upload link signed without max_size still gets a cap.
DEFAULT_MAX_PUT = 1024 * 1024 * 1024
# Tornado's own body cap answers a bare 400 and, for chunked bodies, counts declared chunk sizes
# before we see a byte; we count the bytes ourselves (413), so its cap must never bite first.
_TORNADO_BODY_CAP = 1 << 62


def _content_length(headers: httputil.HTTPHeaders) -> int | None:
    """The announced body size, or None when absent or malformed (Tornado refuses the latter)."""
    value = headers.get("Content-Length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def _content_disposition(filename: str) -> str:
    """An attachment header safe for any name: an ASCII fallback plus the exact UTF-8 name."""
    name = os.path.basename(filename.replace("\\", "/")) or "download"
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in " ._-") else "_" for c in name)
    return f"attachment; filename=\"{fallback.strip() or 'download'}\"; filename*=UTF-8''{quote(name, safe='')}"


@stream_request_body
class SignedObjectHandler(RequestHandler):
    """``GET|PUT <base>/storage/<key>?method=&expires=&max_size=&filename=&sig=``.

    The signature is the only credential: it is checked in ``prepare``, before Tornado reads any of
    the body, and an upload is written to a temporary file that becomes the object only once it is
    complete and within its size cap.
    """

    SUPPORTED_METHODS = ("GET", "PUT")

    def initialize(self) -> None:
        self.key = ""
        self.filename: str | None = None
        self.writer: AtomicWriter | None = None
        self.max_size = DEFAULT_MAX_PUT
        self.closed: UploadClosed | None = None
        self.dropped = 0

    @property
    def storage(self) -> LocalStorage:
        return self.settings["podium_storage"]

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")

    def check_xsrf_cookie(self) -> None:
        """No cookie is involved: the URL's signature is the credential."""

    # --- before the body ---------------------------------------------------------------------

    async def prepare(self) -> None:
        try:
            await self._authorize()
        except StorageError as error:
            self._refuse(error)

    def signed_name(self) -> str:
        """What the URL's signature must cover (sets ``self.key``; a bad key is 400, whatever the signature)."""
        self.key = validate_key(self.path_args[-1])
        return self.key

    def open_writer(self) -> AtomicWriter:
        """Where the body goes until it is complete."""
        return self.storage.writer(self.key)

    async def _authorize(self) -> None:
        name = self.signed_name()
        params = {k: self.get_query_argument(k, strip=False) for k in self.request.query_arguments}
        grant = self.storage.signer.verify(name, self.request.method or "", params)
        self.filename = grant.filename
        if self.request.method != "PUT":
            return
        self.max_size = grant.max_size if grant.max_size is not None else DEFAULT_MAX_PUT
        self.request.connection.set_max_body_size(_TORNADO_BODY_CAP)
        length = _content_length(self.request.headers)
        if length is not None and length > self.max_size:
            raise ObjectTooLarge(
                f"This file is {length} bytes; this upload link accepts at most {self.max_size} bytes."
            )
        try:
            await self._check_purpose()
        except UploadClosed as closed:
            # a genuine link whose purpose ended: its (capped) body is read and dropped, so the
            # client reads the 409 instead of a connection reset
            self.closed = closed
            return
        self.writer = self.open_writer()

    async def _check_purpose(self) -> None:
        """Refuse an upload link whose purpose ended (``podium_upload_gate``: the object was
        confirmed, or its attempt is over), however long its signature still runs."""
        gate = self.settings.get("podium_upload_gate")
        if gate is not None:
            await gate(self.key)

    # --- while the body streams ----------------------------------------------------------------

    def data_received(self, chunk: bytes) -> None:
        if self.closed is not None and not self._finished:
            self.dropped += len(chunk)
            if self.dropped > self.max_size:
                self._refuse(self.closed)
            return
        if self.writer is None:
            return
        if self.writer.size + len(chunk) > self.max_size:
            self._refuse(
                ObjectTooLarge(f"This file exceeds {self.max_size} bytes, the most this upload link accepts.")
            )
            return
        try:
            self.writer.write(chunk)
        except OSError:
            app_log.exception("Storing the upload of %s failed", self.key)
            self._discard()
            self.clear()
            self._send_json_error(500, "StorageFailure", "The file could not be stored; try again later.")

    # --- after the body ------------------------------------------------------------------------

    async def get(self, *_path: str) -> None:
        try:
            handle = self.storage.open(self.key)
        except StorageError as error:
            self._refuse(error)
            return
        with handle:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Length", os.fstat(handle.fileno()).st_size)
            if self.filename:
                self.set_header("Content-Disposition", _content_disposition(self.filename))
            while chunk := handle.read(CHUNK):
                self.write(chunk)
                try:
                    await self.flush()
                except iostream.StreamClosedError:
                    return  # the client went away

    async def put(self, *_path: str) -> None:
        if self.closed is not None:
            self._refuse(self.closed)
            return
        if self.writer is None:
            return  # already refused while the body streamed
        writer, self.writer = self.writer, None
        try:
            await self._check_purpose()  # again: the object may have been confirmed while the body streamed
            # the fsync in a thread: every other request waits while the event loop is blocked
            info = await IOLoop.current().run_in_executor(None, writer.commit)
        except StorageError as error:
            writer.abort()
            self._refuse(error)
            return
        except BaseException:
            writer.abort()  # no temporary file left behind by a failed disk
            raise
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"key": info.key, "size": info.size, "sha256": info.sha256}))

    # --- cleanup and errors --------------------------------------------------------------------

    def on_connection_close(self) -> None:
        self._discard()  # the client hung up mid-upload

    def on_finish(self) -> None:
        self._discard()  # any answer but success leaves nothing behind

    def _discard(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def _refuse(self, error: StorageError) -> None:
        """Answer with the error; an unread body is then dropped with the connection by Tornado."""
        self._discard()
        if not self._finished:
            self.clear()
            self._send_json_error(error.status_code, type(error).__name__, error.message)

    def _send_json_error(self, status: int, reason: str, message: str) -> None:
        announce_close_if_body_unread(self)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"status": status, "reason": reason, "message": message}}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own refusals (405, malformed requests, crashes) in the same JSON shape."""
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.SUPPORTED_METHODS))
            message = ("Storage links accept GET (download) and PUT (upload) only." if "GET" in self.SUPPORTED_METHODS
                       else "Part links accept PUT (upload of that part) only.")
        elif status_code >= 500:
            message = "Something went wrong on the server; it has been logged."
        else:
            message = "This request is malformed."
        reason = "".join(httputil.responses.get(status_code, "Error").title().split())
        self._send_json_error(status_code, reason, message)


@stream_request_body
class SignedPartHandler(SignedObjectHandler):
    """``PUT <base>/storage-parts/<number>/<key>?...&sig=``: one part of an upload in parts, kept
    beside the others until the service assembles them (``LocalStorage.complete_parts``)."""

    SUPPORTED_METHODS = ("PUT",)

    def signed_name(self) -> str:
        self.key = validate_key(self.path_args[-1])
        self.number = int(self.path_args[0])
        return part_grant_name(self.key, self.number)

    def open_writer(self) -> AtomicWriter:
        return self.storage.part_writer(self.key, self.number)


default_handlers = [(r"/storage/(.+)", SignedObjectHandler), (r"/storage-parts/([0-9]{1,5})/(.+)", SignedPartHandler)]
