"""Serves the local backend's signed URLs: streamed GET and PUT, verified before any byte moves."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from tornado import iostream
from tornado.web import RequestHandler, stream_request_body

from ..storage.base import ObjectTooLarge, StorageError
from ..storage.local import CHUNK, AtomicWriter, LocalStorage

DEFAULT_MAX_PUT = 1024 * 1024 * 1024


@stream_request_body
class SignedObjectHandler(RequestHandler):
    """``GET|PUT <base>/storage/<key>?method=&expires=&max_size=&sig=``."""

    SUPPORTED_METHODS = ("GET", "PUT")
    writer: AtomicWriter | None = None
    max_size: int | None = None

    @property
    def storage(self) -> LocalStorage:
        return self.settings["podium_storage"]

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    def prepare(self) -> None:
        self.key = unquote(self.path_args[0])
        params = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        self.storage.path(self.key)  # validates the key
        signed = self.storage.signer.verify(self.key, self.request.method, params)
        if self.request.method != "PUT":
            return
        self.max_size = int(signed["max_size"]) if "max_size" in signed else DEFAULT_MAX_PUT
        # Tornado's own cap answers 400; keep it out of the way and count bytes ourselves (413).
        self.request.connection.set_max_body_size(max(self.max_size + 1, DEFAULT_MAX_PUT))
        length = self.request.headers.get("Content-Length")
        if length is not None and int(length) > self.max_size:
            raise ObjectTooLarge(
                f"The upload is {length} bytes; this link accepts at most {self.max_size} bytes."
            )
        self.writer = self.storage.writer(self.key)

    def data_received(self, chunk: bytes) -> None:
        if self.writer is None:
            return
        if self.writer.size + len(chunk) > self.max_size:
            self.writer.abort()
            self.writer = None
            self._refuse(ObjectTooLarge(f"The upload exceeds {self.max_size} bytes, the most this link accepts."))
            return
        self.writer.write(chunk)

    async def get(self, _key: str) -> None:
        handle = self.storage.open(self.key)
        with handle:
            self.set_header("Content-Type", "application/octet-stream")
            filename = self.get_query_argument("filename", None)
            if filename:
                safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "download"
                self.set_header("Content-Disposition", f'attachment; filename="{safe}"')
            import os

            self.set_header("Content-Length", os.fstat(handle.fileno()).st_size)
            while chunk := handle.read(CHUNK):
                self.write(chunk)
                try:
                    await self.flush()
                except iostream.StreamClosedError:
                    return

    async def put(self, _key: str) -> None:
        if self.writer is None:
            return  # already refused while streaming
        info = self.writer.commit()
        self.writer = None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"key": info.key, "size": info.size, "sha256": info.sha256}))

    def on_connection_close(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def on_finish(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def _refuse(self, error: StorageError) -> None:
        self.set_status(error.status_code)
        self._write_json_error(error.status_code, error)
        # stop reading the rest of a too-large body
        self.request.connection.close() if hasattr(self.request.connection, "close") else None

    def _write_json_error(self, status: int, error: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {"error": {"status": status, "reason": type(error).__name__, "message": str(error)}}
            )
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, StorageError):
            self._write_json_error(exc.status_code, exc)
        else:
            self._write_json_error(status_code, Exception(self._reason))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, StorageError):
            if self.writer is not None:
                self.writer.abort()
                self.writer = None
            if not self._finished:
                self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


default_handlers = [(r"/storage/(.+)", SignedObjectHandler)]
