"""Storage backends behind one interface, with signed URLs."""

from .base import (
    InvalidStorageKey,
    MethodNotAllowedBySignature,
    ObjectInfo,
    ObjectNotFound,
    ObjectTooLarge,
    SignatureExpired,
    SignatureInvalid,
    Storage,
    StorageError,
    validate_key,
)
from .local import LocalStorage
from .signing import Grant, UrlSigner

__all__ = [
    "Grant",
    "InvalidStorageKey",
    "LocalStorage",
    "MethodNotAllowedBySignature",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectTooLarge",
    "SignatureExpired",
    "SignatureInvalid",
    "Storage",
    "StorageError",
    "UrlSigner",
    "validate_key",
]
