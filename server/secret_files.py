"""Secrets generated on first start and kept in ``data_dir`` (the secret key, the default
queue's token), created so that processes starting together all read the same one.

A file created with ``O_EXCL`` and then written can be read empty by a second process that
finds it in between; here the secret is written to a private temporary file first and linked
into place, which either succeeds whole or fails because another process linked its own first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def read_or_create(path: str, make: Callable[[], str]) -> str:
    """The secret in ``path``, created (owner-only) with ``make()`` if there is none yet."""
    if not os.path.exists(path):
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(make())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process linked its secret first: read that one
        finally:
            os.unlink(temporary)
    with open(path) as f:
        return f.read().strip()
