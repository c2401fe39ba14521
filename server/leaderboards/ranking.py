"""Leaderboard ranking as pure functions over rows, with CodaLab / Codabench semantics.

No database and no I/O: the service loads a phase's scored submissions, calls
``build_leaderboard`` on its write path and stores the entries; reads only page through them.

- **Order.** The primary column (``primary_key`` if given, else the column with the lowest
  ``index``) in its own direction (``desc``: higher is better, the default; ``asc``: lower is
  better); ties are broken by the other columns in ``index`` order (declaration order among equal
  indexes), each in its own direction; then by submission time (earlier first); then by
  submission id (smaller first). Ranks are the positions 1..n in that order, Codabench style: no
  two entries share a rank, so equal scores are told apart by time.
- **Missing scores** (key absent, None, NaN, or not a number) rank last for that column whatever
  its direction, never first. Score keys that name no column are ignored; a score under a
  computed column's key is ignored too (the computed value wins).
- **Computed columns** (``computation`` set) are worked out from ``computation_keys``, which may
  name raw or other computed columns (no cycles):

  - ``sum``, ``mean``, ``min``, ``max``: over the same submission's values; missing if any input
    is missing (or if the result is NaN, e.g. ``inf + -inf``).
  - ``avg_rank``: for each key, every entry in the set being ranked gets its rank for that column
    in the column's own direction, with ties sharing the lowest rank ("competition ranking":
    1, 2, 2, 4) and a missing score ranking n (the size of the set); the value is the mean of
    those ranks. It is never missing. An ``avg_rank`` column always sorts ascending (lower is
    better) whatever its declared ``sorting``. Its values depend on the set: the same submission
    can have a different average rank on a different leaderboard.

  Computed columns can be the primary column and can break ties like any other column.
- **Hidden columns** only hide display (as on CodaLab): they rank and break ties like any other
  column, and ``RankedEntry.values`` includes them; hiding them is the caller's business.
- **Submission rules** (``select_submissions``). ``all``: every submission is an entry.
  ``last``: each owner's most recent submission (latest ``created_at``, then highest id).
  ``best``: each owner's best submission by the full order above, computed over all the
  submissions given (so ``avg_rank`` is relative to all of them); the final leaderboard then
  ranks the chosen ones again, recomputing ``avg_rank`` among them. ``selected``: each owner's
  submissions marked ``selected`` (all of them if several); an owner who selected none is
  represented by their best, as Kaggle does. Owners without submissions do not appear.
- **Validation.** A leaderboard definition that cannot be ranked raises ``ValueError`` naming
  the problem: duplicate column keys, an unknown ``primary_key``, sorting or computation, a
  negative precision, a computation without ``computation_keys`` (or keys without a
  computation), keys naming unknown columns, a column using itself or computed columns forming a
  cycle; also duplicate submission ids and unknown rules.

Everything is O(n log n) in the number of submissions (times the number of columns):
``avg_rank`` sorts each input column once, it never compares entries pairwise. When one
owner's submissions change, ``podium.server.leaderboards.rerank`` gets the same leaderboard
from the standing entries and that owner's submissions alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

Sorting = Literal["desc", "asc"]
Computation = Literal["sum", "mean", "min", "max", "avg_rank"]
SubmissionRule = Literal["best", "last", "selected", "all"]

_SORTINGS: frozenset[str] = frozenset(get_args(Sorting))
_COMPUTATIONS: frozenset[str] = frozenset(get_args(Computation))
_RULES: tuple[str, ...] = get_args(SubmissionRule)


@dataclass(frozen=True)
class ColumnSpec:
    """One leaderboard column: a score written by the scoring program, or one computed from others."""

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
    """A finished submission and its raw scores: everything ranking needs to know about it."""

    submission_id: int
    owner: str
    created_at: datetime
    scores: Mapping[str, float]
    selected: bool = False


@dataclass(frozen=True)
class RankedEntry:
    """A leaderboard row; ``values`` holds every column (raw, computed, hidden) in index order."""

    rank: int
    submission_id: int
    owner: str
    created_at: datetime
    values: dict[str, float | None]


# --- validation -----------------------------------------------------------------------------


def validate(columns: Sequence[ColumnSpec], primary_key: str | None = None) -> None:
    """Raise ValueError naming the first problem that would make the leaderboard unrankable."""
    seen: set[str] = set()
    twice: set[str] = set()
    for column in columns:
        (twice if column.key in seen else seen).add(column.key)
    if twice:
        raise ValueError(f"column key used twice: {', '.join(sorted(twice))}")
    if primary_key is not None and primary_key not in seen:
        raise ValueError(
            f"primary column {primary_key!r} is not one of the columns ({', '.join(sorted(seen))})"
        )
    for column in columns:
        where = f"column {column.key!r}"
        if column.sorting not in _SORTINGS:
            raise ValueError(f"{where}: sorting must be 'asc' or 'desc', not {column.sorting!r}")
        precision = column.precision
        if precision is not None and (
            isinstance(precision, bool) or not isinstance(precision, int) or precision < 0
        ):
            raise ValueError(f"{where}: precision must be a non-negative integer, not {precision!r}")
        if column.computation is None:
            if column.computation_keys:
                raise ValueError(f"{where}: computation_keys given without a computation")
            continue
        if column.computation not in _COMPUTATIONS:
            raise ValueError(
                f"{where}: unknown computation {column.computation!r}"
                f" (expected one of {', '.join(sorted(_COMPUTATIONS))})"
            )
        if not column.computation_keys:
            raise ValueError(f"{where}: computation {column.computation} needs computation_keys")
        if column.key in column.computation_keys:
            raise ValueError(f"{where}: a computed column cannot use itself")
        unknown = [k for k in column.computation_keys if k not in seen]
        if unknown:
            raise ValueError(f"{where}: unknown computation_keys: {', '.join(unknown)}")
    _computation_order(columns)


def _computation_order(columns: Sequence[ColumnSpec]) -> list[ColumnSpec]:
    """Computed columns, each after the computed columns it reads; a cycle is a ValueError."""
    by_key = {c.key: c for c in columns}
    done: set[str] = set()
    ordered: list[ColumnSpec] = []

    def visit(column: ColumnSpec, path: list[str]) -> None:
        if column.key in done:
            return
        if column.key in path:
            cycle = path[path.index(column.key) :] + [column.key]
            raise ValueError(f"computed columns form a cycle: {' -> '.join(cycle)}")
        path.append(column.key)
        for key in column.computation_keys:
            dependency = by_key.get(key)
            if dependency is not None and dependency.computation is not None:
                visit(dependency, path)
        path.pop()
        done.add(column.key)
        ordered.append(column)

    for column in columns:
        if column.computation is not None:
            visit(column, [])
    return ordered


def _check_ids(subs: Sequence[ScoredSubmission]) -> None:
    """Submission ids are the last tie-break and the identity of an entry: they must be unique."""
    seen: set[int] = set()
    for s in subs:
        if s.submission_id in seen:
            raise ValueError(f"submission id used twice: {s.submission_id}")
        seen.add(s.submission_id)


def _check_rule(rule: str) -> None:
    if rule not in _RULES:
        raise ValueError(f"unknown submission rule {rule!r} (expected one of {', '.join(_RULES)})")


# --- values ---------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """A score as a float, or None when missing: None, NaN, or anything that is not a number."""
    if type(value) is float:  # the common case, kept fast for 10^5-row rebuilds
        return None if math.isnan(value) else value
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return None if math.isnan(number) else number


def _direction(column: ColumnSpec) -> Sorting:
    """A column's effective direction: average ranks are always better when lower."""
    return "asc" if column.computation == "avg_rank" else column.sorting


