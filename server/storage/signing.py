"""HMAC signatures for storage URLs served by the service itself (the local backend)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import MethodNotAllowedBySignature, SignatureExpired, SignatureInvalid
from .base import METHODS

# Bumping the version invalidates every outstanding link (they are short-lived anyway).
_VERSION = "podium-storage-v1"
_INTEGER = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class Grant:
    """What a verified link allows: one method on one key, until ``expires``."""

    key: str
    method: str
    expires: int
    max_size: int | None
    filename: str | None


class UrlSigner:
    """Signs (key, method, expiry, size cap, filename); ``clock`` is a seam so tests move time."""

    def __init__(self, secret_key: bytes, clock: Callable[[], float] = time.time) -> None:
        if not secret_key:
            raise ValueError("A non-empty secret key is required to sign storage URLs.")
        self.secret_key = bytes(secret_key)
        self.clock = clock

    def _digest(
        self, key: str, method: str | None, expires: str | None, max_size: str | None, filename: str | None
    ) -> str:
        # JSON keeps the fields apart (no separator can be smuggled in) and tells an absent field
        # (null) from an empty one (""), so no parameter can be added or dropped unnoticed.
        canonical = json.dumps([_VERSION, key, method, expires, max_size, filename])
        return hmac.new(self.secret_key, canonical.encode(), hashlib.sha256).hexdigest()

    def sign(
        self,
        key: str,
        method: str,
        expires_at: int,
        max_size: int | None = None,
        filename: str | None = None,
    ) -> dict[str, str]:
        """Query parameters (``method``, ``expires``, ``max_size``, ``filename``, ``sig``)."""
        if method not in METHODS:
            raise ValueError(f"Storage URLs are signed for GET or PUT, not {method!r}.")
        if max_size is not None and max_size < 0:
            raise ValueError("max_size must be zero or more bytes.")
        params = {"method": method, "expires": str(int(expires_at))}
        if max_size is not None:
            params["max_size"] = str(int(max_size))
        if filename:
            params["filename"] = filename
        params["sig"] = self._digest(
            key, method, params["expires"], params.get("max_size"), params.get("filename")
        )
        return params

    def verify(self, key: str, method: str, params: Mapping[str, str]) -> Grant:
        """Check a request against its link's parameters; returns the grant or raises the
        specific refusal (SignatureInvalid, SignatureExpired, MethodNotAllowedBySignature)."""
        signature = params.get("sig")
        expected = self._digest(
            key, params.get("method"), params.get("expires"), params.get("max_size"), params.get("filename")
        )
        if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise SignatureInvalid()
        expires, max_size = params.get("expires", ""), params.get("max_size")
        if not _INTEGER.fullmatch(expires) or (max_size is not None and not _INTEGER.fullmatch(max_size)):
            raise SignatureInvalid()  # only reachable if something else signed with our key
        if self.clock() > int(expires):
            raise SignatureExpired()
        if params.get("method") != method:
            raise MethodNotAllowedBySignature(
                f"This link allows {params.get('method')} requests only, not {method}: a download "
                "link cannot be used to upload, nor an upload link to download."
            )
        return Grant(
            key=key,
            method=method,
            expires=int(expires),
            max_size=int(max_size) if max_size is not None else None,
            filename=params.get("filename"),
        )
