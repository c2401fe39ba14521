"""Leaderboard ranking as pure functions: directions, tie-breaks, missing scores, computations, rules."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from podium.server.leaderboard import (
    ColumnSpec,
    ScoredSubmission,
    build_leaderboard,
    format_value,
    rank_entries,
    validate,
)

T0 = datetime(2026, 1, 1)


def sub(i: int, owner: str, minutes: int = 0, selected: bool = False, **scores: float | None) -> ScoredSubmission:
    return ScoredSubmission(i, owner, T0 + timedelta(minutes=minutes or i), scores, selected)


ACC = ColumnSpec("acc", "Accuracy", 0, "desc")
TIME = ColumnSpec("time", "Time", 1, "asc")


def order(entries) -> list[int]:
    return [e.submission_id for e in entries]


def test_directions_and_primary_by_index() -> None:
    subs = [sub(1, "a", acc=0.5, time=3), sub(2, "b", acc=0.9, time=9), sub(3, "c", acc=0.7, time=1)]
    assert order(rank_entries(subs, [ACC, TIME])) == [2, 3, 1]
    assert order(rank_entries(subs, [ACC, TIME], primary_key="time")) == [3, 1, 2]
    assert [e.rank for e in rank_entries(subs, [ACC, TIME])] == [1, 2, 3]


def test_ties_broken_by_next_column_then_time_then_id() -> None:
    subs = [sub(1, "a", 5, acc=0.9, time=5), sub(2, "b", 4, acc=0.9, time=2), sub(3, "c", 1, acc=0.9, time=5)]
    assert order(rank_entries(subs, [ACC, TIME])) == [2, 3, 1]
    same_time = [sub(7, "a", 1, acc=1, time=1), sub(6, "b", 1, acc=1, time=1)]
    assert order(rank_entries(same_time, [ACC, TIME])) == [6, 7]


@pytest.mark.parametrize("sorting", ["asc", "desc"])
def test_missing_and_nan_rank_last_in_both_directions(sorting: str) -> None:
    col = ColumnSpec("s", "S", 0, sorting)  # type: ignore[arg-type]
    subs = [sub(1, "a", s=None), sub(2, "b", s=float("nan")), sub(3, "c", s=-100.0), sub(4, "d", s=100.0), sub(5, "e")]
    ranked = order(rank_entries(subs, [col]))
    assert ranked[:2] == ([3, 4] if sorting == "asc" else [4, 3])
    assert set(ranked[2:]) == {1, 2, 5}


def test_simple_computations() -> None:
    cols = [
        ColumnSpec("a", "A", 0), ColumnSpec("b", "B", 1),
        ColumnSpec("sum", "Sum", 2, computation="sum", computation_keys=("a", "b")),
        ColumnSpec("mean", "Mean", 3, computation="mean", computation_keys=("a", "b")),
        ColumnSpec("min", "Min", 4, computation="min", computation_keys=("a", "b")),
        ColumnSpec("max", "Max", 5, computation="max", computation_keys=("a", "b")),
    ]
    (entry,) = rank_entries([sub(1, "x", a=1.0, b=4.0)], cols)
    assert entry.values == {"a": 1.0, "b": 4.0, "sum": 5.0, "mean": 2.5, "min": 1.0, "max": 4.0}
    (partial,) = rank_entries([sub(1, "x", a=1.0)], cols)
    assert partial.values["sum"] is None and partial.values["mean"] is None


def test_avg_rank_with_ties_as_primary() -> None:
    avg = ColumnSpec("avg", "Average rank", 0, "desc", computation="avg_rank", computation_keys=("acc", "time"))
    acc, time = ColumnSpec("acc", "A", 1, "desc"), ColumnSpec("time", "T", 2, "asc")
    subs = [sub(1, "a", acc=0.9, time=10), sub(2, "b", acc=0.9, time=1), sub(3, "c", acc=0.5, time=5), sub(4, "d", acc=0.1)]
    entries = {e.submission_id: e for e in rank_entries(subs, [avg, acc, time])}
    # acc ranks: a=1, b=1 (tie), c=3, d=4; time ranks: b=1, c=2, a=3, d missing → 4
    assert entries[1].values["avg"] == 2.0
    assert entries[2].values["avg"] == 1.0
    assert entries[3].values["avg"] == 2.5
    assert entries[4].values["avg"] == 4.0
    # avg_rank sorts ascending even though declared desc
    assert order(sorted(entries.values(), key=lambda e: e.rank)) == [2, 1, 3, 4]


def test_rules() -> None:
    subs = [
        sub(1, "a", acc=0.9), sub(2, "a", acc=0.2), sub(3, "b", acc=0.5, selected=True), sub(4, "b", acc=0.8),
        sub(5, "c", acc=0.1),
    ]
    assert order(build_leaderboard(subs, [ACC], "all")) == [1, 4, 3, 2, 5]
    assert order(build_leaderboard(subs, [ACC], "best")) == [1, 4, 5]
    assert order(build_leaderboard(subs, [ACC], "last")) == [4, 2, 5]
    # b chose 3; a and c chose nothing: their best stands in
    assert order(build_leaderboard(subs, [ACC], "selected")) == [1, 3, 5]


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="primary column 'zz'"):
        validate([ACC], "zz")
    with pytest.raises(ValueError, match="unknown computation_keys"):
        validate([ACC, ColumnSpec("s", "S", 1, computation="sum", computation_keys=("nope",))])
    with pytest.raises(ValueError, match="cannot use itself"):
        validate([ColumnSpec("s", "S", 1, computation="sum", computation_keys=("s",))])
    with pytest.raises(ValueError, match="needs computation_keys"):
        validate([ColumnSpec("s", "S", 1, computation="sum")])
    with pytest.raises(ValueError, match="used twice"):
        validate([ACC, ACC])


def test_format_value() -> None:
    assert format_value(0.123456, 3) == "0.123"
    assert format_value(2.0, None) == "2"
    assert format_value(0.1, None) == "0.1"
    assert format_value(None, 2) is None


def test_random_leaderboards_are_consistent_permutations() -> None:
    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(1, 40)
        subs = [
            sub(i, f"u{rng.randint(0, 9)}", rng.randint(0, 5), acc=rng.choice([None, 0.1, 0.5, 0.9]),
                time=rng.choice([None, 1.0, 2.0]))
            for i in range(1, n + 1)
        ]
        entries = rank_entries(subs, [ACC, TIME])
        assert [e.rank for e in entries] == list(range(1, n + 1))
        assert sorted(order(entries)) == list(range(1, n + 1))
        for better, worse in zip(entries, entries[1:], strict=False):
            a, b = better.values["acc"], worse.values["acc"]
            assert not (a is None and b is not None)
            if a is not None and b is not None:
                assert a >= b