def _competition_ranks(values: Sequence[float | None], sorting: Sorting) -> list[int]:
    """1, 2, 2, 4 ranks of ``values`` in ``sorting`` order; a missing value ranks ``len(values)``."""
    n = len(values)
    present = [i for i, v in enumerate(values) if v is not None]
    present.sort(key=values.__getitem__, reverse=sorting == "desc")
    ranks = [n] * n
    rank, previous = 0, None
    for position, i in enumerate(present, start=1):
        value = values[i]
        if value != previous:
            rank, previous = position, value
        ranks[i] = rank
    return ranks


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


_REDUCERS = {"sum": sum, "mean": _mean, "min": min, "max": max}


def _columnar(
    subs: Sequence[ScoredSubmission], columns: Sequence[ColumnSpec]
) -> dict[str, list[float | None]]:
    """Each column's values, one list per column, aligned with ``subs`` (definition validated)."""
    values: dict[str, list[float | None]] = {
        c.key: [_number(s.scores.get(c.key)) for s in subs] for c in columns if c.computation is None
    }
    by_key = {c.key: c for c in columns}
    for column in _computation_order(columns):
        inputs = [values[k] for k in column.computation_keys]
        if column.computation == "avg_rank":
            per_key = [
                _competition_ranks(v, _direction(by_key[k]))
                for k, v in zip(column.computation_keys, inputs, strict=True)
            ]
            count = len(per_key)
            values[column.key] = [sum(ranks) / count for ranks in zip(*per_key, strict=True)]
        else:
            reduce = _REDUCERS[column.computation]  # type: ignore[index]
            values[column.key] = [
                None if None in row else _number(reduce(row)) for row in zip(*inputs, strict=True)
            ]
    return values


