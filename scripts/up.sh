#!/usr/bin/env bash
# `podium up` on a fresh machine: install what it needs (a virtualenv with the package,
# configurable-http-proxy from npm), then start JupyterHub with its proxy, the Podium service
# (SQLite, local storage, a server-free broker) and a compute worker that runs participant code
# in Docker (installed, started and its images built when missing, as root on Debian; elsewhere it
# says what to run), create a demo competition, score a sample submission, and serve until Ctrl-C.
# Extra arguments go to `podium up` (e.g. --port 8001, --no-serve; --executor local runs
# participant code without isolation).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/podium up "$@"
