#!/usr/bin/env bash
# Installs (only when missing) the system packages the end-to-end tests need on
# Debian 12, and writes the container engine configuration they rely on.
#
#   - podman + runc + podman-compose (1.0.3), docker.io (dockerd 20.10) +
#     docker-compose (1.29.2), python3-dotenv + python3-yaml (podman-compose 1.3), docker-registry (distribution 2.8),
#     busybox-static (test image), apache2-utils (htpasswd -B), git, iproute2,
#     curl, iptables, ca-certificates, CNI dnsname plugin (service-name DNS in
#     podman networks), catatonit (--init)
#   - /etc/containers/containers.conf: runc runtime + ulimits that fit this
#     machine (crun fails on cgroups hybrid mode; podman's default nofile is
#     above the hard limit here)
#   - /etc/containers/registries.conf.d/50-gds-test-registries.conf: marks the
#     local test registries 127.0.0.1:5055 / 127.0.0.1:5056 insecure (HTTP)
#
# Idempotent. As non-root it only checks: exits 0 when all is present, else
# prints what is missing and exits 1.
set -euo pipefail

PACKAGES=(
  podman runc podman-compose python3-dotenv python3-yaml
  docker.io docker-compose
  docker-registry
  busybox-static
  apache2-utils
  git iproute2 curl iptables ca-certificates
  chromium            # the dashboard's browser test (driven by playwright-core)
  debootstrap         # the local Debian base the server image is built on (no public registry here)
  uidmap slirp4netns fuse-overlayfs catatonit
  golang-github-containernetworking-plugin-dnsname
)
CONTAINERS_CONF=/etc/containers/containers.conf
REGISTRIES_DROPIN_DIR=/etc/containers/registries.conf.d
REGISTRIES_DROPIN=$REGISTRIES_DROPIN_DIR/50-gds-test-registries.conf
TEST_REGISTRIES=(127.0.0.1:5055 127.0.0.1:5056)

log() { echo "[install-system-deps] $*" >&2; }

