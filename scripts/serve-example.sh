#!/usr/bin/env bash
# Runs the server on embedded defaults: SQLite state and data under ./data, and an example
# environment repository (a local bare remote plus checkout) whose services run on Podman with
# an image built locally from busybox-static. Prints the webhook secret and a curl to deploy.
# Run as root on a fresh Debian 12 machine (it installs Podman and friends where missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/ensure-node-deps.sh
bash scripts/build-busybox-image.sh localhost/busybox:example podman
exec node dist/cli/main.js serve
