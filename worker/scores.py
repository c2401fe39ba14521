"""Reading the scores a scoring program wrote, as CodaLab and Codabench do.

``scores.json`` wins when present (a JSON object of key → number). Otherwise ``scores.txt`` is
read line by line as ``key: value`` or ``key:value``; if that fails, as YAML. Values are
checked against the leaderboard's columns by the service; here every value must at least be a
finite number, and a clear ``ScoresError`` names what is wrong.
"""

from __future__ import annotations

import json
import math
import os

import yaml

from .errors import ScoresError

MAX_SCORES_FILE = 1024 * 1024


def _number(key: str, raw: object) -> float:
    if isinstance(raw, bool):
        raise ScoresError(f"score '{key}' is not a number: {raw!r}")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScoresError(f"score '{key}' is not a number: {str(raw)[:50]!r}") from None
    if not math.isfinite(value):
        raise ScoresError(f"score '{key}' is not a finite number: {raw!r}")
    return value


def _read(path: str) -> str:
    if os.path.islink(path) or not os.path.isfile(path):
        raise ScoresError(f"{os.path.basename(path)} is not a regular file")
    if os.path.getsize(path) > MAX_SCORES_FILE:
        raise ScoresError(f"{os.path.basename(path)} is larger than {MAX_SCORES_FILE} bytes")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def parse_scores_txt(text: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    try:
        for line in lines:
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise ValueError(line)
            scores[key.strip()] = _number(key.strip(), value.strip())
        return scores
    except (ValueError, ScoresError) as first_error:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        if isinstance(data, dict) and data:
            return {str(k): _number(str(k), v) for k, v in data.items()}
        if isinstance(first_error, ScoresError):
            raise
        raise ScoresError(f"scores.txt: cannot read line {str(first_error)[:80]!r} (expected 'key: value')") from None


def read_scores(output_dir: str) -> dict[str, float]:
    """The scores in ``output_dir``; raises ScoresError when there are none or they are invalid."""
    json_path = os.path.join(output_dir, "scores.json")
    txt_path = os.path.join(output_dir, "scores.txt")
    if os.path.lexists(json_path):
        try:
            data = json.loads(_read(json_path))
        except ValueError as e:
            raise ScoresError(f"scores.json is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ScoresError("scores.json must hold an object of score name → number")
        scores = {str(k): _number(str(k), v) for k, v in data.items() if k != "detailed_results"}
    elif os.path.lexists(txt_path):
        scores = parse_scores_txt(_read(txt_path))
    else:
        raise ScoresError("the scoring program wrote no scores.json or scores.txt")
    if not scores:
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
