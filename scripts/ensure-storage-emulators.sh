#!/usr/bin/env bash
# Install the object-storage emulators the tests start on loopback, once: Azurite (npm) into
# .cache/node, and LocalStack's S3 (PyPI; it verifies SigV4 signatures and expiry) into its own
# virtualenv .cache/localstack-venv, pinned to versions that run on Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=.cache/node
if [ ! -x "$prefix/node_modules/.bin/azurite-blob" ]; then
    echo "==> installing azurite into $prefix" >&2
    mkdir -p "$prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" "azurite@${AZURITE_VERSION:-3.37.0}" >&2
fi
venv=.cache/localstack-venv
stamp="$venv/.podium-installed-4.4.0"
if [ ! -f "$stamp" ]; then
    echo "==> installing LocalStack's S3 emulator into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "localstack-core[base-runtime]==4.4.0" "cbor2<5.7" "pyopenssl<24.3" \
        "cryptography<44" "service_identity<24" > "$venv/pip-install.log" 2>&1 \
        || { tail -20 "$venv/pip-install.log" >&2; exit 1; }
    touch "$stamp"
fi
