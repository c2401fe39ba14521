#!/usr/bin/env bash
# Run the benchmark suite (bench/run.py) on this machine: installs what it needs (the package,
# wrk, the Docker engine and runtime images), starts PostgreSQL and RabbitMQ if they are down.
# Extra arguments go to bench/run.py (e.g. --quick, --only B2, --profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-services.sh
.venv/bin/podium images engine
.venv/bin/podium images build
command -v wrk >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq wrk >/dev/null; }
[ -x .venv/bin/py-spy ] || .venv/bin/python -m pip install -q py-spy  # for --profile
exec .venv/bin/python bench/run.py "$@"