def compute_columns(
    subs: Iterable[ScoredSubmission], columns: Sequence[ColumnSpec]
) -> list[dict[str, float | None]]:
    """Every column's value (raw and computed) for each submission, in the order given.

    ``avg_rank`` values are relative to ``subs``: pass exactly the set being ranked.
    """
    subs = list(subs)
    validate(columns)
    return _rows(_columnar(subs, columns), columns, len(subs))


def _rows(
    values: Mapping[str, list[float | None]], columns: Sequence[ColumnSpec], n: int
) -> list[dict[str, float | None]]:
    """Columnar values turned into one dict per submission, keys in column index order."""
    keys = [c.key for c in sorted(columns, key=lambda c: c.index)]
    if not keys:
        return [{} for _ in range(n)]
    return [dict(zip(keys, row, strict=True)) for row in zip(*(values[k] for k in keys), strict=True)]


# --- ordering -------------------------------------------------------------------------------


def ranking_order(columns: Sequence[ColumnSpec], primary_key: str | None = None) -> list[ColumnSpec]:
    """The columns in the order they decide: primary first, then the rest by ``index``."""
    ordered = sorted(columns, key=lambda c: c.index)
    if primary_key is None:
        return ordered
    primary = [c for c in ordered if c.key == primary_key]
    if not primary:
        raise ValueError(f"primary column {primary_key!r} is not one of the columns")
    return primary + [c for c in ordered if c.key != primary_key]


def sort_key(
    submission: ScoredSubmission, values: Mapping[str, float | None], order: Sequence[ColumnSpec]
) -> tuple:
    """What sorts ``submission`` into leaderboard order: smaller tuples rank higher.

    ``values`` are the submission's column values (``compute_columns``) and ``order`` the deciding
    columns (``ranking_order``). Each column contributes ``(missing, signed value)`` so that a
    missing score sorts after every present one in either direction.
    """
    key: list = []
    for column in order:
        value = values.get(column.key)
        if value is None or value != value:  # NaN is missing
            key += (1, 0.0)
        else:
            key += (0, value if _direction(column) == "asc" else -value)
    key += (submission.created_at, submission.submission_id)
    return tuple(key)


def _ranked_indices(
    subs: Sequence[ScoredSubmission],
    values: Mapping[str, list[float | None]],
    order: Sequence[ColumnSpec],
) -> list[int]:
    """Indices of ``subs`` best first; the same order as sorting by ``sort_key``, built by column."""
    parts: list[list] = []
    for column in order:
        column_values = values[column.key]
        sign = 1.0 if _direction(column) == "asc" else -1.0
        parts.append([v is None for v in column_values])
        parts.append([0.0 if v is None else sign * v for v in column_values])
    parts.append([s.created_at for s in subs])
    parts.append([s.submission_id for s in subs])
    keys = list(zip(*parts, strict=True))
    return sorted(range(len(subs)), key=keys.__getitem__)


