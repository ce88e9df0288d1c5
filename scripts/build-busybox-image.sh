#!/usr/bin/env bash
# Builds a small image from Debian's busybox-static (no registry needed) and imports it.
# Usage: build-busybox-image.sh IMAGE [podman|docker]...   (DOCKER_HOST picks the dockerd)
# Re-imports only when the rootfs changed (a label carries the tarball's digest).
set -euo pipefail
IMAGE=${1:?usage: build-busybox-image.sh IMAGE [podman|docker]...}
shift
ENGINES=("$@")
[ ${#ENGINES[@]} -gt 0 ] || ENGINES=(podman)
WORK=${GDS_IMAGE_WORK_DIR:-/tmp/gds-busybox-image}
log() { echo "[build-busybox-image] $*" >&2; }
die() { echo "[build-busybox-image] ERROR: $*" >&2; exit 1; }

build_tar() {
  local rootfs=$WORK/rootfs tarball=$WORK/busybox-image.tar bb
  bb=$(command -v busybox) || die "busybox is not installed (apt-get install busybox-static)"
  # busybox-static installs a static /bin/busybox; a dynamic one would not run in the image.
  if ldd "$bb" >/dev/null 2>&1; then die "$bb is dynamically linked; install busybox-static"; fi
  mkdir -p "$WORK"
  if [ -f "$tarball" ] && [ "$tarball" -nt "$bb" ] && [ "$tarball" -nt "$0" ]; then echo "$tarball"; return; fi
  rm -rf "$rootfs"
  mkdir -p "$rootfs"/{bin,sbin,etc,tmp,proc,sys,dev,root,var/www,usr/bin,usr/sbin}
  chmod 1777 "$rootfs/tmp"
  cp "$bb" "$rootfs/bin/busybox"
  local applet
  for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  # Debian's busybox-static has no printenv applet: a small sh equivalent.
  cat >"$rootfs/bin/printenv" <<'PRINTENV'
#!/bin/sh
# printenv [NAME...]: like coreutils printenv (exit 1 if a NAME is unset)
[ $# -eq 0 ] && exec env
rc=0
for n in "$@"; do
  if eval "[ -n \"\${$n+set}\" ]" 2>/dev/null; then eval "printf '%s\\n' \"\$$n\""; else rc=1; fi
done
exit $rc
PRINTENV
  chmod 755 "$rootfs/bin/printenv"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  echo '<html><body>busybox image built by gitops-deploy-server</body></html>' >"$rootfs/var/www/index.html"
  # A deterministic tar, so the same busybox gives the same digest and no needless re-import.
  tar --sort=name --mtime='2020-01-01 00:00:00' --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  echo "$tarball"
}

tarball=$(build_tar)
rev=$(sha256sum "$tarball" | cut -c1-16)
changes=(--change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' --change 'CMD ["sh"]' --change 'WORKDIR /' --change "LABEL gds.busybox.rev=$rev")
for engine in "${ENGINES[@]}"; do
  case $engine in
    podman) current=$(podman image inspect --format '{{index .Labels "gds.busybox.rev"}}' "$IMAGE" 2>/dev/null || true) ;;
    docker) current=$(docker image inspect --format '{{index .Config.Labels "gds.busybox.rev"}}' "$IMAGE" 2>/dev/null || true) ;;
    *) die "unknown engine $engine (podman or docker)" ;;
  esac
  if [ "$current" != "$rev" ]; then
    log "importing $IMAGE into $engine"
    "$engine" import "${changes[@]}" "$tarball" "$IMAGE" >/dev/null
  fi
done
log "$IMAGE (rev $rev) present in: ${ENGINES[*]}"
