"""Confidence intervals on a leaderboard page, and who is statistically tied with the leader.

Workers compute each score's bootstrap interval from the per-example scores a scoring program
writes (``podium.worker.uncertainty``) and the service stores it beside the score
(``Score.low`` / ``Score.high``). A page reads the intervals of its own rows and of the leader's
submission in one query; an entry whose interval on the primary column overlaps the leader's is
marked ``tied_with_leader``: the data cannot tell them apart at the leaderboard's level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..orm import Score

Interval = tuple[float, float]


def intervals_of(session: Session, submission_ids: Iterable[int]) -> dict[int, dict[str, Interval]]:
    """``{submission: {column: (low, high)}}`` for the scores that have an interval."""
    ids = sorted(set(submission_ids))
    found: dict[int, dict[str, Interval]] = {}
    if not ids:
        return found
    for sid, key, low, high in session.execute(
        select(Score.submission_id, Score.column_key, Score.low, Score.high)
        .where(Score.submission_id.in_(ids), Score.low.is_not(None), Score.high.is_not(None))
    ):
        found.setdefault(sid, {})[key] = (low, high)
    return found


def overlaps(a: Interval | None, b: Interval | None) -> bool:
    """Whether two intervals share a point (False when either is unknown)."""
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def tied_with_leader(entries: Sequence[tuple[int, int]], intervals: dict[int, dict[str, Interval]],
                     leader: int | None, column: str | None) -> dict[int, bool]:
    """For each ``(rank, submission)`` entry, whether its interval on ``column`` overlaps the
    leader's (the leader's own submission is never "tied with the leader")."""
    leading = intervals.get(leader, {}).get(column) if leader is not None and column else None
    return {
        sid: sid != leader and overlaps(intervals.get(sid, {}).get(column) if column else None, leading)
        for _rank, sid in entries
    }
