#!/usr/bin/env bash
# Make a Docker engine answer on this machine: install Debian's docker.io (and mmdebstrap, to
# build runtime images without a registry) when missing, start dockerd, wait for it.
set -euo pipefail

if docker info >/dev/null 2>&1; then
    exit 0
fi
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" uidmap >/dev/null
fi
if ! pgrep -x dockerd >/dev/null; then
    echo "==> starting dockerd (log: /var/log/podium-dockerd.log)"
    rm -f /var/run/docker.pid
    nohup dockerd >/var/log/podium-dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 1
done
echo "dockerd did not answer within 60 s; see /var/log/podium-dockerd.log" >&2
tail -20 /var/log/podium-dockerd.log >&2 || true
exit 1
