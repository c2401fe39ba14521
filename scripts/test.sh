#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what it needs, starts what is missing.
# Extra arguments go to pytest (e.g. scripts/test.sh -k quota).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-services.sh
bash scripts/ensure-docker.sh
bash scripts/ensure-chromium.sh
.venv/bin/podium images build
mkdir -p test-artifacts
.venv/bin/ruff check server worker widgets hub_extension tests
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
