#!/usr/bin/env bash
# Build the local runtime images (podium/runtime:py3 and :legacy) from Debian packages: no
# registry needed. Images already built from the same recipe are reused; pass --force to rebuild,
# or image names to build only those. PYTHON picks the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

if ! "$PYTHON" -c 'import podium.worker.images' 2>/dev/null; then
    echo "build-images: $PYTHON cannot import podium.worker.images; run: $PYTHON -m pip install -e ." >&2
    exit 1
fi
"$PYTHON" -m podium.worker.engine
exec "$PYTHON" -m podium.worker.images build "$@"
