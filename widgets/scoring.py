"""A scoring function written in a notebook, packaged as a CodaLab-compatible scoring program.

Organizers think in functions: ``def score(reference_dir, prediction_dir) -> dict[str, float]``.
Workers run programs: a zip with a ``metadata`` file whose ``command`` the worker executes in the
competition's container (``python $program/score.py $input $output``, CodaLab's layout, which
Codabench and Podium both run unchanged). This module turns the first into the second: the
function's own source (``inspect.getsource``), the imports it uses from its notebook, and a small
runner that calls it with ``$input/ref`` and ``$input/res`` and writes ``$output/scores.json``.

The function runs in the container, not in the notebook: it must not rely on notebook variables
other than modules (which are re-imported) and the helpers passed with ``helpers=``.
"""

from __future__ import annotations

import inspect
import io
import os
import types
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .packaging import PackagingError, module_source, zip_files, zip_path

ScoringFunction = Callable[[str, str], dict]
ScoringSource = ScoringFunction | str | os.PathLike | bytes
"""A scoring function, a path (``.py`` file, folder or ``.zip``), or the bytes of a program zip."""

METADATA = "command: python $program/score.py $input $output\ndescription: {description}\n"

RUNNER = '''

# --- written by podium.widgets.scoring: CodaLab's `python score.py $input $output` ---
if __name__ == "__main__":
    import json as _json
    import math as _math
    import os as _os
    import sys as _sys

    _input, _output = _sys.argv[1], _sys.argv[2]
    _scores = {function}(_os.path.join(_input, "ref"), _os.path.join(_input, "res"))
    if not isinstance(_scores, dict) or not _scores:
        raise SystemExit("{function}() must return a non-empty dict of column -> number, got %r" % (_scores,))
    _clean = {{}}
    for _key, _value in _scores.items():
        _value = float(_value)
        if not _math.isfinite(_value):
            raise SystemExit("{function}() returned %r for %r: scores must be finite numbers" % (_value, _key))
        _clean[str(_key)] = _value
    _os.makedirs(_output, exist_ok=True)
    with open(_os.path.join(_output, "scores.json"), "w") as _f:
        _json.dump(_clean, _f)
    print("scores:", _json.dumps(_clean))
'''


class ScoringPackageError(ValueError):
    """The scoring function or program cannot be packaged; the message says what to change."""


def function_source(function: Callable, helpers: Iterable[Callable] = ()) -> str:
    """The source of ``score.py``: the imports it uses, the helpers, the function and the runner."""
    if not isinstance(function, types.FunctionType) or function.__name__ == "<lambda>":
        raise ScoringPackageError("The scoring function must be a plain `def` function (not a lambda or a class).")
    parameters = inspect.signature(function).parameters
    if len(parameters) < 2:
        raise ScoringPackageError(
            f"{function.__name__}() must take (reference_dir, prediction_dir); it takes {len(parameters)} argument(s)."
        )
    try:
        module = module_source([*helpers, function])
    except PackagingError as exc:
        raise ScoringPackageError(str(exc)) from exc
    # Annotations stay strings, so `float | None` also runs on the legacy image's Python 3.9.
    docstring, rest = module.split("\n", 1)
    return f"{docstring}\nfrom __future__ import annotations\n{rest}{RUNNER.format(function=function.__name__)}"


def _has_metadata(names: Iterable[str]) -> bool:
    return any(Path(n).name in ("metadata", "metadata.yaml") for n in names)


def scoring_program(scoring: ScoringSource, *, helpers: Iterable[Callable] = (), description: str = "") -> bytes:
    """The zip of a scoring program, from a function, a ``.py`` file, a folder, a zip or zip bytes.

    A function (or a ``.py`` file holding a CodaLab-style script) gets a ``metadata`` file with
    ``command: python $program/score.py $input $output``; folders and zips are taken as they are
    and must already have a ``metadata`` (or ``metadata.yaml``) file.
    """
    if callable(scoring):
        source = function_source(scoring, helpers)
        text = description or f"{scoring.__name__}() packaged by podium.widgets"
        return zip_files({"metadata": METADATA.format(description=text), "score.py": source})
    if isinstance(scoring, bytes | bytearray):
        data = bytes(scoring)
    else:
        path = Path(scoring).expanduser()
        if not path.exists():
            raise ScoringPackageError(f"No such scoring program: {path}")
        if path.is_dir():
            data = zip_path(path)
        elif path.suffix == ".py":
            return zip_files({"metadata": METADATA.format(description=description or path.name),
                         "score.py": path.read_bytes()})
        else:
            data = path.read_bytes()
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile as exc:
        raise ScoringPackageError("The scoring program is not a zip file (nor a function, .py file or folder).") from exc
    if not _has_metadata(names):
        raise ScoringPackageError(
            "The scoring program has no `metadata` file: add one with a line like "
            "`command: python $program/score.py $input $output`."
        )
    return data
