"""Leaderboard ranking as pure functions over rows, with CodaLab / Codabench semantics.

- **Order.** The primary column (``primary_key``, else the column with the lowest ``index``) in
  its own direction (``desc``: higher is better; ``asc``: lower is better); ties broken by the
  other columns in ``index`` order, each in its own direction; then by submission time (earlier
  first); then by submission id. Ranks are positions 1..n in that order (no shared ranks).
- **Missing scores** (absent, None or NaN) rank last for that column whatever its direction.
- **Computed columns.** ``sum``, ``mean``, ``min``, ``max`` over ``computation_keys`` of the same
  submission (missing if any input is missing); ``avg_rank``: for each key, the submission's rank
  among the entries being ranked by that column in its own direction (ties share the lowest rank,
  1, 2, 2, 4; a missing score ranks n), then the mean of those ranks. ``avg_rank`` always sorts
  ascending. Computed columns may be primary or tie-breaks.
- **Hidden columns** rank like any other; hiding is the caller's business.
- **Submission rules.** ``all``: every submission. ``last``: each owner's latest. ``best``: each
  owner's best by the full order above (``avg_rank`` computed over all submissions), then the
  chosen ones are ranked again (``avg_rank`` recomputed among them). ``selected``: each owner's
  selected submissions; an owner who selected none is represented by their best, as on Kaggle.

Everything is O(n log n) in the number of submissions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Sorting = Literal["desc", "asc"]
Computation = Literal["sum", "mean", "min", "max", "avg_rank"]
SubmissionRule = Literal["best", "last", "selected", "all"]


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    title: str
    index: int
    sorting: Sorting = "desc"
    precision: int | None = None
    hidden: bool = False
    computation: Computation | None = None
    computation_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoredSubmission:
    submission_id: int
    owner: str
    created_at: datetime
    scores: Mapping[str, float]
    selected: bool = False


@dataclass(frozen=True)
class RankedEntry:
    rank: int
    submission_id: int
    owner: str
    created_at: datetime
    values: dict[str, float | None]


def _clean(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def validate(columns: Sequence[ColumnSpec], primary_key: str | None = None) -> None:
    """Raise ValueError naming the first inconsistency in a leaderboard definition."""
    keys = [c.key for c in columns]
    if len(set(keys)) != len(keys):
        raise ValueError(f"column key used twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    if primary_key is not None and primary_key not in keys:
        raise ValueError(f"primary column '{primary_key}' is not one of the columns")
    for column in columns:
        if column.computation is None:
            continue
        if not column.computation_keys:
            raise ValueError(f"column '{column.key}': computation {column.computation} needs computation_keys")
        if column.key in column.computation_keys:
            raise ValueError(f"column '{column.key}': a computed column cannot use itself")
        unknown = [k for k in column.computation_keys if k not in keys]
        if unknown:
            raise ValueError(f"column '{column.key}': unknown computation_keys {unknown}")


def _direction(column: ColumnSpec) -> Sorting:
    return "asc" if column.computation == "avg_rank" else column.sorting


def _competition_ranks(values: list[float | None], sorting: Sorting) -> list[float]:
    """1, 2, 2, 4 ranking of ``values`` (missing: n)."""
    n = len(values)
    present = sorted(
        (v if sorting == "asc" else -v, i) for i, v in enumerate(values) if v is not None
    )
    ranks = [float(n)] * n
    previous, previous_rank = None, 0
    for position, (v, i) in enumerate(present, start=1):
        if v != previous:
            previous, previous_rank = v, position
        ranks[i] = float(previous_rank)
    return ranks


def compute_columns(
    subs: Sequence[ScoredSubmission], columns: Sequence[ColumnSpec]
) -> list[dict[str, float | None]]:
    """Every column's value (raw and computed) for each submission, in order."""
    rows: list[dict[str, float | None]] = [
        {c.key: _clean(s.scores.get(c.key)) for c in columns if c.computation is None} for s in subs
    ]
    by_key = {c.key: c for c in columns}
    available = {c.key for c in columns if c.computation is None}
    pending = [c for c in columns if c.computation is not None]
    while pending:
        ready = [c for c in pending if set(c.computation_keys) <= available]
        if not ready:
            raise ValueError(f"computed columns depend on each other in a cycle: {[c.key for c in pending]}")
        for column in ready:
            _compute(column, rows, by_key)
            available.add(column.key)
            pending.remove(column)
    return rows


