#!/usr/bin/env bash
# Install Debian's chromium for the browser tests, once (Playwright drives it through
# executable_path; `playwright install` cannot download browsers on machines without internet).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "The browser tests need Chromium at /usr/bin/chromium; install it with your package manager." >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "Installing chromium needs root (or sudo)." >&2; exit 1; }
    SUDO="sudo -n"
fi
echo "==> installing chromium (apt)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || {
    $SUDO apt-get update >/dev/null
    $SUDO apt-get install -y --no-install-recommends chromium >/dev/null
}
[ -x /usr/bin/chromium ] || { echo "apt-get finished but /usr/bin/chromium is missing" >&2; exit 1; }
echo "==> $(/usr/bin/chromium --version 2>/dev/null)" >&2
