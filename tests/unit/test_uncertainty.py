"""Bootstrap confidence intervals from per-example scores (worker/uncertainty.py) and ties with
the leader (server/leaderboards/uncertainty.py): checked against a textbook reference
computation, a normal approximation, and every way the per-example file can be wrong."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from podium.server.leaderboards.ranking import format_interval
from podium.server.leaderboards.uncertainty import overlaps, tied_with_leader
from podium.worker.errors import ScoresError
from podium.worker.uncertainty import (
    PER_EXAMPLE_FILE,
    bootstrap_intervals,
    intervals_in,
    read_per_example,
)

SETTINGS = {"resamples": 2000, "level": 0.95, "seed": 7}


def reference_percentile_bootstrap(columns: dict[str, list[float]], resamples: int, level: float, seed: int):
    """Efron's percentile bootstrap written the plain way: one resample at a time, the same
    resampled examples for every column, then numpy's percentile of each column's means."""
    rng = np.random.default_rng(seed)
    keys = sorted(columns)
    n = len(columns[keys[0]])
    means = {k: [] for k in keys}
    for _ in range(resamples):
        picks = rng.integers(0, n, size=n)
        for k in keys:
            means[k].append(float(np.mean(np.asarray(columns[k])[picks])))
    tail = 100 * (1 - level) / 2
    return {k: (float(np.percentile(means[k], tail)), float(np.percentile(means[k], 100 - tail))) for k in keys}


def write(tmp_path, text: str) -> str:
    path = tmp_path / PER_EXAMPLE_FILE
    path.write_text(text)
    return str(tmp_path)


def test_intervals_match_the_reference_computation() -> None:
    rng = np.random.default_rng(1)
    columns = {"accuracy": [float(v) for v in rng.integers(0, 2, 300)], "error": list(rng.normal(3, 1, 300))}
    got = bootstrap_intervals(columns, SETTINGS)
    want = reference_percentile_bootstrap(columns, **SETTINGS)
    for key in columns:
        assert got[key] == pytest.approx(want[key], abs=1e-12)


def test_batches_draw_the_same_resamples_as_one_draw(monkeypatch) -> None:
    """Big files are resampled in batches; the batch size must not change the intervals."""
    from podium.worker import uncertainty

    columns = {"accuracy": [float(i % 3 == 0) for i in range(500)]}
    whole = bootstrap_intervals(columns, SETTINGS)
    monkeypatch.setattr(uncertainty, "DRAW_BATCH", 500 * 7)  # 7 resamples per batch
    assert bootstrap_intervals(columns, SETTINGS) == whole


def test_interval_agrees_with_the_normal_approximation() -> None:
    """For a mean of 4,000 Bernoulli(0.8) examples the 95% interval is close to
    mean ± 1.96·sqrt(p(1-p)/n): a check of the method, independent of the code's RNG use."""
    rng = np.random.default_rng(3)
    values = [float(v) for v in (rng.random(4000) < 0.8)]
    low, high = bootstrap_intervals({"accuracy": values}, SETTINGS)["accuracy"]
    mean = sum(values) / len(values)
    half = 1.96 * math.sqrt(mean * (1 - mean) / len(values))
    assert low == pytest.approx(mean - half, abs=0.15 * half)
    assert high == pytest.approx(mean + half, abs=0.15 * half)


def test_same_seed_same_intervals_other_seed_other_intervals() -> None:
    columns = {"accuracy": [float(i % 2) for i in range(101)]}
    assert bootstrap_intervals(columns, SETTINGS) == bootstrap_intervals(columns, dict(SETTINGS))
    assert bootstrap_intervals(columns, {**SETTINGS, "seed": 8}) != bootstrap_intervals(columns, SETTINGS)


def test_level_widens_the_interval() -> None:
    columns = {"accuracy": [float(i % 4 == 0) for i in range(200)]}
    narrow = bootstrap_intervals(columns, {**SETTINGS, "level": 0.5})["accuracy"]
    wide = bootstrap_intervals(columns, {**SETTINGS, "level": 0.99})["accuracy"]
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_file_is_read_by_header_with_id_ignored(tmp_path) -> None:
    out = write(tmp_path, "id,accuracy,mae\nx1,1,0.5\nx2,0,1.5\n\nx3,1,0\n")
    assert read_per_example(os.path.join(out, PER_EXAMPLE_FILE), {"accuracy", "mae", "runtime"}) == {
        "accuracy": [1.0, 0.0, 1.0], "mae": [0.5, 1.5, 0.0]}
    assert set(intervals_in(out, {"accuracy", "mae"}, SETTINGS)) == {"accuracy", "mae"}


@pytest.mark.parametrize(("text", "message"), [
    ("accuracy\n1\nSECRET-7\n", "line 3, column 'accuracy' is not a number"),
    ("accuracy\n1\nnan\n", "line 3, column 'accuracy' is not a finite number"),
    ("accuracy,mae\n1,2\n1\n", "line 3 has 1 cells, the header 2"),
    ("acuracy\n1\n", "'acuracy' is not a leaderboard column"),
    ("accuracy\n", "has no examples"),
    ("", "has no header line"),
])
def test_a_wrong_file_is_refused_naming_line_and_column_never_the_value(tmp_path, text, message) -> None:
    out = write(tmp_path, text)
    with pytest.raises(ScoresError) as caught:
        intervals_in(out, {"accuracy", "mae"}, SETTINGS)
    assert message in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_a_link_is_refused(tmp_path) -> None:
    (tmp_path / "elsewhere.csv").write_text("accuracy\n1\n")
    os.symlink(tmp_path / "elsewhere.csv", tmp_path / PER_EXAMPLE_FILE)
    with pytest.raises(ScoresError, match="not a regular file"):
        intervals_in(str(tmp_path), {"accuracy"}, SETTINGS)


def test_no_file_or_no_resamples_gives_no_intervals(tmp_path) -> None:
    assert intervals_in(str(tmp_path), {"accuracy"}, SETTINGS) == {}
    out = write(tmp_path, "accuracy\n1\n0\n")
    assert intervals_in(out, {"accuracy"}, {**SETTINGS, "resamples": 0}) == {}
    assert intervals_in(out, {"accuracy"}, None) == {}


def test_ties_with_the_leader_are_overlapping_intervals() -> None:
    intervals = {1: {"acc": (0.85, 0.95)}, 2: {"acc": (0.80, 0.86)}, 3: {"acc": (0.40, 0.60)}, 4: {}}
    ties = tied_with_leader([(1, 1), (2, 2), (3, 3), (4, 4)], intervals, leader=1, column="acc")
    assert ties == {1: False, 2: True, 3: False, 4: False}
    assert overlaps((0.0, 1.0), (1.0, 2.0)) and not overlaps((0.0, 1.0), None)


def test_interval_is_shown_at_the_column_precision() -> None:
    assert format_interval((0.81234, 0.9), 3) == "[0.812, 0.900]"
    assert format_interval([1.0, 2.5], None) == "[1, 2.5]"
