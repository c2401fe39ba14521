"""Confidence intervals for the leaderboard's columns, from the per-example scores a scoring
program may write.

A scoring program that writes ``per_example_scores.csv`` beside its scores (a header naming
leaderboard columns, then one row per test example; an ``id`` column is allowed and ignored)
gets, for each of those columns, a percentile bootstrap interval of the column's mean (Efron's
percentile method): the examples are resampled with replacement ``resamples`` times, the same
resample for every column (a paired bootstrap), and the interval is the ``(1 - level) / 2`` and
``1 - (1 - level) / 2`` quantiles of the resampled means. The column's score should then be the
mean of its per-example values (accuracy, absolute error, log loss per example...); a metric
that is not a mean (AUC, F1) needs its own interval, which this file cannot give.

The same file, seed, resamples and level give the same interval on every machine with the same
NumPy (``numpy.random.default_rng(seed)``). The file is written by the organizer's program but
may quote what a participant's submission made it write: every refusal names a line and a
column, never a value.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Collection

from .errors import ScoresError
from .protocol import BootstrapSettings, Interval

PER_EXAMPLE_FILE = "per_example_scores.csv"
#: the largest per-example file read (bytes) and the most examples kept
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_EXAMPLES = 1_000_000
#: resampled indices drawn at once (bounds the memory a big file takes: 8 bytes each)
DRAW_BATCH = 4_000_000
IGNORED_COLUMNS = ("id",)


def read_per_example(path: str, columns: Collection[str]) -> dict[str, list[float]]:
    """The per-example values of each leaderboard column the file names (other headers but
    ``id`` are refused, so a typo does not silently lose a column); ScoresError naming the line
    and column when a cell is not a finite number."""
    if os.path.islink(path) or not os.path.isfile(path):
        raise ScoresError(f"{PER_EXAMPLE_FILE} is not a regular file")
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise ScoresError(f"{PER_EXAMPLE_FILE} is larger than {MAX_FILE_BYTES} bytes")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        rows = csv.reader(io.StringIO(f.read()))
    header = next(rows, None)
    if not header:
        raise ScoresError(f"{PER_EXAMPLE_FILE} has no header line")
    names = [h.strip() for h in header]
    unknown = sorted(n for n in names if n not in columns and n not in IGNORED_COLUMNS)
    if unknown:
        # the expected keys are not listed: a private board's keys are secret until its reveal
        raise ScoresError(f"{PER_EXAMPLE_FILE}: {', '.join(repr(n[:64]) for n in unknown)} "
                          "is not a leaderboard column")
    kept = [(i, n) for i, n in enumerate(names) if n in columns]
    values: dict[str, list[float]] = {n: [] for _, n in kept}
    examples = 0
    for line, row in enumerate(rows, 2):
        if not row or all(not cell.strip() for cell in row):
            continue
        examples += 1
        if examples > MAX_EXAMPLES:
            raise ScoresError(f"{PER_EXAMPLE_FILE} has more than {MAX_EXAMPLES} examples")
        if len(row) != len(names):
            raise ScoresError(f"{PER_EXAMPLE_FILE}: line {line} has {len(row)} cells, the header {len(names)}")
        for i, name in kept:
            try:
                value = float(row[i])
            except ValueError:
                raise ScoresError(f"{PER_EXAMPLE_FILE}: line {line}, column '{name}' is not a number") from None
            if not math.isfinite(value):
                raise ScoresError(f"{PER_EXAMPLE_FILE}: line {line}, column '{name}' is not a finite number")
            values[name].append(value)
    if not examples:
        raise ScoresError(f"{PER_EXAMPLE_FILE} has no examples")
    return values


def bootstrap_intervals(values: dict[str, list[float]], settings: BootstrapSettings) -> dict[str, Interval]:
    """Each column's percentile bootstrap interval ``[low, high]`` of its mean (see the module)."""
    import numpy as np  # only a worker that computes intervals needs it

    if not values:
        return {}
    keys = sorted(values)
    data = np.array([values[k] for k in keys], dtype=np.float64)  # one row per column
    n = data.shape[1]
    rng = np.random.default_rng(settings["seed"])
    means = np.empty((len(keys), settings["resamples"]))
    per_batch = max(1, DRAW_BATCH // n)
    for start in range(0, settings["resamples"], per_batch):
        count = min(per_batch, settings["resamples"] - start)
        picks = rng.integers(0, n, size=(count, n))
        means[:, start:start + count] = data[:, picks].mean(axis=2)
    tail = (1 - settings["level"]) / 2
    bounds = np.quantile(means, [tail, 1 - tail], axis=1)
    return {k: (float(bounds[0][i]), float(bounds[1][i])) for i, k in enumerate(keys)}


def intervals_in(output_dir: str, columns: Collection[str],
                 settings: BootstrapSettings | None) -> dict[str, Interval]:
    """The intervals for the scoring output in ``output_dir``: none without the file or settings;
    ScoresError when the file is there but cannot be read."""
    path = os.path.join(output_dir, PER_EXAMPLE_FILE)
    if settings is None or not settings["resamples"] or not os.path.lexists(path):
        return {}
    return bootstrap_intervals(read_per_example(path, columns), settings)
