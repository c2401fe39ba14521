"""HMAC signatures for storage URLs served by the service itself (the local backend)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from .base import MethodNotAllowedBySignature, SignatureExpired, SignatureInvalid

SIGNED_FIELDS = ("method", "expires", "max_size", "filename")


class UrlSigner:
    """Signs (key, method, expiry, size cap, filename); ``clock`` is a seam for tests."""

    def __init__(self, secret_key: bytes, clock: Callable[[], float] = time.time) -> None:
        if not secret_key:
            raise ValueError("A signing key is required.")
        self.secret_key = secret_key
        self.clock = clock

    def _digest(self, key: str, params: Mapping[str, str]) -> str:
        canonical = "\n".join([key] + [f"{f}={params.get(f, '')}" for f in SIGNED_FIELDS])
        return hmac.new(self.secret_key, canonical.encode(), hashlib.sha256).hexdigest()

    def sign(
        self, key: str, method: str, expires_at: int, max_size: int | None = None, filename: str | None = None
    ) -> dict[str, str]:
        params = {"method": method, "expires": str(int(expires_at))}
        if max_size is not None:
            params["max_size"] = str(int(max_size))
        if filename:
            params["filename"] = filename
        params["sig"] = self._digest(key, params)
        return params

    def verify(self, key: str, method: str, params: Mapping[str, str]) -> dict[str, str]:
        """Check a request's parameters; returns them, or raises the specific refusal."""
        signature = params.get("sig", "")
        if not signature or not hmac.compare_digest(signature, self._digest(key, params)):
            raise SignatureInvalid("This link's signature is not valid (it was altered or is incomplete).")
        try:
            expires = int(params.get("expires", ""))
        except ValueError:
            raise SignatureInvalid("This link has no valid expiry.") from None
        if self.clock() > expires:
            raise SignatureExpired("This link has expired; ask for a new one.")
        if params.get("method") != method:
            raise MethodNotAllowedBySignature(
                f"This link allows {params.get('method')} only, not {method}."
            )
        return dict(params)
