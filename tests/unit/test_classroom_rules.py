"""The course rules as pure functions: late penalties, grade mappings, the fallback selection."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from podium.server.classroom import deadlines, grades, selection
from podium.server.errors import ValidationFailed
from podium.server.leaderboards.ranking import ColumnSpec, ScoredSubmission
from podium.server.orm import LatePenaltyKind

T0 = datetime(2026, 12, 1, 12, 0, 0)


def phase(kind: str, value: float) -> SimpleNamespace:
    return SimpleNamespace(late_penalty_kind=LatePenaltyKind(kind), late_penalty_value=value)


def test_late_penalties_are_a_share_of_the_grade() -> None:
    assert deadlines.penalty_for(phase("fixed", 0.2), None) is None
    assert deadlines.penalty_for(phase("fixed", 0.2), 5) == 0.2
    assert deadlines.penalty_for(phase("per_day", 0.1), 1) == pytest.approx(0.1)  # a started day counts
    assert deadlines.penalty_for(phase("per_day", 0.1), 86400) == pytest.approx(0.1)
    assert deadlines.penalty_for(phase("per_day", 0.1), 86401) == pytest.approx(0.2)
    assert deadlines.penalty_for(phase("per_day", 0.4), 3 * 86400) == 1.0  # never more than the grade
    assert deadlines.penalty_for(phase("none", 0.5), 100) == 0.0


def test_a_deadline_knows_lateness_and_its_close() -> None:
    d = deadlines.Deadline(end=T0, grace_until=T0 + timedelta(hours=1), extended=False)
    assert d.late_by(T0) is None and d.late_by(T0 + timedelta(seconds=0.2)) == 1
    assert d.late_by(T0 + timedelta(minutes=30)) == 1800
    assert not d.closed_at(T0 + timedelta(minutes=59)) and d.closed_at(T0 + timedelta(hours=1))
    assert not deadlines.Deadline(None, None, False).closed_at(T0)


@pytest.mark.parametrize(("mapping", "score", "rank", "better", "grade"), [
    ({}, 0.75, 1, True, 75.0),
    ({"kind": "linear", "low": 0.5, "high": 0.9, "min_grade": 40, "max_grade": 100}, 0.7, 1, True, 70.0),
    ({"kind": "linear", "low": 0.5, "high": 0.9, "min_grade": 40, "max_grade": 100}, 0.2, 1, True, 40.0),
    ({"kind": "linear", "low": 10, "high": 2, "min_grade": 0, "max_grade": 10}, 4, 1, False, 7.5),  # an error: lower is better
    ({"kind": "thresholds", "thresholds": [[0.8, 85], [0.9, 100]], "below": 50}, 0.85, 3, True, 85.0),
    ({"kind": "thresholds", "thresholds": [[0.8, 85], [0.9, 100]], "below": 50}, 0.95, 3, True, 100.0),
    ({"kind": "thresholds", "thresholds": [[0.8, 85], [0.9, 100]], "below": 50}, 0.1, 3, True, 50.0),
    ({"kind": "thresholds", "thresholds": [[2.0, 100], [5.0, 80]], "below": 0}, 4.0, 3, False, 80.0),
    ({"kind": "rank", "grades": [100, 95], "rest": 80}, 0.1, 2, True, 95.0),
    ({"kind": "rank", "grades": [100, 95], "rest": 80}, 0.1, 7, True, 80.0),
    ({"kind": "rank", "grades": [100], "missing": 10}, None, None, True, 10.0),
])
def test_grade_mappings(mapping, score, rank, better, grade) -> None:
    grades.check_mapping(mapping)
    assert grades.map_grade(mapping, score, rank, better) == pytest.approx(grade)


def test_a_mapping_that_cannot_grade_is_refused_with_its_reason() -> None:
    with pytest.raises(ValidationFailed, match="kind: 'curve'"):
        grades.check_mapping({"kind": "curve"})
    with pytest.raises(ValidationFailed, match="thresholds: malformed"):
        grades.check_mapping({"kind": "thresholds"})
    with pytest.raises(ValidationFailed, match="low and high must differ"):
        grades.check_mapping({"kind": "linear", "low": 1, "high": 1})
    assert grades.points_possible({"kind": "thresholds", "thresholds": [[0.9, 20]], "below": 5}) == 20


def test_the_fallback_is_the_best_on_the_public_board() -> None:
    columns = [ColumnSpec(key="acc", title="Acc", index=0, sorting="desc")]
    subs = [ScoredSubmission(i, "ann", T0 + timedelta(minutes=i), {"acc": acc})
            for i, acc in ((1, 0.5), (2, 0.9), (3, 0.7), (4, 0.9))]
    assert selection.fallback(subs, columns, None, 1) == (2,)  # a tie goes to the earlier one
    assert selection.fallback(subs, columns, None, 3) == (2, 4, 3)
