#!/usr/bin/env bash
# Makes a local Node.js 20 base image, localhost/node-base:20, without any public container
# registry: a Debian 12 (bookworm) minbase root file system from debootstrap plus this host's
# own Node 20 (binary, npm/corepack, headers), imported into podman and/or a dockerd.
#
# Usage: build-node-base-image.sh [podman|docker]...     (default: podman; DOCKER_HOST picks the dockerd)
#
# It stands in for docker.io/library/node:20-bookworm-slim (the Containerfile's default base):
# same Debian release, node/npm under /usr/local, headers under /usr/local/include/node (so
# native addons build without downloading headers), slim-style dpkg excludes.
#
# Needs root (debootstrap), Debian's mirror, and Node 20 on this host. The finished root file
# system is cached as a tarball under $GDS_CACHE_DIR (default /var/cache/gitops-deploy-server),
# keyed by the host's Node version, so a second run only imports it (seconds). An engine that
# already has the image (with the same Node version label) is skipped.
#
# Environment:
#   NODE_BASE_IMAGE     image name (default localhost/node-base:20)
#   GDS_CACHE_DIR       cache directory (default /var/cache/gitops-deploy-server)
#   GDS_DEBIAN_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   GDS_REBUILD_BASE=1  ignore the cached tarball and the existing image
set -euo pipefail

IMAGE=${NODE_BASE_IMAGE:-localhost/node-base:20}
CACHE_DIR=${GDS_CACHE_DIR:-/var/cache/gitops-deploy-server}
MIRROR=${GDS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
REBUILD=${GDS_REBUILD_BASE:-0}
ENGINES=("$@")
[ ${#ENGINES[@]} -gt 0 ] || ENGINES=(podman)

log() { echo "[build-node-base-image] $*" >&2; }
die() { echo "[build-node-base-image] ERROR: $*" >&2; exit 1; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

for engine in "${ENGINES[@]}"; do
  case $engine in
    podman | docker) command -v "$engine" >/dev/null || die "'$engine' not found" ;;
    *) die "unknown engine '$engine' (podman or docker)" ;;
  esac
done

# ------------------------------------------------------------ host Node.js 20
NODE_BIN=$(readlink -f "$(command -v node)") || die "node not found on this host"
NODE_VERSION=$("$NODE_BIN" -p 'process.versions.node')
[ "${NODE_VERSION%%.*}" = 20 ] || die "this host's node is $NODE_VERSION; Node 20 is needed"
NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")") # /usr for Debian/NodeSource packages
NODE_MODULES=$NODE_PREFIX/lib/node_modules
NODE_HEADERS=$NODE_PREFIX/include/node
[ -f "$NODE_MODULES/npm/bin/npm-cli.js" ] || die "npm not found under $NODE_MODULES"
[ -f "$NODE_HEADERS/node_api.h" ] || log "WARNING: no Node headers at $NODE_HEADERS; native addons would download them"
TARBALL=$CACHE_DIR/node-base-$SUITE-node$NODE_VERSION.tar

image_version() { # ENGINE -> the node version label of $IMAGE, or nothing
  case $1 in
    podman) podman image inspect --format '{{index .Labels "gds.node-base.node-version"}}' "$IMAGE" 2>/dev/null || true ;;
    docker) docker image inspect --format '{{index .Config.Labels "gds.node-base.node-version"}}' "$IMAGE" 2>/dev/null || true ;;
  esac
}

todo=()
for engine in "${ENGINES[@]}"; do
  if [ "$REBUILD" != 1 ] && [ "$(image_version "$engine")" = "$NODE_VERSION" ]; then
    log "$IMAGE (node $NODE_VERSION) already present in $engine"
  else
    todo+=("$engine")
  fi
done
[ ${#todo[@]} -gt 0 ] || { log "nothing to do ($(elapsed "$T0"))"; exit 0; }

# ------------------------------------------------------------ root file system
build_tarball() {
  [ "$(id -u)" -eq 0 ] || die "building the root file system needs root (debootstrap)"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
      die "apt-get install debootstrap failed"
  fi
  mkdir -p "$CACHE_DIR"
  local work rootfs t
  work=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  rootfs=$work/rootfs
  # debootstrap mounts proc/sys inside the root file system; never leave them mounted.
  trap 'for m in proc sys dev/pts; do umount -l "'"$rootfs"'/$m" 2>/dev/null || true; done; rm -rf "'"$work"'"' EXIT

  t=$(date +%s.%N)
  log "debootstrap --variant=minbase $SUITE from $MIRROR (about 30-60 s)"
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  fi
  log "debootstrap done ($(elapsed "$t"))"
  for m in proc sys dev/pts; do umount -l "$rootfs/$m" 2>/dev/null || true; done

  # Like the official Debian images: the full apt sources (with security updates), and
  # dpkg/apt settings that keep layers small (no docs, man pages, locales, package caches).
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# Written by gitops-deploy-server scripts/build-node-base-image.sh (as in Debian's slim images)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/tmp/* "$rootfs"/root/.bash_history
  find "$rootfs/var/log" -type f -delete
  # The engine provides these at run time.
  rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
  : >"$rootfs/etc/hostname"

  # This host's Node 20, laid out as in the official node image.
  t=$(date +%s.%N)
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib" "$rootfs/usr/local/include"
  cp "$NODE_BIN" "$rootfs/usr/local/bin/node"
  cp -a "$NODE_MODULES" "$rootfs/usr/local/lib/node_modules"
  [ -d "$NODE_HEADERS" ] && cp -a "$NODE_HEADERS" "$rootfs/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  if [ -f "$rootfs/usr/local/lib/node_modules/corepack/dist/corepack.js" ]; then
    ln -s ../lib/node_modules/corepack/dist/corepack.js "$rootfs/usr/local/bin/corepack"
  fi
  local got
  got=$(env -u NODE_EXTRA_CA_CERTS chroot "$rootfs" /usr/local/bin/node -p 'process.versions.node') || die "node does not run in the new root file system (missing libraries?)"
  [ "$got" = "$NODE_VERSION" ] || die "node in the root file system reports $got"
  env -u NODE_EXTRA_CA_CERTS chroot "$rootfs" /usr/local/bin/node /usr/local/bin/npm --version >/dev/null || die "npm does not run in the new root file system"
  log "node $NODE_VERSION copied in ($(elapsed "$t"))"

  t=$(date +%s.%N)
  tar --sort=name --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$rootfs" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  log "cached $TARBALL ($(du -h "$TARBALL" | cut -f1), $(elapsed "$t"))"
  rm -rf "$work"
  trap - EXIT
}

if [ "$REBUILD" = 1 ] || [ ! -s "$TARBALL" ]; then
  build_tarball
else
  log "using cached $TARBALL"
fi

# ------------------------------------------------------------ import
CHANGES=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$NODE_VERSION"
  --change 'CMD ["node"]'
  --change "LABEL gds.node-base.node-version=$NODE_VERSION"
  --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase with Node.js $NODE_VERSION, a local stand-in for node:20-bookworm-slim\""
)
for engine in "${todo[@]}"; do
  t=$(date +%s.%N)
  log "importing $IMAGE into $engine${DOCKER_HOST:+ (DOCKER_HOST=$DOCKER_HOST)}"
  quiet=()
  [ "$engine" = podman ] && quiet=(--quiet)
  "$engine" import "${quiet[@]}" "${CHANGES[@]}" "$TARBALL" "$IMAGE" >/dev/null
  log "imported into $engine ($(elapsed "$t"))"
done
log "$IMAGE (node $NODE_VERSION) ready in: ${ENGINES[*]} (total $(elapsed "$T0"))"
