"""Copy every object of the local storage to another backend (``podium storage migrate``).

The copy is verified (the target's object is read back and its sha256 compared with the
source's), resumable (an object already in the target with the same checksum is not sent again)
and switches nothing: the service keeps using the local storage until its ``storage_class`` is
changed, which the command says to do only once every object is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MigrationFailed
from .base import Storage
from .local import LocalStorage


@dataclass
class MigrationReport:
    """What a run did: objects copied, objects found already there, bytes sent."""

    copied: int = 0
    already_there: int = 0
    bytes_sent: int = 0


def migrate(source: LocalStorage, target: Storage, progress: Callable[[str], None] | None = None) -> MigrationReport:
    """Copy each of ``source``'s objects missing (or different) in ``target``, verifying each."""
    report = MigrationReport()
    for key in source.keys():
        wanted = source.stat(key)
        if wanted is None:
            continue  # deleted while we ran
        present = target.stat(key)
        if present is not None and (present.size, present.sha256) == (wanted.size, wanted.sha256):
            report.already_there += 1
            continue
        with source.open(key) as f:
            target.put(key, f)
        stored = target.stat(key)
        if stored is None or (stored.size, stored.sha256) != (wanted.size, wanted.sha256):
            target.delete(key)
            raise MigrationFailed(f"The copy of {key} does not read back as sent; it was removed. Run the command again.")
        report.copied += 1
        report.bytes_sent += wanted.size
        if progress is not None:
            progress(key)
    return report

