"""Which storage backend the service runs: the ``storage_class`` setting, by alias or class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traitlets import Type

from .base import Storage


def _local() -> type[Storage]:
    from .local import LocalStorage

    return LocalStorage


def _s3() -> type[Storage]:
    from .s3 import S3Storage

    return S3Storage


def _azure() -> type[Storage]:
    from .azure import AzureStorage

    return AzureStorage


#: short names ``storage_class`` (and $PODIUM_STORAGE) accept
STORAGE_ALIASES: dict[str, Callable[[], type[Storage]]] = {"local": _local, "s3": _s3, "azure": _azure}


class StorageType(Type):
    """A ``Type`` trait that also takes ``local``, ``s3`` or ``azure``."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, str) and value in STORAGE_ALIASES:
            value = STORAGE_ALIASES[value]()
        return super().validate(obj, value)


def make_storage(app: Any) -> Storage:
    """Build and check ``app.storage_class``: the local backend from the service's own settings,
    the others from their traitlets configuration (``c.S3Config``, ``c.AzureConfig``)."""
    storage = app.storage_class.from_config(app)
    storage.check()
    return storage
