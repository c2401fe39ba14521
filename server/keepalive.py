"""An answer sent before the request's body has been read ends the connection: say so in it."""

from __future__ import annotations

from tornado.web import RequestHandler


def announce_close_if_body_unread(handler: RequestHandler) -> None:
    """Call before writing an answer's headers. Tornado closes the connection after answering a
    request it has not finished reading (a ``stream_request_body`` handler refusing in ``prepare``
    or while the body streams): closing is the only way to skip the rest of the body. It decides
    that after the headers went out, so the answer would look keep-alive, and a client sending its
    next request on that connection meets a reset (``ConnectionResetError``) instead of an answer.
    ``Connection: close`` makes the client open a new connection."""
    body = getattr(handler.request, "_body_future", None)  # set by Tornado for streamed bodies
    if body is not None and not body.done():
        handler.set_header("Connection", "close")