def _compute(column: ColumnSpec, rows: list[dict[str, float | None]], by_key: Mapping[str, ColumnSpec]) -> None:
    if column.computation == "avg_rank":
        per_key = [
            _competition_ranks([row.get(k) for row in rows], _direction(by_key[k]))
            for k in column.computation_keys
        ]
        for i, row in enumerate(rows):
            row[column.key] = sum(r[i] for r in per_key) / len(per_key)
        return
    reduce = {"sum": sum, "mean": lambda xs: sum(xs) / len(xs), "min": min, "max": max}[column.computation]
    for row in rows:
        inputs = [row.get(k) for k in column.computation_keys]
        row[column.key] = None if any(v is None for v in inputs) else reduce(inputs)


def _ordered_columns(columns: Sequence[ColumnSpec], primary_key: str | None) -> list[ColumnSpec]:
    ordered = sorted(columns, key=lambda c: c.index)
    if not ordered:
        return []
    primary = next((c for c in ordered if c.key == primary_key), ordered[0])
    return [primary] + [c for c in ordered if c is not primary]


def _sort_key(
    sub: ScoredSubmission, row: Mapping[str, float | None], order: Sequence[ColumnSpec]
) -> tuple:
    parts: list = []
    for column in order:
        value = row.get(column.key)
        if value is None:
            parts.append((1, 0.0))
        else:
            parts.append((0, value if _direction(column) == "asc" else -value))
    return (*parts, sub.created_at, sub.submission_id)


def rank_entries(
    subs: Sequence[ScoredSubmission], columns: Sequence[ColumnSpec], primary_key: str | None = None
) -> list[RankedEntry]:
    """Rank ``subs`` against each other."""
    validate(columns, primary_key)
    rows = compute_columns(subs, columns)
    order = _ordered_columns(columns, primary_key)
    ranked = sorted(zip(subs, rows, strict=True), key=lambda pair: _sort_key(pair[0], pair[1], order))
    return [
        RankedEntry(rank=i, submission_id=s.submission_id, owner=s.owner, created_at=s.created_at, values=row)
        for i, (s, row) in enumerate(ranked, start=1)
    ]


def select_submissions(
    subs: Sequence[ScoredSubmission],
    rule: SubmissionRule,
    columns: Sequence[ColumnSpec],
    primary_key: str | None = None,
) -> list[ScoredSubmission]:
    """The submissions that represent their owners under ``rule``."""
    if rule == "all":
        return list(subs)
    if rule == "last":
        latest: dict[str, ScoredSubmission] = {}
        for s in subs:
            current = latest.get(s.owner)
            if current is None or (s.created_at, s.submission_id) > (current.created_at, current.submission_id):
                latest[s.owner] = s
        return list(latest.values())
    by_id = {s.submission_id: s for s in subs}
    best: dict[str, ScoredSubmission] = {}
    for entry in rank_entries(subs, columns, primary_key):
        best.setdefault(entry.owner, by_id[entry.submission_id])
    if rule == "best":
        return list(best.values())
    if rule == "selected":
        chosen: list[ScoredSubmission] = [s for s in subs if s.selected]
        owners_with_choice = {s.owner for s in chosen}
        return chosen + [s for owner, s in best.items() if owner not in owners_with_choice]
    raise ValueError(f"unknown submission rule: {rule!r}")


def build_leaderboard(
    subs: Iterable[ScoredSubmission],
    columns: Sequence[ColumnSpec],
    rule: SubmissionRule,
    primary_key: str | None = None,
) -> list[RankedEntry]:
    """Select each owner's entries under ``rule``, then rank them."""
    validate(columns, primary_key)
    subs = list(subs)
    return rank_entries(select_submissions(subs, rule, columns, primary_key), columns, primary_key)


def format_value(value: float | None, precision: int | None) -> str | None:
    """A score as shown: fixed ``precision`` digits, else Python's shortest repr."""
    if value is None:
        return None
    if precision is None:
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(float(value))
    return f"{value:.{precision}f}"
