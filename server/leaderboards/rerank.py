"""Re-ranking after one participant's submissions change, without re-reading anyone else's.

When no ``avg_rank`` column ties every value to the whole set (``owners_rank_apart``), the
leaderboard after one owner's change is the standing entries of everyone else plus that owner's
submissions chosen again, ranked (``rerank_owner``); ``entry_changes`` then says which stored rows
to delete, shift and insert. Both follow the rules of ``ranking``, which they call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ranking import (
    ColumnSpec,
    RankedEntry,
    ScoredSubmission,
    SubmissionRule,
    rank_entries,
    select_submissions,
)


def owners_rank_apart(columns: Sequence[ColumnSpec]) -> bool:
    """Whether one owner's entries can be chosen and placed without looking at anyone else's
    submissions: true unless an ``avg_rank`` column makes every value relative to the whole set."""
    return all(c.computation != "avg_rank" for c in columns)


def rerank_owner(
    standing: Iterable[RankedEntry],
    owner: str,
    owner_subs: Iterable[ScoredSubmission],
    columns: Sequence[ColumnSpec],
    rule: SubmissionRule,
    primary_key: str | None = None,
) -> list[RankedEntry]:
    """The leaderboard after ``owner``'s submissions changed, from the entries that stood before.

    Everyone else keeps their entries; ``owner``'s are chosen again under ``rule`` from
    ``owner_subs`` (all of that owner's ranked submissions); the union is ranked. When
    ``owners_rank_apart(columns)`` this equals ``build_leaderboard`` over every submission
    (tested on random histories), at the cost of the entries instead of the submissions: a phase
    with 1,000,000 submissions from 1,000 owners ranks about 1,000 rows, not a million.
    """
    if not owners_rank_apart(columns):
        raise ValueError("avg_rank columns rank each submission against all others: rebuild the whole leaderboard")
    mine = list(owner_subs)
    strangers = sorted({s.owner for s in mine} - {owner})
    if strangers:
        raise ValueError(f"submissions of {', '.join(strangers)} given as {owner}'s")
    others = [entry_as_submission(e) for e in standing if e.owner != owner]
    return rank_entries(others + select_submissions(mine, rule, columns, primary_key), columns, primary_key)


def entry_as_submission(entry: RankedEntry) -> ScoredSubmission:
    """A standing entry as a submission to rank again: its values are its scores (computed
    columns are worked out again from the raw ones, to the same values)."""
    return ScoredSubmission(submission_id=entry.submission_id, owner=entry.owner, created_at=entry.created_at,
                            scores=entry.values)


@dataclass(frozen=True)
class EntryChanges:
    """What turns one stored leaderboard into another, row by row: the entries to delete (by
    submission id), the runs of kept entries whose rank moves (first and last old rank, and by
    how much), and the entries to insert."""

    removed: list[int]
    shifts: list[tuple[int, int, int]]
    added: list[RankedEntry]


def entry_changes(before: Sequence[RankedEntry], after: Sequence[RankedEntry]) -> EntryChanges:
    """The changes from ``before`` to ``after``: deleting ``removed``, then moving every kept
    entry whose old rank lies in a shift's range by its delta (all at once, from the old ranks),
    then inserting ``added`` gives ``after``. One participant's new score moves one block of
    ranks by one: a few rows change, not the whole leaderboard."""
    new_by_id = {e.submission_id: e for e in after}
    kept: list[tuple[RankedEntry, RankedEntry]] = []
    removed: list[int] = []
    for old in sorted(before, key=lambda e: e.rank):
        new = new_by_id.get(old.submission_id)
        if new is not None and (new.owner, new.created_at, new.values) == (old.owner, old.created_at, old.values):
            kept.append((old, new))
        else:
            removed.append(old.submission_id)
    kept_ids = {old.submission_id for old, _ in kept}
    shifts: list[tuple[int, int, int]] = []
    previous = 0
    for old, new in kept:  # in old rank order: runs of neighbours moving by the same delta
        delta = new.rank - old.rank
        if delta and shifts and shifts[-1][2] == delta and shifts[-1][1] == previous:
            shifts[-1] = (shifts[-1][0], old.rank, delta)
        elif delta:
            shifts.append((old.rank, old.rank, delta))
        previous = old.rank
    return EntryChanges(removed, shifts, [e for e in after if e.submission_id not in kept_ids])
