#!/usr/bin/env bash
# Bring Podium up on its embedded defaults (JupyterHub + proxy + the service on SQLite and local
# storage), create a demo competition and a sample submission, and serve until Ctrl-C.
# Extra arguments go to `podium demo` (e.g. --port 8001, --no-serve).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/podium demo "$@"
