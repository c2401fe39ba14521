#!/usr/bin/env bash
# Install configurable-http-proxy (JupyterHub's proxy) from npm into .cache/node, once; print its path.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=.cache/node
bin="$prefix/node_modules/.bin/configurable-http-proxy"
version="${CHP_VERSION:-^5}"
if [ ! -x "$bin" ]; then
    command -v npm >/dev/null || { echo "npm is needed to install configurable-http-proxy (apt-get install npm)" >&2; exit 1; }
    echo "==> installing configurable-http-proxy@$version into $prefix" >&2
    mkdir -p "$prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" "configurable-http-proxy@$version" >&2
    [ -x "$bin" ] || { echo "npm finished but $bin is missing" >&2; exit 1; }
    echo "==> configurable-http-proxy $("$bin" --version)" >&2
fi
echo "$PWD/$bin"
