#!/usr/bin/env bash
# Install what Podium needs on a fresh machine, idempotently: a virtualenv with the package and
# its test tools, configurable-http-proxy (npm), and check the local PostgreSQL and RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.podium-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing jupyter-podium[test] into .venv"
    {
        .venv/bin/python -m pip install --upgrade pip setuptools wheel &&
        .venv/bin/python -m pip install -e '.[test]'
    } > .venv/pip-install.log 2>&1 || { tail -40 .venv/pip-install.log >&2; exit 1; }
    touch "$stamp"
fi
bash scripts/ensure-node-tools.sh
