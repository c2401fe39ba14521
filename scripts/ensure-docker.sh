#!/usr/bin/env bash
# Make a Docker engine answer on this machine, idempotently: install Debian's docker.io (and
# mmdebstrap, to build runtime images without a registry) when missing, start dockerd, wait.
# Exits at once when `docker info` works and the tools are there; a pid file or socket left by a
# dead dockerd is removed before starting a new one.
# Environment: PODIUM_DOCKER_WAIT (seconds, default 60), PODIUM_DOCKERD_LOG, PODIUM_DOCKERD_PIDFILE,
# PODIUM_DOCKERD_ARGS (extra dockerd arguments), DOCKER_HOST (unix:// socket to check).
set -euo pipefail

LOG=${PODIUM_DOCKERD_LOG:-/var/log/podium-dockerd.log}
PIDFILE=${PODIUM_DOCKERD_PIDFILE:-/var/run/docker.pid} # dockerd's default: engines others started count
WAIT=${PODIUM_DOCKER_WAIT:-60}
read -r -a EXTRA_ARGS <<<"${PODIUM_DOCKERD_ARGS:-}"
EXEC_ROOT=/var/run/docker
for ((a = 0; a < ${#EXTRA_ARGS[@]}; a++)); do
    case "${EXTRA_ARGS[a]}" in
    --exec-root=*) EXEC_ROOT=${EXTRA_ARGS[a]#--exec-root=} ;;
    --exec-root) EXEC_ROOT=${EXTRA_ARGS[a + 1]:-$EXEC_ROOT} ;;
    esac
done
SOCKET=/var/run/docker.sock
case "${DOCKER_HOST:-}" in
unix://*) SOCKET=${DOCKER_HOST#unix://} ;;
?*) SOCKET="" ;; # a tcp:// engine: no socket file here to clean up
esac

say() { echo "==> ensure-docker: $*"; }
die() {
    echo "ensure-docker: $*" >&2
    exit 1
}
answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
server_version() { docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'; }
# Whether a pid is a running process (an unreaped zombie is not: PID 1 in a container may not reap).
alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! awk '{ exit !($3 == "Z" || $3 == "X") }' "/proc/$1/stat" 2>/dev/null; }
# The pid in $PIDFILE if it is a running dockerd (a stale file may name a pid reused by another program).
live_pid() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ] && echo "$pid"
}
start_dockerd() {
    if [ -e "$PIDFILE" ]; then
        say "removing stale $PIDFILE (pid $(cat "$PIDFILE" 2>/dev/null || true) is not a running dockerd)"
        rm -f "$PIDFILE"
    fi
    if [ -n "$SOCKET" ] && [ -S "$SOCKET" ]; then
        say "removing stale socket $SOCKET (nothing answers on it)"
        rm -f "$SOCKET"
    fi
    # dockerd reuses the containerd named here if that pid exists, even as a zombie, then times out.
    local cpid
    cpid=$(cat "$EXEC_ROOT/containerd/containerd.pid" 2>/dev/null || true)
    if [[ "$cpid" =~ ^[0-9]+$ ]] && ! { alive "$cpid" && grep -qx containerd "/proc/$cpid/comm" 2>/dev/null; }; then
        say "removing stale $EXEC_ROOT/containerd/containerd.pid (pid $cpid is not a running containerd)"
        rm -f "$EXEC_ROOT/containerd/containerd.pid"
    fi
    say "starting dockerd (log: $LOG, pid file: $PIDFILE)"
    mkdir -p "$(dirname "$LOG")" "$(dirname "$PIDFILE")"
    echo "---- $(date -Is) started by $0" >>"$LOG"
    # setsid: the engine outlives this script and the CI step that ran it.
    setsid dockerd --pidfile "$PIDFILE" "${EXTRA_ARGS[@]}" >>"$LOG" 2>&1 </dev/null &
    pid=$!
    started=1
}

missing=()
{ command -v dockerd && command -v docker; } >/dev/null 2>&1 || missing+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap uidmap) # uidmap: non-root builds

if answers && [ ${#missing[@]} -eq 0 ]; then
    say "Docker engine answers (server $(server_version))"
    exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        if answers; then
            say "the engine answers, but ${missing[*]} (to build images) is missing: run me as root"
            exit 0
        fi
        die "not root, cannot install ${missing[*]}: run sudo $0"
    fi
    say "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if answers; then # the package's own service may have started the engine
        say "Docker engine answers (server $(server_version))"
        exit 0
    fi
fi

[ "$(id -u)" -eq 0 ] || die "the Docker engine does not answer and only root can start it: sudo $0"

if [ -z "${PODIUM_DOCKERD_ARGS:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "starting the docker service with systemctl"
    systemctl start docker || say "systemctl start docker failed; starting dockerd by hand"
fi

pid=$(live_pid || true)
started=0
if [ -n "$pid" ]; then
    say "dockerd (pid $pid) is running but does not answer yet; waiting"
elif answers; then
    :
elif pgrep -x dockerd >/dev/null 2>&1; then
    # A dockerd with another pid file, maybe still starting: wait for it rather than race it.
    say "a dockerd process exists (not the one in $PIDFILE); waiting for it to answer"
else
    start_dockerd
fi

for ((i = 0; i < WAIT; i++)); do
    if answers; then
        say "Docker engine answers after ${i} s (server $(server_version))"
        exit 0
    fi
    if [ -n "$pid" ] && ! alive "$pid" && [ -z "$(live_pid || true)" ]; then
        if [ "$started" -eq 0 ]; then
            say "dockerd (pid $pid) went away while starting"
            start_dockerd
        else
            echo "ensure-docker: dockerd exited; last lines of $LOG:" >&2
            tail -25 "$LOG" >&2 || true
            exit 1
        fi
    fi
    sleep 1
done
echo "ensure-docker: the Docker engine did not answer within ${WAIT} s; last lines of $LOG:" >&2
tail -25 "$LOG" >&2 || true
exit 1
