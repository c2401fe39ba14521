"""Reading the scores a scoring program wrote, as Codabench does.

``scores.json`` wins when present (a JSON object); otherwise ``scores.txt`` is read line by line
as ``key: value`` or ``key:value``, and if that fails, as YAML. As Codabench's
``upload_submission_scores``, only the leaderboard's columns are kept: other keys (nested
objects, notes, per-class tables) are ignored, and a program that writes only some of the
columns has those stored and the rest missing. A column's value must be a finite number.
Messages never quote what the program wrote (it may hold reference data), only key names.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection

import yaml

from .errors import ScoresError

MAX_SCORES_FILE = 1024 * 1024


def _number(key: str, raw: object) -> float:
    """A score as a float; the error names the key, never the value."""
    if isinstance(raw, bool) or isinstance(raw, dict | list):
        raise ScoresError(f"score '{key}' is not a number")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScoresError(f"score '{key}' is not a number") from None
    if not math.isfinite(value):
        raise ScoresError(f"score '{key}' is not a finite number")
    return value


def _read(path: str) -> str:
    if os.path.islink(path) or not os.path.isfile(path):
        raise ScoresError(f"{os.path.basename(path)} is not a regular file")
    if os.path.getsize(path) > MAX_SCORES_FILE:
        raise ScoresError(f"{os.path.basename(path)} is larger than {MAX_SCORES_FILE} bytes")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _is_number(raw: object) -> bool:
    try:
        _number("", raw)
    except ScoresError:
        return False
    return True


def _txt_pairs(text: str) -> dict[str, object]:
    """``scores.txt`` as key → raw value: ``key: value`` lines when they all hold numbers, else
    the whole file as YAML (``{a: 1, b: 2}``, nested extras), else the lines as they are."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    pairs: dict[str, object] = {}
    bad_line = 0
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            bad_line = number
            break
        pairs[key.strip()] = value.strip()
    if not bad_line and all(_is_number(v) for v in pairs.values()):
        return pairs
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and data:
        return {str(k): v for k, v in data.items()}
    if not bad_line:
        return pairs
    raise ScoresError(f"scores.txt: cannot read line {bad_line} (expected 'key: value')")


def parse_scores_txt(text: str, columns: Collection[str] | None = None) -> dict[str, float]:
    """The scores in a ``scores.txt`` text (only ``columns`` when given)."""
    return _keep(_txt_pairs(text), columns)


def _keep(pairs: dict[str, object], columns: Collection[str] | None) -> dict[str, float]:
    """The leaderboard columns' values (each must be a number); other keys are ignored. Without
    ``columns`` (a job that names none) every key but nested objects and lists must be a number."""
    pairs = {k: v for k, v in pairs.items() if k != "detailed_results"}
    if columns is None:
        return {key: _number(key, raw) for key, raw in pairs.items() if not isinstance(raw, dict | list)}
    return {key: _number(key, raw) for key, raw in pairs.items() if key in columns}


def read_scores(output_dir: str, columns: Collection[str] | None = None) -> dict[str, float]:
    """The scores in ``output_dir``, for the leaderboard ``columns`` when given; raises
    ScoresError when there is no scores file, it cannot be read, a column's value is not a
    number, or it holds no value for any column."""
    json_path = os.path.join(output_dir, "scores.json")
    txt_path = os.path.join(output_dir, "scores.txt")
    if os.path.lexists(json_path):
        try:
            data = json.loads(_read(json_path))
        except ValueError as e:
            raise ScoresError(f"scores.json is not valid JSON (line {getattr(e, 'lineno', '?')})") from None
        if not isinstance(data, dict):
            raise ScoresError("scores.json must hold an object of score name → number")
        scores = _keep({str(k): v for k, v in data.items()}, columns)
    elif os.path.lexists(txt_path):
        scores = parse_scores_txt(_read(txt_path), columns)
    else:
        raise ScoresError("the scoring program wrote no scores.json or scores.txt")
    if not scores:
        if columns:
            raise ScoresError("the scores file has no value for any leaderboard column "
                              f"(expected {', '.join(sorted(columns))})")
        raise ScoresError("the scoring program wrote an empty scores file")
    return scores


def find_detailed_results(output_dir: str) -> str | None:
    """``detailed_results.html``, else the first HTML file (by name) in the output."""
    preferred = os.path.join(output_dir, "detailed_results.html")
    if os.path.isfile(preferred) and not os.path.islink(preferred):
        return preferred
    for root, _dirs, files in sorted(os.walk(output_dir)):
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.lower().endswith((".html", ".htm")) and not os.path.islink(path):
                return path
    return None
