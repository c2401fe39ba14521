"""The service's one clock, a seam so tests move time instead of sleeping.

All datetimes in Podium are naive UTC: the database stores them that way on SQLite and
PostgreSQL alike, and the API renders them with a trailing ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_now: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """The current time as naive UTC (or the time a test set)."""
    if _now is not None:
        return _now()
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
