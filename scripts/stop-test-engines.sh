#!/usr/bin/env bash
# Stops what scripts/start-test-engines.sh started (by pid files only).
# Containers in podman storage and the dockerd data root are kept; pass
# --purge to also delete $GDS_ENGINES_DIR (registry contents, dockerd data).
set -uo pipefail

DIR=${GDS_ENGINES_DIR:-/tmp/gds-engines}
PURGE=0
[ "${1:-}" = "--purge" ] && PURGE=1

log() { echo "[stop-test-engines] $*" >&2; }

alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop_pidfile() { # NAME PIDFILE [TIMEOUT_SECS]
  local name=$1 pidf=$2 timeout=${3:-20} pid i
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf" 2>/dev/null)
  if alive "$pid"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 5; i++)); do
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      log "$name did not stop in ${timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$pidf"
}

stop_pidfile "auth registry" "$DIR/registry-auth.pid" 10
stop_pidfile "open registry" "$DIR/registry-open.pid" 10
# dockerd removes its own pidfile on a clean exit; the launcher pid is the same process.
if [ -f "$DIR/dockerd.pid" ]; then
  stop_pidfile "private dockerd" "$DIR/dockerd.pid" 30
fi
stop_pidfile "private dockerd" "$DIR/dockerd.launcher.pid" 30
stop_pidfile "podman API service" "$DIR/podman.pid" 10
rm -f /run/gds-docker.sock "$DIR/engines.env"

if [ "$PURGE" = 1 ]; then
  # dockerd may leave overlay mounts behind if it was killed.
  grep -E " ($DIR|/var/lib/gds-docker|/run/gds-docker-exec)/" /proc/mounts | awk '{print $2}' | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$DIR" /var/lib/gds-docker /run/gds-docker-exec
  ip link del gds-docker0 2>/dev/null
  log "purged $DIR"
fi
log "stopped"
