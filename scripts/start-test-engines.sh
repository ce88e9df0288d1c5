#!/usr/bin/env bash
# Starts (only what is not already answering) the real backends used by the
# end-to-end tests, waits until each is ready, and writes
# $GDS_ENGINES_DIR/engines.env (shell `export` lines) for the tests.
#
#   Podman API service   unix:///run/podman/podman.sock   (podman system service --time=0)
#   private dockerd      unix:///run/gds-docker.sock      (own data/exec root, pidfile, bridge)
#   open registry        127.0.0.1:5055                   (docker-registry serve)
#   auth registry        127.0.0.1:5056  user gds / gds-secret-pw (htpasswd, bcrypt)
#   test image           localhost/busybox:test in podman storage and in the private dockerd
#   Swarm                the private dockerd is a single-node Swarm manager (docker swarm init)
#
# Needs root and scripts/install-system-deps.sh run first. Idempotent; every
# wait is bounded. Stop everything with scripts/stop-test-engines.sh.
set -euo pipefail

DIR=${GDS_ENGINES_DIR:-/tmp/gds-engines}
WAIT_SECS=${GDS_ENGINES_WAIT_SECS:-60}

PODMAN_SOCK=/run/podman/podman.sock
DOCKER_SOCK=/run/gds-docker.sock
DOCKER_BRIDGE=gds-docker0
DOCKER_BRIDGE_CIDR=172.31.250.1/24
# Networks that docker-compose creates on the private dockerd come from here
# (kept away from a system dockerd's 172.17-172.28 defaults and podman's 10.88/10.89).
DOCKER_ADDR_POOL=base=172.30.0.0/16,size=24

REGISTRY_OPEN=127.0.0.1:5055
REGISTRY_AUTH=127.0.0.1:5056
REGISTRY_AUTH_USER=gds
REGISTRY_AUTH_PASSWORD=gds-secret-pw
BUSYBOX_IMAGE=localhost/busybox:test

