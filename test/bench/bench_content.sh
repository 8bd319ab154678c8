#!/usr/bin/env bash
# Benchmark: the content pipeline (issue 14).
#   test/bench/bench_content.sh
# Starts its own PostgreSQL, Redis and nextcrm (release build, role all)
# and runs test/bench/content_load.py against it:
#   1. end to end to `safe`: BENCH_FILES (24) uploads of a 2 MP JPEG, then of
#      a 10-page text PDF and of a 10-page PDF of page images (a scan; made
#      by the sanitizer's rasterizer), BENCH_CLIENTS (2) at a time (the node processes
#      NEXTCRM_CONTENT_JOBS = 2 at once on this machine), the time from the
#      first upload to the last item safe (its event read from the stream,
#      as a client of the bus would); beside it, in alternating rounds,
#      the same files converted by the bare tools run directly (`vips
#      jpegsave ... strip` and `qpdf`), the same number at once. Prints
#      uploads/s, MB/s and the pipeline's overhead over the bare tools
#      (target <= 30%), and the machine's CPU time per file (every process:
#      server, PostgreSQL, Redis, clamd, sandboxes, the client), medians of
#      BENCH_ROUNDS (3).
#   2. memory: BENCH_BIG (20) concurrent uploads of 50 MB each, streamed;
#      nextcrm's resident memory sampled every 20 ms (peak over the idle
#      baseline; target: flat, not ~1 GB).
# Knobs: BENCH_ROUNDS, BENCH_FILES, BENCH_CLIENTS, BENCH_BIG,
# NEXTCRM_SKIP_BUILD=1, NEXTCRM_KEEP_RUN=1.
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

RUN_DIR=""
cleanup() {
  local rc=$?
  set +e
  stop_nextcrm_stack "$rc"
}

main() {
  trap cleanup EXIT
  bench_prepare
  export NEXTCRM_CONTENT_JOBS="${NEXTCRM_CONTENT_JOBS:-2}"
  export NEXTCRM_CONTENT_MAX_UPLOAD_BYTES=$((64 * 1024 * 1024))
  start_nextcrm_stack
  create_tenant bench-content admin@bench-content.test
  BENCH_PORT="$HTTP_PORT" BENCH_TOKEN="$TOKEN" BENCH_PID="$(cat "${RUN_DIR}/nextcrm.pid")" \
    BENCH_REDIS="127.0.0.1:${REDIS_PORT}" BENCH_STREAM="${NEXTCRM_BUS_STREAM:-nxp:events}" \
    BENCH_BUILD="$NEXTCRM_BUILD_DIR" \
    BENCH_DIR="${RUN_DIR}/bench" python3 "${NEXTCRM_ROOT}/test/bench/content_load.py"
}

main "$@"