def rank_entries(
    subs: Iterable[ScoredSubmission], columns: Sequence[ColumnSpec], primary_key: str | None = None
) -> list[RankedEntry]:
    """Rank ``subs`` against each other (every one is an entry), best first, ranks 1..n."""
    subs = list(subs)
    validate(columns, primary_key)
    _check_ids(subs)
    values = _columnar(subs, columns)
    rows = _rows(values, columns, len(subs))
    return [
        RankedEntry(
            rank=position,
            submission_id=subs[i].submission_id,
            owner=subs[i].owner,
            created_at=subs[i].created_at,
            values=rows[i],
        )
        for position, i in enumerate(
            _ranked_indices(subs, values, ranking_order(columns, primary_key)), start=1
        )
    ]


# --- submission rules -----------------------------------------------------------------------


def _best_per_owner(
    subs: Sequence[ScoredSubmission], columns: Sequence[ColumnSpec], primary_key: str | None
) -> dict[str, int]:
    """Each owner's best submission (index into ``subs``), ranked among all of ``subs``."""
    values = _columnar(subs, columns)
    best: dict[str, int] = {}
    for i in _ranked_indices(subs, values, ranking_order(columns, primary_key)):
        best.setdefault(subs[i].owner, i)
    return best


def select_submissions(
    subs: Iterable[ScoredSubmission],
    rule: SubmissionRule,
    columns: Sequence[ColumnSpec],
    primary_key: str | None = None,
) -> list[ScoredSubmission]:
    """The submissions that stand for their owners under ``rule``, in the order given.

    ``selected`` falls back to an owner's best submission when they selected none (as Kaggle does).
    """
    _check_rule(rule)
    subs = list(subs)
    validate(columns, primary_key)
    _check_ids(subs)
    if rule == "all":
        return subs
    if rule == "last":
        latest: dict[str, int] = {}
        for i, s in enumerate(subs):
            j = latest.get(s.owner)
            if j is None or (s.created_at, s.submission_id) > (subs[j].created_at, subs[j].submission_id):
                latest[s.owner] = i
        chosen = set(latest.values())
    elif rule == "best":
        chosen = set(_best_per_owner(subs, columns, primary_key).values())
    else:  # selected
        chosen = {i for i, s in enumerate(subs) if s.selected}
        owners_with_choice = {subs[i].owner for i in chosen}
        if any(s.owner not in owners_with_choice for s in subs):
            best = _best_per_owner(subs, columns, primary_key)
            chosen.update(i for owner, i in best.items() if owner not in owners_with_choice)
    return [s for i, s in enumerate(subs) if i in chosen]


def build_leaderboard(
    subs: Iterable[ScoredSubmission],
    columns: Sequence[ColumnSpec],
    rule: SubmissionRule,
    primary_key: str | None = None,
) -> list[RankedEntry]:
    """Choose each owner's entries under ``rule``, then rank only those (avg_rank among them)."""
    return rank_entries(select_submissions(subs, rule, columns, primary_key), columns, primary_key)


# --- display --------------------------------------------------------------------------------


def format_value(value: float | None, precision: int | None) -> str | None:
    """A value as displayed: ``precision`` fixed decimals, else the shortest exact form.

    Fixed decimals use ``f"{value:.{precision}f}"`` (correctly rounded, ties to even on the exact
    binary value: 0.125 -> "0.12"). Without a precision the shortest string that reads back as the
    same float (``str``), with integral values shown without ".0". Missing (None, NaN) -> None.
    """
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if precision is None:
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return str(number)
    return f"{number:.{precision}f}"


def format_interval(interval: tuple[float, float] | list[float], precision: int | None) -> str:
    """A confidence interval as displayed beside its score: ``[low, high]`` at the column's precision."""
    return f"[{format_value(interval[0], precision)}, {format_value(interval[1], precision)}]"