log() { echo "[start-test-engines] $*" >&2; }
die() { echo "[start-test-engines] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
for c in podman dockerd docker docker-registry busybox htpasswd curl ip setsid; do
  command -v "$c" >/dev/null || die "'$c' not found: run scripts/install-system-deps.sh first"
done

mkdir -p "$DIR"
chmod 755 "$DIR"

# wait_for DESCRIPTION LOGFILE PID CHECK-COMMAND...
# Polls CHECK-COMMAND every 0.2 s for at most $WAIT_SECS; fails early if PID dies.
wait_for() {
  local what=$1 logf=$2 pid=$3; shift 3
  local deadline=$((SECONDS + WAIT_SECS))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! alive "$pid"; then
      tail -n 30 "$logf" >&2 || true
      die "$what exited during start-up; see $logf"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$logf" >&2 || true
      die "$what not ready after ${WAIT_SECS}s; see $logf"
    fi
    sleep 0.2
  done
}

# start_bg NAME LOGFILE PIDFILE CMD... : detached (own session), no inherited fds.
start_bg() {
  local name=$1 logf=$2 pidf=$3; shift 3
  log "starting $name (log: $logf)"
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  echo $! >"$pidf"
  STARTED_PID=$!
}

# alive PID: running and not a zombie (a killed daemon may linger as one for a while).
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

ping_unix() { [ "$(curl -sf --max-time 2 --unix-socket "$1" http://d/_ping)" = "OK" ]; }

# ---------------------------------------------------------------- podman API
podman_ready() { ping_unix "$PODMAN_SOCK"; }
if podman_ready; then
  log "podman API already answering on $PODMAN_SOCK"
else
  mkdir -p "$(dirname "$PODMAN_SOCK")"
  rm -f "$PODMAN_SOCK"
  start_bg "podman system service" "$DIR/podman.log" "$DIR/podman.pid" \
    podman system service --time=0 "unix://$PODMAN_SOCK"
  PODMAN_PID=$STARTED_PID
fi

# ---------------------------------------------------------- private dockerd
docker_ready() { ping_unix "$DOCKER_SOCK"; }
if docker_ready; then
  log "private dockerd already answering on $DOCKER_SOCK"
else
  # Data root: under $DIR unless /tmp-side disk is small (< 4 GiB free).
  DOCKER_DATA_ROOT=${GDS_DOCKER_DATA_ROOT:-}
  if [ -z "$DOCKER_DATA_ROOT" ]; then
    avail_kb=$(df -Pk "$DIR" | awk 'NR==2 {print $4}')
    if [ "${avail_kb:-0}" -lt $((4 * 1024 * 1024)) ]; then
      DOCKER_DATA_ROOT=/var/lib/gds-docker
    else
      DOCKER_DATA_ROOT=$DIR/docker-data
    fi
  fi
  # exec-root holds containerd's unix sockets: keep the path short.
  DOCKER_EXEC_ROOT=/run/gds-docker-exec
  mkdir -p "$DOCKER_DATA_ROOT" "$DOCKER_EXEC_ROOT"
  # A stale pidfile from a killed daemon makes dockerd refuse to start.
  if [ -f "$DIR/dockerd.pid" ] && ! alive "$(cat "$DIR/dockerd.pid")"; then
    rm -f "$DIR/dockerd.pid"
  fi
  rm -f "$DOCKER_SOCK"
  # Own bridge so that we never touch docker0 of a system dockerd.
  if ! ip link show "$DOCKER_BRIDGE" >/dev/null 2>&1; then
    ip link add "$DOCKER_BRIDGE" type bridge
    ip addr add "$DOCKER_BRIDGE_CIDR" dev "$DOCKER_BRIDGE"
  fi
  ip link set "$DOCKER_BRIDGE" up
  DOCKERD_ARGS=(
    --host "unix://$DOCKER_SOCK"
    --data-root "$DOCKER_DATA_ROOT"
    --exec-root "$DOCKER_EXEC_ROOT"
    --pidfile "$DIR/dockerd.pid"
    --bridge "$DOCKER_BRIDGE"
    --default-address-pool "$DOCKER_ADDR_POOL"
    --insecure-registry "$REGISTRY_OPEN"
    --insecure-registry "$REGISTRY_AUTH"
    --storage-driver overlay2
    --log-level warn
  )
  # iptables (nft backend here) works on this machine kind; fall back to
  # --iptables=false (published ports still work on loopback through
  # docker-proxy) where the kernel has no netfilter NAT.
  if ! iptables -t nat -L -n >/dev/null 2>&1; then
    log "iptables NAT unusable: starting dockerd with --iptables=false"
    DOCKERD_ARGS+=(--iptables=false --ip-masq=false)
  fi
  # dockerd writes its own pidfile; keep the launcher pid separately.
  start_bg "private dockerd" "$DIR/dockerd.log" "$DIR/dockerd.launcher.pid" \
    dockerd "${DOCKERD_ARGS[@]}"
  DOCKERD_PID=$STARTED_PID
fi

# ---------------------------------------------------------------- registries
mkdir -p "$DIR/registry-open" "$DIR/registry-auth"
htpasswd_file=$DIR/registry-auth.htpasswd
if ! htpasswd -vb "$htpasswd_file" "$REGISTRY_AUTH_USER" "$REGISTRY_AUTH_PASSWORD" >/dev/null 2>&1; then
  htpasswd -Bbc "$htpasswd_file" "$REGISTRY_AUTH_USER" "$REGISTRY_AUTH_PASSWORD" >/dev/null 2>&1
fi

write_registry_config() { # FILE ADDR STORAGE [HTPASSWD]
  {
    echo "version: 0.1"
    echo "log:"
    echo "  level: info"
    echo "  accesslog:"
    echo "    disabled: true"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $3"
    echo "  delete:"
    echo "    enabled: true"
    echo "  maintenance:"
    echo "    uploadpurging:"
    echo "      enabled: false"
    echo "http:"
    echo "  addr: $2"
    echo "  secret: gds-test-registry-secret"
    if [ -n "${4:-}" ]; then
      echo "auth:"
      echo "  htpasswd:"
      echo "    realm: gds-test-registry"
      echo "    path: $4"
    fi
  } >"$1"
}

registry_open_ready() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$REGISTRY_OPEN/v2/")" = 200 ]
}
registry_auth_ready() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$REGISTRY_AUTH/v2/")" = 401 ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
      -u "$REGISTRY_AUTH_USER:$REGISTRY_AUTH_PASSWORD" "http://$REGISTRY_AUTH/v2/")" = 200 ]
}

if registry_open_ready; then
  log "open registry already answering on $REGISTRY_OPEN"
else
  write_registry_config "$DIR/registry-open.yml" "$REGISTRY_OPEN" "$DIR/registry-open"
  start_bg "open registry" "$DIR/registry-open.log" "$DIR/registry-open.pid" \
    docker-registry serve "$DIR/registry-open.yml"
  REG_OPEN_PID=$STARTED_PID
fi
if registry_auth_ready; then
  log "auth registry already answering on $REGISTRY_AUTH"
