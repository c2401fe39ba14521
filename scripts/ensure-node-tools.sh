#!/usr/bin/env bash
# Install configurable-http-proxy (JupyterHub's proxy) from npm into .cache/node, once.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.cache/node/node_modules/.bin/configurable-http-proxy
if [ -x "$bin" ]; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to install configurable-http-proxy (apt-get install npm)" >&2; exit 1; }
echo "==> installing configurable-http-proxy into .cache/node"
mkdir -p .cache/node
npm install --silent --no-audit --no-fund --prefix .cache/node configurable-http-proxy@5 >/dev/null
"$bin" --version
