"""Storage backends behind one interface, with signed URLs (their errors: ``podium.server.errors``)."""

from .base import ObjectInfo, Storage, validate_key
from .local import LocalStorage
from .signing import Grant, UrlSigner

__all__ = [
    "Grant",
    "LocalStorage",
    "ObjectInfo",
    "Storage",
    "UrlSigner",
    "validate_key",
]
