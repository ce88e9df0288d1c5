#!/usr/bin/env bash
# Builds the server's container image from ./Containerfile.
#
# Usage: build-server-image.sh [podman|docker] [TAG]
#   podman   build with podman (default)
#   docker   build with podman, then load the image into the dockerd at $DOCKER_HOST
#            (podman save | docker load); without podman, `docker build` directly
#   TAG      default localhost/gitops-deploy-server:latest
#
# Environment:
#   BASE_IMAGE   base of both stages (default localhost/node-base:20, made by
#                scripts/build-node-base-image.sh when missing; on a machine that reaches
#                Docker Hub, docker.io/library/node:20-bookworm-slim needs no script at all)
#   NODE_EXTRA_CA_CERTS  a CA bundle for networks that intercept TLS: mounted into the build
#                so that npm inside it trusts the same CAs as this host (podman only)
#   GDS_BUILD_ARGS       extra arguments for the build command (e.g. --no-cache)
#
# Idempotent: a second build with no change is served from the layer cache (seconds) and gives
# the same image id; an image already loaded into the dockerd is not loaded again. Untagged
# earlier builds of this image are pruned.
set -euo pipefail

ENGINE=${1:-podman}
TAG=${2:-localhost/gitops-deploy-server:latest}
BASE_IMAGE=${BASE_IMAGE:-localhost/node-base:20}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

log() { echo "[build-server-image] $*" >&2; }
die() { echo "[build-server-image] ERROR: $*" >&2; exit 1; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

case $ENGINE in
  podman | docker) ;;
  *) die "unknown engine '$ENGINE' (podman or docker)" ;;
esac
[ -f "$ROOT/Containerfile" ] || die "no Containerfile in $ROOT"
BUILDER=podman
if ! command -v podman >/dev/null; then
  [ "$ENGINE" = docker ] || die "podman not found"
  command -v docker >/dev/null || die "neither podman nor docker found"
  BUILDER=docker
fi
[ "$ENGINE" = podman ] || command -v docker >/dev/null || die "docker not found"

image_exists() { # ENGINE IMAGE
  "$1" image inspect "$2" >/dev/null 2>&1
}

# ------------------------------------------------------------ base image
if ! image_exists "$BUILDER" "$BASE_IMAGE"; then
  case $BASE_IMAGE in
    localhost/node-base:*)
      log "base image $BASE_IMAGE missing in $BUILDER: building it"
      NODE_BASE_IMAGE=$BASE_IMAGE "$HERE/build-node-base-image.sh" "$BUILDER"
      ;;
    *) log "base image $BASE_IMAGE not present locally: $BUILDER will pull it" ;;
  esac
fi

# ------------------------------------------------------------ build
VERSION=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$ROOT/package.json" | head -n1)
REVISION=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The commit's time, not the clock's: an unchanged tree rebuilds to the same image id.
CREATED=$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n1)" ]; then REVISION=$REVISION-dirty; fi
ARGS=(
  -f "$ROOT/Containerfile" -t "$TAG"
  --build-arg "BASE_IMAGE=$BASE_IMAGE"
  --build-arg "VERSION=${VERSION:-unknown}"
  --build-arg "REVISION=$REVISION"
  --build-arg "CREATED=$CREATED"
)
# Without NODE_EXTRA_CA_CERTS, the host's own bundle: the build should trust what this host
# trusts (a TLS-intercepting proxy's CA included), whether or not the variable was exported.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  [ -f "$NODE_EXTRA_CA_CERTS" ] || die "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS is not a file"
  if [ "$BUILDER" = podman ]; then
    # A build-time mount and a build argument: neither is kept in the image.
    ARGS+=(-v "$NODE_EXTRA_CA_CERTS:/etc/gds-extra-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/etc/gds-extra-ca.crt)
  else
    log "WARNING: docker build cannot mount NODE_EXTRA_CA_CERTS into the build; npm may fail behind a TLS-intercepting proxy"
  fi
fi
# shellcheck disable=SC2206 # word splitting of GDS_BUILD_ARGS is intended
[ -n "${GDS_BUILD_ARGS:-}" ] && ARGS+=($GDS_BUILD_ARGS)

t=$(date +%s.%N)
log "building $TAG with $BUILDER from $BASE_IMAGE (version $VERSION, revision $REVISION)"
if [ "$BUILDER" = podman ]; then
  podman build "${ARGS[@]}" "$ROOT"
else
  docker build "${ARGS[@]}" "$ROOT"
fi
log "built $TAG with $BUILDER ($(elapsed "$t"))"
# The previous build of this image is now untagged: drop such leftovers (only untagged images
# carrying this image's title label and used by no container; the layer cache is kept).
"$BUILDER" image prune -f --filter label=org.opencontainers.image.title=gitops-deploy-server >/dev/null 2>&1 || true

# ------------------------------------------------------------ docker load
if [ "$ENGINE" = docker ] && [ "$BUILDER" = podman ]; then
  t=$(date +%s.%N)
  # docker load keeps podman's image id (the digest of the image config): equal ids, nothing to do.
  want=$(podman image inspect --format '{{.Id}}' "$TAG")
  have=$(docker image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
  if [ "${have#sha256:}" = "${want#sha256:}" ]; then
    log "$TAG already loaded into dockerd${DOCKER_HOST:+ at $DOCKER_HOST}"
  else
    log "loading $TAG into dockerd${DOCKER_HOST:+ at $DOCKER_HOST} (podman save | docker load)"
    podman save --format docker-archive "$TAG" | docker load >/dev/null
    docker image prune -f --filter label=org.opencontainers.image.title=gitops-deploy-server >/dev/null 2>&1 || true
    log "loaded into dockerd ($(elapsed "$t"))"
  fi
fi

size=$("$ENGINE" image inspect --format '{{.Size}}' "$TAG")
log "$TAG ready in $ENGINE: $(awk -v s="$size" 'BEGIN { printf "%.0f MB", s / 1000000 }') (total $(elapsed "$T0"))"
