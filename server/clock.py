"""The service's one clock, a seam so tests move time instead of sleeping.

All datetimes in Podium are naive UTC: the database stores them that way on SQLite and
PostgreSQL alike, and the API renders them with a trailing ``Z``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_now: Callable[[], datetime] | None = None

#: The seam across processes, for tests that run the service as commands (several processes,
#: several replicas): the file ``$PODIUM_CLOCK_FILE`` names holds the time the service reads
#: (ISO 8601, naive UTC); empty or absent, the real clock. Tests replace the file (write and
#: rename), and every process reads the new time at its next ``utcnow()``.
CLOCK_FILE = os.environ.get("PODIUM_CLOCK_FILE") or None
_file_time: tuple[tuple[int, int, int], datetime | None] | None = None


def _time_from_file(path: str) -> datetime | None:
    global _file_time
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if _file_time is None or _file_time[0] != identity:
        with open(path) as f:
            written = f.read().strip()
        _file_time = (identity, datetime.fromisoformat(written.rstrip("Z")) if written else None)
    return _file_time[1]


def utcnow() -> datetime:
    """The current time as naive UTC (or the time a test set)."""
    if _now is not None:
        return _now()
    if CLOCK_FILE is not None and (moment := _time_from_file(CLOCK_FILE)) is not None:
        return moment
    return datetime.now(UTC).replace(tzinfo=None)


def set_clock(now: Callable[[], datetime] | None) -> None:
    """Replace the clock (``None`` restores the real one)."""
    global _now
    _now = now


def start_of_utc_day(moment: datetime) -> datetime:
    """Midnight UTC of the day ``moment`` falls in: when daily quotas were last reset."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def next_utc_midnight(moment: datetime) -> datetime:
    """When the daily quota counted at ``moment`` resets."""
    return start_of_utc_day(moment) + timedelta(days=1)


def isoformat(moment: datetime | None) -> str | None:
    """Render a naive UTC datetime for the API."""
    if moment is None:
        return None
    return moment.replace(microsecond=moment.microsecond).isoformat() + "Z"