else
  write_registry_config "$DIR/registry-auth.yml" "$REGISTRY_AUTH" "$DIR/registry-auth" "$htpasswd_file"
  start_bg "auth registry" "$DIR/registry-auth.log" "$DIR/registry-auth.pid" \
    docker-registry serve "$DIR/registry-auth.yml"
  REG_AUTH_PID=$STARTED_PID
fi

# Credentials for the auth registry, for both engines' clients:
#   DOCKER_CONFIG=$DIR/docker-config (docker CLI, docker-compose)
#   REGISTRY_AUTH_FILE=$DIR/docker-config/config.json (podman, podman-compose)
mkdir -p "$DIR/docker-config"
auth_b64=$(printf '%s:%s' "$REGISTRY_AUTH_USER" "$REGISTRY_AUTH_PASSWORD" | base64 -w0)
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REGISTRY_AUTH" "$auth_b64" >"$DIR/docker-config/config.json"
chmod 600 "$DIR/docker-config/config.json"

# -------------------------------------------------------------------- waits
[ -n "${PODMAN_PID:-}" ] && wait_for "podman API service" "$DIR/podman.log" "$PODMAN_PID" podman_ready
[ -n "${DOCKERD_PID:-}" ] && wait_for "private dockerd" "$DIR/dockerd.log" "$DOCKERD_PID" docker_ready
[ -n "${REG_OPEN_PID:-}" ] && wait_for "open registry" "$DIR/registry-open.log" "$REG_OPEN_PID" registry_open_ready
[ -n "${REG_AUTH_PID:-}" ] && wait_for "auth registry" "$DIR/registry-auth.log" "$REG_AUTH_PID" registry_auth_ready
log "engines answering"

# ------------------------------------------------- single-node Swarm manager
# The private dockerd is also a one-node Swarm manager, for the Swarm stack runtime's suite
# (test/e2e/swarm.test.ts). Compose projects on it are unaffected: Swarm adds overlay networks
# (from their own pool, apart from the bridge pool above and Podman's 10.88/10.89) and nothing else.
SWARM_ADDR_POOL=172.29.0.0/16
swarm_state() { DOCKER_HOST=unix://$DOCKER_SOCK docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
if [ "$(swarm_state)" = active ]; then
  log "private dockerd is already a Swarm manager"
else
  log "making the private dockerd a single-node Swarm manager"
  DOCKER_HOST=unix://$DOCKER_SOCK docker swarm init --advertise-addr 127.0.0.1 \
    --default-addr-pool "$SWARM_ADDR_POOL" --default-addr-pool-mask-length 24 >/dev/null
  wait_for "Swarm manager" "$DIR/dockerd.log" "" sh -c "[ \"\$(DOCKER_HOST=unix://$DOCKER_SOCK docker info --format '{{.Swarm.ControlAvailable}}')\" = true ]"
fi

# ---------------------------------------------------------- busybox image
GDS_IMAGE_WORK_DIR=$DIR/busybox-image "$(dirname "$0")/build-busybox-image.sh" "$BUSYBOX_IMAGE" podman
GDS_IMAGE_WORK_DIR=$DIR/busybox-image DOCKER_HOST=unix://$DOCKER_SOCK "$(dirname "$0")/build-busybox-image.sh" "$BUSYBOX_IMAGE" docker

# ---------------------------------------------------------------- env file
cat >"$DIR/engines.env.tmp" <<EOF
# Written by scripts/start-test-engines.sh; source it: . $DIR/engines.env
export GDS_ENGINES_DIR=$DIR
export PODMAN_SOCKET=$PODMAN_SOCK
export PODMAN_HOST=unix://$PODMAN_SOCK
export DOCKER_TEST_SOCKET=$DOCKER_SOCK
export DOCKER_TEST_HOST=unix://$DOCKER_SOCK
export REGISTRY_OPEN=$REGISTRY_OPEN
export REGISTRY_AUTH=$REGISTRY_AUTH
export REGISTRY_AUTH_USER=$REGISTRY_AUTH_USER
export REGISTRY_AUTH_PASSWORD=$REGISTRY_AUTH_PASSWORD
export REGISTRY_AUTH_DOCKER_CONFIG=$DIR/docker-config
export REGISTRY_AUTH_AUTHFILE=$DIR/docker-config/config.json
export BUSYBOX_IMAGE=$BUSYBOX_IMAGE
EOF
mv "$DIR/engines.env.tmp" "$DIR/engines.env"
log "ready; env file: $DIR/engines.env"
cat "$DIR/engines.env"
