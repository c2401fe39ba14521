"""Leaderboard ranking as pure functions: directions, tie-breaks, missing scores, computations, rules."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from podium.server.leaderboards.ranking import (
    ColumnSpec,
    RankedEntry,
    ScoredSubmission,
    build_leaderboard,
    compute_columns,
    format_value,
    rank_entries,
    ranking_order,
    select_submissions,
    sort_key,
    validate,
)
from podium.server.leaderboards.rerank import (
    entry_as_submission,
    entry_changes,
    owners_rank_apart,
    rerank_owner,
)

T0 = datetime(2026, 1, 1)
NAN = float("nan")
INF = float("inf")


def sub(
    i: int, owner: str, minutes: int | None = None, selected: bool = False, **scores: float | None
) -> ScoredSubmission:
    """Submission ``i`` by ``owner``, made ``minutes`` (default: ``i``) minutes after T0."""
    return ScoredSubmission(i, owner, T0 + timedelta(minutes=i if minutes is None else minutes), scores, selected)


ACC = ColumnSpec("acc", "Accuracy", 0, "desc")
TIME = ColumnSpec("time", "Time", 1, "asc")


def order(entries: Sequence[RankedEntry] | Sequence[ScoredSubmission]) -> list[int]:
    return [e.submission_id for e in entries]


def by_id(entries: Sequence[RankedEntry]) -> dict[int, RankedEntry]:
    return {e.submission_id: e for e in entries}


# --- directions and primary column ------------------------------------------------------------


def test_desc_puts_higher_first_and_asc_lower_first() -> None:
    subs = [sub(1, "a", s=0.5), sub(2, "b", s=0.9), sub(3, "c", s=-1.0), sub(4, "d", s=0.7)]
    assert order(rank_entries(subs, [ColumnSpec("s", "S", 0, "desc")])) == [2, 4, 1, 3]
    assert order(rank_entries(subs, [ColumnSpec("s", "S", 0, "asc")])) == [3, 1, 4, 2]
    assert order(rank_entries(subs, [ColumnSpec("s", "S", 0)])) == [2, 4, 1, 3]  # desc by default


def test_ranks_are_positions_without_sharing() -> None:
    subs = [sub(1, "a", acc=0.9), sub(2, "b", acc=0.9), sub(3, "c", acc=0.1)]
    entries = rank_entries(subs, [ACC])
    assert [(e.rank, e.submission_id) for e in entries] == [(1, 1), (2, 2), (3, 3)]


def test_primary_is_the_lowest_index_not_the_first_declared() -> None:
    subs = [sub(1, "a", acc=0.5, time=3), sub(2, "b", acc=0.9, time=9), sub(3, "c", acc=0.7, time=1)]
    time_first = ColumnSpec("time", "Time", 0, "asc")
    acc_second = ColumnSpec("acc", "Accuracy", 5, "desc")
    assert order(rank_entries(subs, [acc_second, time_first])) == [3, 1, 2]
    assert order(rank_entries(subs, [ACC, TIME])) == [2, 3, 1]


def test_explicit_primary_key_overrides_index() -> None:
    subs = [sub(1, "a", acc=0.5, time=3), sub(2, "b", acc=0.9, time=9), sub(3, "c", acc=0.7, time=1)]
    assert order(rank_entries(subs, [ACC, TIME], primary_key="time")) == [3, 1, 2]
    assert order(rank_entries(subs, [ACC, TIME], primary_key="acc")) == [2, 3, 1]
    assert [c.key for c in ranking_order([ACC, TIME], "time")] == ["time", "acc"]


# --- tie-breaks --------------------------------------------------------------------------------


def test_ties_broken_by_other_columns_in_index_order_then_time_then_id() -> None:
    extra = ColumnSpec("mem", "Memory", 2, "desc")
    subs = [
        sub(1, "a", 50, acc=0.9, time=5, mem=1),
        sub(2, "b", 40, acc=0.9, time=2, mem=1),  # best time
        sub(3, "c", 10, acc=0.9, time=5, mem=1),  # same as 1 and 6 on scores, earliest
        sub(4, "d", 5, acc=0.9, time=5, mem=7),  # same time as 1 and 3, more mem (desc: better)
        sub(6, "e", 10, acc=0.9, time=5, mem=1),  # same as 3 in every score and time: id decides
        sub(5, "f", 0, acc=0.95, time=99, mem=0),  # best primary beats every tie-break
    ]
    # declared out of index order on purpose: time (index 1) breaks ties before mem (index 2)
    assert order(rank_entries(subs, [extra, TIME, ACC])) == [5, 2, 4, 3, 6, 1]


def test_tie_break_columns_use_their_own_direction() -> None:
    slow_is_better = ColumnSpec("time", "Time", 1, "desc")
    subs = [sub(1, "a", acc=0.9, time=1), sub(2, "b", acc=0.9, time=2)]
    assert order(rank_entries(subs, [ACC, TIME])) == [1, 2]
    assert order(rank_entries(subs, [ACC, slow_is_better])) == [2, 1]


def test_identical_scores_earlier_submission_first_then_smaller_id() -> None:
    subs = [sub(3, "a", 9, acc=1.0), sub(9, "b", 1, acc=1.0), sub(7, "c", 1, acc=1.0)]
    assert order(rank_entries(subs, [ACC])) == [7, 9, 3]


# --- missing scores ----------------------------------------------------------------------------


@pytest.mark.parametrize(("sorting", "expected"), [("asc", [3, 4, 1, 2, 5]), ("desc", [4, 3, 1, 2, 5])])
def test_missing_none_and_nan_rank_last_in_both_directions(sorting: str, expected: list[int]) -> None:
    col = ColumnSpec("s", "S", 0, sorting)  # type: ignore[arg-type]
    subs = [sub(1, "a", s=None), sub(2, "b", s=NAN), sub(3, "c", s=-100.0), sub(4, "d", s=100.0), sub(5, "e")]
    entries = rank_entries(subs, [col])
    assert order(entries) == expected  # the three missing ones among themselves by time
    assert by_id(entries)[2].values == {"s": None}  # NaN is stored as missing, not NaN


@pytest.mark.parametrize("sorting", ["asc", "desc"])
def test_infinities_are_scores_not_missing(sorting: str) -> None:
    col = ColumnSpec("s", "S", 0, sorting)  # type: ignore[arg-type]
    subs = [sub(1, "a", s=None), sub(2, "b", s=INF), sub(3, "c", s=-INF), sub(4, "d", s=0.0)]
    assert order(rank_entries(subs, [col])) == ([3, 4, 2, 1] if sorting == "asc" else [2, 4, 3, 1])


def test_missing_tie_break_score_ranks_after_present_ones() -> None:
    subs = [sub(1, "a", acc=0.9), sub(2, "b", acc=0.9, time=1000.0), sub(3, "c", acc=0.1, time=1.0)]
    assert order(rank_entries(subs, [ACC, TIME])) == [2, 1, 3]


def test_non_numeric_scores_are_missing_and_unknown_keys_ignored() -> None:
    subs = [sub(1, "a", acc="0.99"), sub(2, "b", acc=0.5, junk=1e9), sub(3, "c", acc=1)]  # type: ignore[arg-type]
    entries = rank_entries(subs, [ACC])
    assert order(entries) == [3, 2, 1]
    assert [e.values for e in entries] == [{"acc": 1.0}, {"acc": 0.5}, {"acc": None}]


# --- display -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "precision", "expected"),
    [
        (0.123456, 3, "0.123"),
        (0.1235, 3, "0.123"),  # 0.1235 is stored as 0.12349999...
        (0.125, 2, "0.12"),  # exact binary tie: to even
        (0.375, 2, "0.38"),  # exact binary tie: to even
        (2.5, 0, "2"),
        (3.5, 0, "4"),
        (1.0, 2, "1.00"),
        (-1.25, 1, "-1.2"),
        (1234567.891, 1, "1234567.9"),
        (INF, 2, "inf"),
        (2.0, None, "2"),
        (-0.0, None, "0"),
        (0.1, None, "0.1"),
        (1 / 3, None, "0.3333333333333333"),
        (-1.5, None, "-1.5"),
        (1e20, None, "1e+20"),
        (1.5e-7, None, "1.5e-07"),
        (None, 2, None),
        (None, None, None),
        (NAN, 2, None),
        (NAN, None, None),
    ],
)
def test_format_value(value: float | None, precision: int | None, expected: str | None) -> None:
    assert format_value(value, precision) == expected


def test_precision_does_not_change_ranking() -> None:
    col = ColumnSpec("s", "S", 0, "desc", precision=1)
    subs = [sub(1, "a", s=0.91), sub(2, "b", s=0.94)]  # both show as 0.9
    entries = rank_entries(subs, [col])
    assert order(entries) == [2, 1]
    assert [format_value(e.values["s"], col.precision) for e in entries] == ["0.9", "0.9"]


# --- computed columns ----------------------------------------------------------------------------


def test_sum_mean_min_max_and_missing_inputs() -> None:
    cols = [
        ColumnSpec("max", "Max", 5, computation="max", computation_keys=("a", "b")),
        ColumnSpec("a", "A", 0),
        ColumnSpec("b", "B", 1),
        ColumnSpec("sum", "Sum", 2, computation="sum", computation_keys=("a", "b")),
        ColumnSpec("mean", "Mean", 3, computation="mean", computation_keys=("a", "b")),
        ColumnSpec("min", "Min", 4, computation="min", computation_keys=("a", "b")),
    ]
    full, partial, nan = compute_columns(
        [sub(1, "x", a=1.0, b=4.0), sub(2, "y", a=1.0), sub(3, "z", a=2.0, b=NAN)], cols
    )
    assert full == {"a": 1.0, "b": 4.0, "sum": 5.0, "mean": 2.5, "min": 1.0, "max": 4.0}
    assert list(full) == ["a", "b", "sum", "mean", "min", "max"]  # index order, not declaration
    assert partial == {"a": 1.0, "b": None, "sum": None, "mean": None, "min": None, "max": None}
    assert nan == {"a": 2.0, "b": None, "sum": None, "mean": None, "min": None, "max": None}


def test_computed_result_nan_is_missing() -> None:
    cols = [ColumnSpec("a", "A", 0), ColumnSpec("b", "B", 1), ColumnSpec("s", "S", 2, computation="sum", computation_keys=("a", "b"))]
    (row,) = compute_columns([sub(1, "x", a=INF, b=-INF)], cols)
    assert row["s"] is None


def test_computed_columns_can_read_computed_columns() -> None:
    cols = [
        ColumnSpec("total", "Total", 0, computation="sum", computation_keys=("part", "c")),
        ColumnSpec("part", "Part", 1, computation="max", computation_keys=("a", "b")),
        ColumnSpec("a", "A", 2),
        ColumnSpec("b", "B", 3),
        ColumnSpec("c", "C", 4),
    ]
    (row,) = compute_columns([sub(1, "x", a=1.0, b=3.0, c=10.0)], cols)
    assert row == {"total": 13.0, "part": 3.0, "a": 1.0, "b": 3.0, "c": 10.0}


def test_computed_column_scores_from_the_submission_are_ignored() -> None:
    cols = [ColumnSpec("a", "A", 0), ColumnSpec("s", "S", 1, computation="sum", computation_keys=("a",))]
    (row,) = compute_columns([sub(1, "x", a=2.0, s=100.0)], cols)
    assert row == {"a": 2.0, "s": 2.0}


def test_computed_column_as_primary_and_as_tie_break() -> None:
    a, b = ColumnSpec("a", "A", 1, "desc"), ColumnSpec("b", "B", 2, "desc")
    subs = [sub(1, "x", a=5.0, b=1.0), sub(2, "y", a=2.0, b=2.0), sub(3, "z", a=1.0, b=9.0)]
    total_asc = ColumnSpec("total", "Total", 0, "asc", computation="sum", computation_keys=("a", "b"))
    assert order(rank_entries(subs, [total_asc, a, b])) == [2, 1, 3]  # totals 6, 4, 10
    total_desc = ColumnSpec("total", "Total", 3, "desc", computation="sum", computation_keys=("a", "b"))
    assert order(rank_entries(subs, [a, b, total_desc], primary_key="total")) == [3, 1, 2]
    # tie-break: equal c, the computed total (index 1) decides before t (index 2)
    c, t = ColumnSpec("c", "C", 0), ColumnSpec("t", "T", 2, "asc")
    total = ColumnSpec("total", "Total", 1, "desc", computation="sum", computation_keys=("a", "b"))
    tied = [sub(1, "x", c=1.0, a=1.0, b=1.0, t=0.0), sub(2, "y", c=1.0, a=2.0, b=1.0, t=9.0)]
    assert order(rank_entries(tied, [c, total, t, a, b])) == [2, 1]


def test_avg_rank_competition_ranking_with_ties_and_missing() -> None:
    avg = ColumnSpec("avg", "Average rank", 0, "desc", computation="avg_rank", computation_keys=("acc", "time"))
    acc, time = ColumnSpec("acc", "A", 1, "desc"), ColumnSpec("time", "T", 2, "asc")
    subs = [
        sub(1, "a", acc=0.9, time=10),
        sub(2, "b", acc=0.9, time=1),
        sub(3, "c", acc=0.5, time=5),
        sub(4, "d", acc=0.1),
        sub(5, "e", acc=0.5, time=5),
    ]
    entries = by_id(rank_entries(subs, [avg, acc, time]))
    # acc (desc): a=1, b=1, c=3, e=3, d=5 — time (asc): b=1, c=2, e=2, a=4, d missing → n=5
    assert {i: e.values["avg"] for i, e in entries.items()} == {1: 2.5, 2: 1.0, 3: 2.5, 4: 5.0, 5: 2.5}
    # avg_rank sorts ascending though declared desc; 1, 3, 5 tie on avg, acc then time then time of day
    assert order(sorted(entries.values(), key=lambda e: e.rank)) == [2, 1, 3, 5, 4]


def test_avg_rank_as_tie_break_and_over_a_single_column() -> None:
    score = ColumnSpec("score", "Score", 0, "desc")
    avg = ColumnSpec("avg", "Avg", 1, computation="avg_rank", computation_keys=("x", "y"))
    x, y = ColumnSpec("x", "X", 2, "asc"), ColumnSpec("y", "Y", 3, "asc")
    subs = [sub(1, "a", score=1.0, x=3, y=3), sub(2, "b", score=1.0, x=1, y=2), sub(3, "c", score=0.0, x=1, y=1)]
    entries = rank_entries(subs, [score, avg, x, y])
    assert order(entries) == [2, 1, 3]
    assert [e.values["avg"] for e in entries] == [1.5, 3.0, 1.0]
    only = ColumnSpec("r", "R", 0, computation="avg_rank", computation_keys=("x",))
    assert [e.values["r"] for e in rank_entries(subs, [only, x])] == [1.0, 1.0, 3.0]


# --- hidden columns ----------------------------------------------------------------------------


def test_hidden_columns_rank_and_break_ties_and_are_returned() -> None:
    secret = ColumnSpec("secret", "Secret", 0, "asc", hidden=True)
    subs = [sub(1, "a", secret=2.0, acc=0.9), sub(2, "b", secret=1.0, acc=0.1)]
    entries = rank_entries(subs, [secret, ColumnSpec("acc", "Accuracy", 1)])
    assert order(entries) == [2, 1]
    assert entries[0].values == {"secret": 1.0, "acc": 0.1}
    hidden_tiebreak = ColumnSpec("secret", "Secret", 9, "asc", hidden=True)
    tied = [sub(1, "a", acc=0.5, secret=9.0), sub(2, "b", acc=0.5, secret=1.0)]
    assert order(rank_entries(tied, [ACC, hidden_tiebreak])) == [2, 1]


# --- submission rules ----------------------------------------------------------------------------

RULE_SUBS = [
    sub(1, "a", acc=0.9),
    sub(2, "a", acc=0.2),
    sub(3, "b", acc=0.5, selected=True),
    sub(4, "b", acc=0.8),
    sub(5, "c", acc=0.1),
    sub(6, "d", acc=0.3, selected=True),
    sub(7, "d", acc=0.95, selected=True),
    sub(8, "d", acc=0.99),
]


def test_rule_all_ranks_every_submission() -> None:
    entries = build_leaderboard(RULE_SUBS, [ACC], "all")
    assert order(entries) == [8, 7, 1, 4, 3, 6, 2, 5]
    assert [e.rank for e in entries] == list(range(1, 9))


def test_rule_last_keeps_each_owners_latest() -> None:
    assert order(build_leaderboard(RULE_SUBS, [ACC], "last")) == [8, 4, 2, 5]
    same_time = [sub(1, "a", 5, acc=0.1), sub(2, "a", 5, acc=0.9), sub(3, "a", 1, acc=0.5)]
    assert order(select_submissions(same_time, "last", [ACC])) == [2]  # equal times: higher id


def test_rule_best_keeps_each_owners_best_by_the_full_order() -> None:
    assert order(build_leaderboard(RULE_SUBS, [ACC], "best")) == [8, 1, 4, 5]
    # equal accuracy: the tie-break column decides, then the earlier submission
    tied = [sub(1, "a", 9, acc=0.9, time=5), sub(2, "a", 3, acc=0.9, time=2), sub(3, "a", 1, acc=0.9, time=2)]
    assert order(select_submissions(tied, "best", [ACC, TIME])) == [3]


def test_rule_selected_with_fallback_to_best() -> None:
    # b chose 3 (not its best), d chose 6 and 7 (both count, not 8); a and c chose nothing
    assert order(build_leaderboard(RULE_SUBS, [ACC], "selected")) == [7, 1, 3, 6, 5]


def test_select_submissions_keeps_input_order() -> None:
    assert order(select_submissions(RULE_SUBS, "best", [ACC])) == [1, 4, 5, 8]
    assert order(select_submissions(RULE_SUBS, "selected", [ACC])) == [1, 3, 5, 6, 7]
    assert order(select_submissions(RULE_SUBS, "all", [ACC])) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_no_submissions_no_entries() -> None:
    for rule in ("all", "last", "best", "selected"):
        assert build_leaderboard([], [ACC], rule) == []  # type: ignore[arg-type]


def test_best_rule_avg_rank_over_all_then_recomputed_among_chosen() -> None:
    avg = ColumnSpec("avg", "Avg", 0, computation="avg_rank", computation_keys=("x", "y"))
    x, y = ColumnSpec("x", "X", 1), ColumnSpec("y", "Y", 2)
    subs = [
        sub(1, "a", x=10, y=1),
        sub(2, "a", x=1, y=10),
        sub(3, "b", x=5, y=5),
        sub(4, "b", x=6, y=0),
        sub(5, "c", x=9, y=9),
    ]
    # over all five: x ranks 1:1 5:2 4:3 3:4 2:5, y ranks 2:1 5:2 3:3 1:4 4:5
    all_avg = {e.submission_id: e.values["avg"] for e in rank_entries(subs, [avg, x, y])}
    assert all_avg == {1: 2.5, 2: 3.0, 3: 3.5, 4: 4.0, 5: 2.0}
    # a's best is 1 (2.5 < 3.0), b's is 3 (3.5 < 4.0); among 1, 3, 5 the averages are recomputed
    entries = build_leaderboard(subs, [avg, x, y], "best")
    assert order(entries) == [5, 1, 3]
    assert [e.values["avg"] for e in entries] == [1.5, 2.0, 2.5]


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "primary_key", "message"),
    [
        ([ACC], "zz", "primary column 'zz' is not one of the columns"),
        ([ACC, ACC], None, "column key used twice: acc"),
        ([ACC, ColumnSpec("s", "S", 1, computation="sum", computation_keys=("nope", "acc"))], None,
         "column 's': unknown computation_keys: nope"),
        ([ColumnSpec("s", "S", 1, computation="sum", computation_keys=("s",))], None,
         "column 's': a computed column cannot use itself"),
        ([ColumnSpec("s", "S", 1, computation="mean")], None, "column 's': computation mean needs computation_keys"),
        ([ColumnSpec("s", "S", 1, computation_keys=("s",))], None,
         "column 's': computation_keys given without a computation"),
        ([ACC, ColumnSpec("s", "S", 1, computation="median", computation_keys=("acc",))], None,  # type: ignore[arg-type]
         "column 's': unknown computation 'median'"),
        ([ColumnSpec("s", "S", 1, sorting="up")], None, "column 's': sorting must be 'asc' or 'desc', not 'up'"),  # type: ignore[arg-type]
        ([ColumnSpec("s", "S", 1, precision=-1)], None, "column 's': precision must be a non-negative integer"),
        ([ColumnSpec("p", "P", 0, computation="sum", computation_keys=("q",)),
          ColumnSpec("q", "Q", 1, computation="max", computation_keys=("r",)),
          ColumnSpec("r", "R", 2, computation="min", computation_keys=("p",))], None,
         "computed columns form a cycle: p -> q -> r -> p"),
    ],
)
def test_validation_errors(columns: list[ColumnSpec], primary_key: str | None, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        validate(columns, primary_key)
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        build_leaderboard([sub(1, "a", acc=1.0)], columns, "all", primary_key)


def test_duplicate_submission_ids_and_unknown_rule_are_refused() -> None:
    with pytest.raises(ValueError, match="^submission id used twice: 1$"):
        rank_entries([sub(1, "a", acc=1.0), sub(1, "b", acc=2.0)], [ACC])
    with pytest.raises(ValueError, match="^unknown submission rule 'first'"):
        build_leaderboard([sub(1, "a", acc=1.0)], [ACC], "first")  # type: ignore[arg-type]


# --- properties over random leaderboards ------------------------------------------------------


def _ref_values(subs: list[ScoredSubmission], columns: list[ColumnSpec]) -> list[dict[str, float | None]]:
    """Column values by brute force (avg_rank in O(n^2)), independently of the module."""

    def clean(v: object) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)  # type: ignore[arg-type]

    rows = [{c.key: clean(s.scores.get(c.key)) for c in columns if c.computation is None} for s in subs]
    n = len(rows)
    for c in columns:  # in these tests computed columns only read raw columns
        if c.computation is None:
            continue
        for row in rows:
            xs = [row[k] for k in c.computation_keys]
            if c.computation == "avg_rank":
                continue
            if any(v is None for v in xs):
                row[c.key] = None
                continue
            v = {"sum": sum, "mean": lambda z: sum(z) / len(z), "min": min, "max": max}[c.computation](xs)
            row[c.key] = None if math.isnan(v) else v
        if c.computation == "avg_rank":
            for row in rows:
                ranks = []
                for k in c.computation_keys:
                    asc = next(col.sorting for col in columns if col.key == k) == "asc"
                    mine = row[k]
                    if mine is None:
                        ranks.append(n)
                    else:
                        better = sum(1 for o in rows if o[k] is not None and (o[k] < mine if asc else o[k] > mine))
                        ranks.append(1 + better)
                row[c.key] = sum(ranks) / len(ranks)
    return rows


def _ref_before(a: ScoredSubmission, av: dict, b: ScoredSubmission, bv: dict, deciding: list[ColumnSpec]) -> bool:
    """Whether ``a`` must be ranked before ``b``, written straight from the rules."""
    for c in deciding:
        x, y = av[c.key], bv[c.key]
        if x is None and y is None or x == y:
            continue
        if x is None or y is None:
            return y is None
        asc = c.sorting == "asc" or c.computation == "avg_rank"
        return x < y if asc else x > y
    return (a.created_at, a.submission_id) < (b.created_at, b.submission_id)


def _random_case(rng: random.Random) -> tuple[list[ScoredSubmission], list[ColumnSpec], str | None]:
    pool = [None, NAN, 0.0, 0.1, 0.5, 0.5, 0.9, 1.0, -2.0, INF, -INF]
    indexes = rng.sample(range(10), 5)
    columns = [
        ColumnSpec("a", "A", indexes[0], rng.choice(["asc", "desc"])),
        ColumnSpec("b", "B", indexes[1], rng.choice(["asc", "desc"])),
        ColumnSpec("h", "H", indexes[2], rng.choice(["asc", "desc"]), hidden=True),
        ColumnSpec("c", "C", indexes[3], rng.choice(["asc", "desc"]),
                   computation=rng.choice(["sum", "mean", "min", "max"]), computation_keys=("a", "b")),
        ColumnSpec("r", "R", indexes[4], "desc", computation="avg_rank", computation_keys=("a", "h")),
    ]
    n = rng.randint(0, 30)
    ids = rng.sample(range(1, 1000), n)
    subs = [
        ScoredSubmission(
            ids[i], f"u{rng.randint(0, 5)}", T0 + timedelta(minutes=rng.randint(0, 4)),
            {k: rng.choice(pool) for k in ("a", "b", "h") if rng.random() < 0.9}, rng.random() < 0.2,
        )
        for i in range(n)
    ]
    return subs, columns, rng.choice([None, "a", "b", "c", "r", "h"])


def test_random_leaderboards_match_the_rules_pairwise() -> None:
    rng = random.Random(20260101)
    for _ in range(300):
        subs, columns, primary = _random_case(rng)
        entries = rank_entries(subs, columns, primary)
        n = len(subs)
        assert [e.rank for e in entries] == list(range(1, n + 1))
        assert sorted(order(entries)) == sorted(s.submission_id for s in subs)

        ref = {s.submission_id: (s, v) for s, v in zip(subs, _ref_values(subs, columns), strict=True)}
        for e in entries:
            assert e.values == pytest.approx(ref[e.submission_id][1], nan_ok=False)
        deciding = ranking_order(columns, primary)
        assert deciding[0].key == (primary or min(columns, key=lambda c: c.index).key)
        for i, first in enumerate(entries):
            for second in entries[i + 1 :]:
                a, av = ref[first.submission_id]
                b, bv = ref[second.submission_id]
                assert _ref_before(a, av, b, bv, deciding), (first, second)
        # the public sort_key gives the same order
        rows = compute_columns(subs, columns)
        by_key = sorted(zip(subs, rows, strict=True), key=lambda p: sort_key(p[0], p[1], deciding))
        assert [s.submission_id for s, _ in by_key] == order(entries)


def test_random_rules_pick_one_entry_per_owner_as_defined() -> None:
    rng = random.Random(99)
    for _ in range(200):
        subs, columns, primary = _random_case(rng)
        owners = {s.owner for s in subs}
        full = rank_entries(subs, columns, primary)
        best = {}
        for e in full:
            best.setdefault(e.owner, e.submission_id)
        last = {o: max((s for s in subs if s.owner == o), key=lambda s: (s.created_at, s.submission_id)).submission_id
                for o in owners}

        assert sorted(order(build_leaderboard(subs, columns, "all", primary))) == sorted(order(subs))
        for rule, expected in (("best", set(best.values())), ("last", set(last.values()))):
            entries = build_leaderboard(subs, columns, rule, primary)  # type: ignore[arg-type]
            assert set(order(entries)) == expected
            assert len(entries) == len(owners) and {e.owner for e in entries} == owners
            assert order(entries) == order(rank_entries([s for s in subs if s.submission_id in expected], columns, primary))
        chosen = {s.submission_id for s in subs if s.selected}
        chosen |= {best[o] for o in owners if not any(s.selected for s in subs if s.owner == o)}
        assert set(order(build_leaderboard(subs, columns, "selected", primary))) == chosen


def test_rerank_owner_equals_a_full_rebuild_over_random_histories() -> None:
    """Submissions arrive (and selections change) one owner at a time; after each change the
    leaderboard re-ranked from the standing entries and that owner's submissions is the one a
    full rebuild over every submission gives, for every rule, on boards without avg_rank."""
    rng = random.Random(4242)
    checked = 0
    for _ in range(120):
        history, columns, primary = _random_case(rng)
        columns = [c for c in columns if c.computation != "avg_rank"]
        assert owners_rank_apart(columns)
        primary = None if primary == "r" else primary
        rule = rng.choice(["all", "last", "best", "selected"])
        subs: list[ScoredSubmission] = []
        standing = build_leaderboard(subs, columns, rule, primary)  # type: ignore[arg-type]
        for s in history:
            new = True
            if subs and rng.random() < 0.3:  # an owner changes their choice instead of submitting
                old = rng.choice(subs)
                s = ScoredSubmission(old.submission_id, old.owner, old.created_at, old.scores, not old.selected)
                subs = [s if x.submission_id == s.submission_id else x for x in subs]
                new = False
            else:
                subs.append(s)
            full = build_leaderboard(subs, columns, rule, primary)  # type: ignore[arg-type]
            mine = [x for x in subs if x.owner == s.owner]
            after = rerank_owner(standing, s.owner, mine, columns, rule, primary)  # type: ignore[arg-type]
            assert after == full, (rule, primary)
            if new and rule != "selected":  # the store's shortcut: their standing entries and the new one
                known = [entry_as_submission(e) for e in standing if e.owner == s.owner]
                assert rerank_owner(standing, s.owner, [*known, s], columns, rule, primary) == full  # type: ignore[arg-type]
            assert _applied(standing, entry_changes(standing, after)) == after
            standing = after
            checked += 1
    assert checked > 1000


def _applied(before: Sequence[RankedEntry], changes) -> list[RankedEntry]:
    """``changes`` done as the store does them: deletes, every shift from the old ranks, inserts."""
    rows = []
    for e in before:
        if e.submission_id in changes.removed:
            continue
        delta = next((d for lo, hi, d in changes.shifts if lo <= e.rank <= hi), 0)
        rows.append(RankedEntry(e.rank + delta, e.submission_id, e.owner, e.created_at, e.values))
    return sorted(rows + list(changes.added), key=lambda e: e.rank)


def test_one_new_score_moves_one_block_of_ranks() -> None:
    before = rank_entries([sub(i, f"u{i}", acc=i / 10) for i in range(1, 8)], [ACC])  # ids 7..1 at ranks 1..7
    after = rerank_owner(before, "u2", [sub(2, "u2", acc=0.2), sub(9, "u2", acc=0.65)], [ACC], "best")
    changes = entry_changes(before, after)
    assert changes.removed == [2] and [e.submission_id for e in changes.added] == [9]
    assert changes.shifts == [(2, 5, 1)] and order(after) == [7, 9, 6, 5, 4, 3, 1]  # 6..3 move down one
    assert _applied(before, changes) == after


def test_rerank_owner_refuses_avg_rank_boards_and_strangers_submissions() -> None:
    ranked_by_avg = [ACC, TIME, ColumnSpec("r", "R", 2, computation="avg_rank", computation_keys=("acc", "time"))]
    assert not owners_rank_apart(ranked_by_avg)
    with pytest.raises(ValueError, match="avg_rank"):
        rerank_owner([], "ann", [sub(1, "ann", acc=1.0)], ranked_by_avg, "best")
    with pytest.raises(ValueError, match="submissions of bob given as ann's"):
        rerank_owner([], "ann", [sub(1, "ann", acc=1.0), sub(2, "bob", acc=1.0)], [ACC, TIME], "best")


def test_csv_neutralizes_formulas() -> None:
    from podium.server.leaderboards.store import to_csv

    page = {"columns": [{"key": "acc", "title": "Accuracy"}],
            "entries": [{"rank": 1, "owner": "=HYPERLINK(1)", "submission": 5, "submitted_at": "t",
                         "display": {"acc": "0.5"}}]}
    assert to_csv(page).splitlines()[1] == "1,'=HYPERLINK(1),5,t,0.5"
