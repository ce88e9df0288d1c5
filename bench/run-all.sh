#!/usr/bin/env bash
# Runs every benchmark and prints a compact summary. Figures only: nothing here fails on time.
# A benchmark that errors (e.g. a no-op run that deploys, a run that does not redeploy all
# services) is reported and makes this script exit non-zero.
#
#   bash bench/run-all.sh                    # plan, accept, api, flood, dashboard, parallel and gate (podman, then docker)
#   BENCH_ENGINES=podman bash bench/run-all.sh
#
# The parallel and gate benchmarks need the real engines; when they are not answering and this runs as
# root, scripts/start-test-engines.sh is run first (it needs scripts/install-system-deps.sh).
set -uo pipefail
cd "$(dirname "$0")/.."

ENGINES_ENV=${GDS_ENGINES_DIR:-/tmp/gds-engines}/engines.env
ENGINES=${BENCH_ENGINES:-podman docker}
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gds-bench.XXXXXX")

engines_up() {
  [ -f "$ENGINES_ENV" ] || return 1
  # shellcheck disable=SC1090
  . "$ENGINES_ENV"
  curl -fsS --max-time 5 --unix-socket "$PODMAN_SOCKET" http://d/_ping >/dev/null 2>&1 || return 1
  curl -fsS --max-time 5 --unix-socket "$DOCKER_TEST_SOCKET" http://d/_ping >/dev/null 2>&1 || return 1
}

if ! engines_up; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "[bench] engines not answering: starting them (scripts/start-test-engines.sh)"
    bash scripts/start-test-engines.sh >"$LOG_DIR/engines.log" 2>&1 || echo "[bench] starting the engines failed, see $LOG_DIR/engines.log"
  else
    echo "[bench] engines not answering and not root: the parallel benchmark will skip or fail"
  fi
fi

failed=()
logs=()
run() {
  local name=$1
  shift
  logs+=("$LOG_DIR/$name.log")
  echo "[bench] $name: $*"
  local start=$SECONDS
  if ! "$@" 2>&1 | tee "$LOG_DIR/$name.log"; then failed+=("$name"); fi
  echo "[bench] $name took $((SECONDS - start)) s"
}

run plan node --import tsx bench/plan.ts
run accept node --import tsx bench/accept.ts
run api node --import tsx bench/api.ts
run flood node --import tsx bench/flood.ts
run dashboard node --import tsx bench/dashboard.ts
run auth-flood node --expose-gc --import tsx bench/auth-flood.ts
for engine in $ENGINES; do
  run "parallel-$engine" node --import tsx bench/parallel.ts "$engine"
  run "gate-$engine" node --import tsx bench/gate.ts "$engine"
done

echo
echo "=== summary ($(nproc) cores, node $(node --version), $(date -u +%FT%TZ)) ==="
cat "${logs[@]}" | grep -E '^(plan no-op|pipeline no-op|accept (sequential|concurrent)|api |flood |dashboard |parallel |gate )' || true
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (logs in $LOG_DIR)"
  exit 1
fi
rm -rf "$LOG_DIR"
