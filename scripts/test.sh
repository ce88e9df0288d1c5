#!/usr/bin/env bash
# Runs every test: unit, integration (real git, real SQLite) and end-to-end (real Podman,
# podman-compose, dockerd, docker-compose, registries). Installs and starts what it needs
# first; run it as root on Debian 12 (packages and engines need it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/ensure-node-deps.sh
npm run --silent typecheck   # tests too: tsx runs them without checking types
bash scripts/start-test-engines.sh >/dev/null
shopt -s nullglob globstar
files=(src/**/*.test.ts test/**/*.test.ts)
mkdir -p test-artifacts
# One runner invocation, so its closing summary counts every test.
exec node --import tsx --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination=test-artifacts/junit.xml "${files[@]}"
