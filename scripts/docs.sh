#!/usr/bin/env bash
# Build the documentation site with warnings as errors (what the test command runs).
#   scripts/docs.sh            into docs/_build/html
#   scripts/docs.sh OUTDIR     into OUTDIR
# Uses .venv (scripts/bootstrap.sh makes it), or $PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/_build/html}"
exec "${PYTHON:-.venv/bin/python}" -m sphinx -W -n --keep-going -E -q -b html docs "$out"