is_installed() {
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done

containers_conf_ok() {
  [ -f "$CONTAINERS_CONF" ] &&
    grep -Eq '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$CONTAINERS_CONF" &&
    grep -q 'nofile=20000:20000' "$CONTAINERS_CONF" &&
    grep -Eq '^[[:space:]]*network_backend[[:space:]]*=[[:space:]]*"cni"' "$CONTAINERS_CONF"
}
registries_ok() {
  local r
  for r in "${TEST_REGISTRIES[@]}"; do
    grep -rqs "location = \"$r\"" /etc/containers/registries.conf "$REGISTRIES_DROPIN_DIR" || return 1
  done
}

if [ "$(id -u)" -ne 0 ]; then
  problems=()
  [ ${#missing[@]} -eq 0 ] || problems+=("packages: ${missing[*]}")
  containers_conf_ok || problems+=("$CONTAINERS_CONF (runc runtime, default_ulimits)")
  registries_ok || problems+=("insecure registries ${TEST_REGISTRIES[*]} in registries.conf(.d)")
  if [ ${#problems[@]} -gt 0 ]; then
    log "not root and missing:"
    printf '  - %s\n' "${problems[@]}" >&2
    log "run this script as root (sudo $0)"
    exit 1
  fi
  log "not root; everything already present"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/tmp/gds-apt-install.log 2>&1 || {
      tail -n 40 /tmp/gds-apt-install.log >&2
      log "apt-get install failed (full log: /tmp/gds-apt-install.log)"
      exit 1
    }
  # The Debian packages try to start docker/registry services; where there is
  # no systemd they just fail silently. Make sure no packaged daemon listens on
  # the ports/sockets we use (the start script runs private instances).
else
  log "all packages present"
fi

mkdir -p /etc/containers "$REGISTRIES_DROPIN_DIR"

if ! containers_conf_ok; then
  if [ -f "$CONTAINERS_CONF" ]; then
    cp -a "$CONTAINERS_CONF" "$CONTAINERS_CONF.gds-backup.$(date +%s)"
    log "replacing $CONTAINERS_CONF (backup kept next to it)"
  fi
  cat >"$CONTAINERS_CONF" <<'EOF'
# Written by gitops-deploy-server scripts/install-system-deps.sh
# crun fails on this machine kind ("cgroups in hybrid mode not supported"): use runc.
# Podman's default ulimits are above the hard limits here (nofile 20000).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[network]
# Debian 12's podman uses CNI unless netavark is installed; pin it so that the
# backend does not flip when someone installs netavark. Service-name DNS inside
# compose networks comes from the CNI dnsname plugin.
network_backend = "cni"

[engine]
runtime = "runc"
EOF
  log "wrote $CONTAINERS_CONF"
fi

# registries.conf: Debian ships a v2-format file (only comments plus at most
# top-level keys). Rather than appending to it (a v1-format file with
# [registries.insecure] cannot be mixed with [[registry]] tables), use a
# drop-in, which podman/buildah/skopeo read after the main file.
if grep -Eqs '^[[:space:]]*\[registries\.' /etc/containers/registries.conf; then
  log "WARNING: /etc/containers/registries.conf uses the v1 format; drop-ins are ignored/invalid with it"
fi
if ! registries_ok; then
  {
    echo "# Written by gitops-deploy-server scripts/install-system-deps.sh"
    echo "# Local plain-HTTP registries used by the end-to-end tests."
    for r in "${TEST_REGISTRIES[@]}"; do
      printf '\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$r"
    done
  } >"$REGISTRIES_DROPIN"
  log "wrote $REGISTRIES_DROPIN"
fi

# Sanity: podman must be able to parse the configuration.
if ! podman info --format '{{.Host.OCIRuntime.Name}}' >/tmp/gds-podman-info.log 2>&1; then
  cat /tmp/gds-podman-info.log >&2
  log "podman info failed with the written configuration"
  exit 1
fi
log "podman runtime: $(cat /tmp/gds-podman-info.log)"

# The current compose tools from Debian's next release (trixie), side by side: extracted
# under /opt/gds-tools, nothing installed or replaced system-wide (docker-compose 1.29 and
# podman-compose 1.0.3 stay the ones on PATH). The e2e suites choose a generation by pointing
# the server's tool settings at these paths (test/e2e/harness.ts, toolGeneration).
#   /opt/gds-tools/compose-v2/.../cli-plugins/docker-compose  Compose v2 (plugin and standalone)
#   /opt/gds-tools/podman-compose-1.3/bin/podman-compose      podman-compose 1.3.0 (a wrapper)
COMPOSE_V2_DIR=/opt/gds-tools/compose-v2
COMPOSE_V2_BIN=$COMPOSE_V2_DIR/usr/libexec/docker/cli-plugins/docker-compose
PODMAN_COMPOSE_13_DIR=/opt/gds-tools/podman-compose-1.3
PODMAN_COMPOSE_13_BIN=$PODMAN_COMPOSE_13_DIR/bin/podman-compose
TRIXIE=/var/cache/gds-trixie

# Downloads trixie's PACKAGE (.deb) into $TRIXIE/debs with a private sources list (the system's
# apt sources and lists are not touched), unless it is there; prints the .deb's path.
trixie_deb() { # PACKAGE VERSION-PREFIX
  mkdir -p "$TRIXIE/lists/partial" "$TRIXIE/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$TRIXIE/sources.list"
  local apt_trixie=(-o "Dir::Etc::sourcelist=$TRIXIE/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$TRIXIE/lists" -o APT::Get::List-Cleanup=0)
  if ! ls "$TRIXIE"/debs/"$1"_"$2"*.deb >/dev/null 2>&1; then
    apt-get "${apt_trixie[@]}" update -qq >>/tmp/gds-trixie.log 2>&1 &&
      (cd "$TRIXIE/debs" && apt-get "${apt_trixie[@]}" download "$1" >>/tmp/gds-trixie.log 2>&1) || {
        tail -n 20 /tmp/gds-trixie.log >&2
        log "downloading $1 from trixie failed (log: /tmp/gds-trixie.log)"
        exit 1
      }
  fi
  ls "$TRIXIE"/debs/"$1"_"$2"*.deb | tail -n 1
}

if [ ! -x "$COMPOSE_V2_BIN" ]; then
  deb=$(trixie_deb docker-compose 2)
  rm -rf "$COMPOSE_V2_DIR" && mkdir -p "$COMPOSE_V2_DIR"
  dpkg -x "$deb" "$COMPOSE_V2_DIR"
  log "Compose v2: $("$COMPOSE_V2_BIN" version 2>/dev/null) at $COMPOSE_V2_BIN"
fi

# podman-compose 1.3.0 is pure Python; it needs python-dotenv and PyYAML, which bookworm's
# python3-dotenv / python3-yaml provide (in PACKAGES above).
if [ ! -x "$PODMAN_COMPOSE_13_BIN" ]; then
  deb=$(trixie_deb podman-compose 1.3)
  rm -rf "$PODMAN_COMPOSE_13_DIR" && mkdir -p "$PODMAN_COMPOSE_13_DIR/bin"
  dpkg -x "$deb" "$PODMAN_COMPOSE_13_DIR"
  # The extracted module first on the path: `import podman_compose` then finds 1.3.0, not the
  # system's 1.0.3 in /usr/lib/python3/dist-packages.
  printf '%s\n' '#!/bin/sh' \
    '# podman-compose 1.3.0 from Debian trixie, side by side (scripts/install-system-deps.sh).' \
    "PYTHONPATH=$PODMAN_COMPOSE_13_DIR/usr/lib/python3/dist-packages\${PYTHONPATH:+:\$PYTHONPATH} exec python3 -m podman_compose \"\$@\"" \
    >"$PODMAN_COMPOSE_13_BIN"
  chmod 755 "$PODMAN_COMPOSE_13_BIN"
  if ! out=$("$PODMAN_COMPOSE_13_BIN" version 2>&1); then
    echo "$out" >&2
    log "podman-compose 1.3 does not run from $PODMAN_COMPOSE_13_BIN"
    exit 1
  fi
  log "podman-compose 1.3: $(echo "$out" | grep -i 'podman-compose version') at $PODMAN_COMPOSE_13_BIN"
fi
log "done"
