"""The ``metadata`` file the worker writes into a step's output, in Codabench's shape.

Codabench's compute worker writes flat YAML keys: ``exitCode`` and ``elapsedTime`` of the step's
program (the scoring program, or the participant's own program), ``elapsedTime`` falling back to
the ingestion's when no program of its own ran (CodaLab 1.5 compatibility), and
``ingestionExitCode`` / ``ingestionElapsedTime``. Legacy scoring programs read it back as
``input/res/metadata`` (their "Duration" columns are ``elapsedTime``). A ``metadata`` a program
wrote into its output is replaced: the worker's account is the only one.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import yaml

from .executors.base import ExecResult


def codabench_metadata(program: ExecResult | None, ingestion: ExecResult | None) -> dict[str, Any]:
    """The four keys Codabench writes (None where that program did not run)."""

    def seconds(result: ExecResult | None) -> float | None:
        return None if result is None else round(result.elapsed, 3)

    return {
        "exitCode": None if program is None else program.exit_code,
        "elapsedTime": seconds(program) if program is not None else seconds(ingestion),
        "ingestionExitCode": None if ingestion is None else ingestion.exit_code,
        "ingestionElapsedTime": seconds(ingestion),
    }


def write(directory: str, program: ExecResult | None, ingestion: ExecResult | None) -> None:
    """Write ``directory/metadata``, replacing whatever is there."""
    path = os.path.join(directory, "metadata")
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    with open(path, "w") as f:
        yaml.safe_dump(codabench_metadata(program, ingestion), f, default_flow_style=False)
