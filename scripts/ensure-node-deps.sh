#!/usr/bin/env bash
# Installs the Node packages from the lock file unless node_modules already matches it,
# and builds dist/. Needs Node.js 20 or newer (the machine's own).
set -euo pipefail
cd "$(dirname "$0")/.."
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "[ensure-node-deps] Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
# npm ci rebuilds better-sqlite3 from source (about a minute): skip it when nothing changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
