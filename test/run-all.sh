#!/usr/bin/env bash
# The full Next_CRM test suite, from a fresh clone on Debian 12:
#   test/run-all.sh
# 1. installs the missing Debian packages and builds (tests included);
# 2. starts its own throw-away PostgreSQL cluster and Redis on free loopback
#    ports in a new temporary run folder (never the dev stack's .run/);
# 3. runs the migrations and every CTest test (unit and integration), the
#    integration tests reading the NEXTCRM_TEST_* variables exported here;
# 4. starts nextcrm behind its own nginx gateway and runs test/smoke/smoke.sh
#    through the gateway;
# 5. stops everything (also on failure or Ctrl-C) and prints the last line
#    "N passed, M failed" (CTest tests plus the smoke run as one).
# Exit status 0 only when nothing failed.
#
# Knobs: NEXTCRM_BUILD_TYPE (Release), NEXTCRM_BUILD_JOBS (2),
# NEXTCRM_TEST_JOBS (ctest -j, 1), NEXTCRM_TEST_TIMEOUT (per test, 600 s),
# NEXTCRM_SKIP_BUILD=1, NEXTCRM_KEEP_RUN=1 (keep the run folder for a look),
# NEXTCRM_TEST_FILTER=<regex> (only the CTest tests it matches, no smoke run:
# for iterating on one suite, e.g. NEXTCRM_TEST_FILTER=integration.security).
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

PASSED=0
FAILED=0
STAGE="start"
RUN_DIR=""
declare -a FAILURES=()

count_pass() { PASSED=$((PASSED + ${1:-1})); }
count_fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("$1")
}

# ---------------------------------------------------------------- teardown

show_logs() {
  local f
  for f in "${RUN_DIR}/nextcrm.log" "${RUN_DIR}/nginx/logs/error.log"; do
    [[ -s "$f" ]] || continue
    echo "--- last lines of ${f}:" >&2
    tail -n 40 "$f" >&2
  done
}

stop_all() {
  [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]] || return 0
  nginx_stop "${RUN_DIR}/nginx/nginx.conf" || true
  nextcrm_stop "$RUN_DIR" || true
  redis_stop "${RUN_DIR}/redis" || true
  pg_stop "${RUN_DIR}/pg" || true
  if [[ "${NEXTCRM_KEEP_RUN:-0}" == "1" ]]; then
    log "run folder kept: ${RUN_DIR}"
  else
    pg_destroy "${RUN_DIR}/pg" || true
    rm -rf "$RUN_DIR"
  fi
}

on_exit() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if ((rc != 0 && FAILED == 0)); then
    count_fail "${STAGE} (exit status ${rc})"
  fi
  ((FAILED == 0)) || show_logs
  stop_all
  if ((${#FAILURES[@]})); then
    printf 'failed: %s\n' "${FAILURES[@]}"
  fi
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  if ((FAILED > 0)); then exit 1; fi
  exit "$rc"
}

# ---------------------------------------------------------------- stages

start_services() {
  local -a ports
  STAGE="starting PostgreSQL and Redis"
  RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/nextcrm-test.XXXXXX")"
  log "run folder: ${RUN_DIR}"
  mapfile -t ports < <(free_port 5)
  PG_PORT="${ports[0]}"
  REDIS_PORT="${ports[1]}"
  HTTP_PORT="${ports[2]}"
  ADMIN_PORT="${ports[3]}"
  GATEWAY_PORT="${ports[4]}"
  NEXTCRM_PG_FAST=1 pg_init_start "${RUN_DIR}/pg" "$PG_PORT"
  redis_start "${RUN_DIR}/redis" "$REDIS_PORT"
  mkdir -p "${RUN_DIR}/redis-tests"

  # What the integration tests read (test/integration/nextcrm_harness.py).
  export NEXTCRM_TEST_PG_URL NEXTCRM_TEST_PG_OWNER_URL
  NEXTCRM_TEST_PG_URL="$(pg_url "$PG_PORT" nextcrm_app)"
  NEXTCRM_TEST_PG_OWNER_URL="$(pg_url "$PG_PORT" nextcrm_owner)"
  export NEXTCRM_TEST_REDIS_ADDR="127.0.0.1:${REDIS_PORT}"
  export NEXTCRM_TEST_REDIS_DIR="${RUN_DIR}/redis-tests"
  export NEXTCRM_BIN
  NEXTCRM_BIN="$(realpath "$(nextcrm_bin)")"
  export NEXTCRM_SOURCE_DIR="$NEXTCRM_ROOT"
  # for tests that restart the shared cluster (test_pg_restart.py)
  export NEXTCRM_TEST_PG_RUN_DIR="${RUN_DIR}/pg" NEXTCRM_TEST_PG_PORT="$PG_PORT"
  # fresh secrets for the suite's own nextcrm (the integration tests make
  # their own per server): never the caller's or the dev stack's
  SUITE_PLATFORM_TOKEN="$(openssl rand -hex 32)"
  SUITE_JWT_KEYS="$(jwt_key_entry "test-k1")"
}

# Runs "$@" with the settings of the suite's own nextcrm.
with_server_env() {
  NEXTCRM_LISTEN="127.0.0.1:${HTTP_PORT}" \
    NEXTCRM_ADMIN_LISTEN="127.0.0.1:${ADMIN_PORT}" \
    NEXTCRM_PG_URL="$NEXTCRM_TEST_PG_URL" \
    NEXTCRM_PG_MIGRATE_URL="$NEXTCRM_TEST_PG_OWNER_URL" \
    NEXTCRM_REDIS_ADDR="$NEXTCRM_TEST_REDIS_ADDR" \
    NEXTCRM_MIGRATIONS_DIR="${NEXTCRM_ROOT}/storage/migrations" \
    NEXTCRM_PLATFORM_TOKEN="$SUITE_PLATFORM_TOKEN" \
    NEXTCRM_JWT_KEYS="$SUITE_JWT_KEYS" \
    NEXTCRM_TRUSTED_PROXIES="127.0.0.1/32,::1/128" \
    "$@"
}

run_migrations() {
  STAGE="nextcrm migrate"
  with_server_env nextcrm_migrate "${RUN_DIR}/migrate.log"
}

# ctest, every label. Counts from its closing line
# "NN% tests passed, F tests failed out of T".
run_ctest() {
  local rc=0 line total failed
  STAGE="ctest"
  log "ctest: running every test"
  ctest --test-dir "$NEXTCRM_BUILD_DIR" --output-on-failure \
    --timeout "${NEXTCRM_TEST_TIMEOUT:-600}" -j "${NEXTCRM_TEST_JOBS:-1}" \
    ${NEXTCRM_TEST_FILTER:+-R "$NEXTCRM_TEST_FILTER"} \
    2>&1 | tee "${RUN_DIR}/ctest.log" || rc=$?
  line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "${RUN_DIR}/ctest.log" | tail -n 1 || true)"
  if [[ -z "$line" ]]; then
    count_fail "ctest ran no test (exit status ${rc})"
    return 0
  fi
  failed="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  count_pass "$((total - failed))"
  FAILED=$((FAILED + failed))
  ((failed == 0)) || FAILURES+=("${failed} ctest test(s), see the list above")
  if ((failed == 0 && rc != 0)); then
    count_fail "ctest exit status ${rc}"
  fi
}

run_smoke() {
  local conf
  STAGE="starting nextcrm and the gateway for the smoke test"
  with_server_env nextcrm_start "$RUN_DIR" serve --role=all
  conf="$(nginx_render_gateway "${RUN_DIR}/nginx" "$GATEWAY_PORT" \
    "127.0.0.1:${HTTP_PORT}" "127.0.0.1:${HTTP_PORT}")"
  nginx_start "$conf"
  STAGE="smoke"
  if ! wait_http "http://127.0.0.1:${GATEWAY_PORT}/health" 60 "${RUN_DIR}/nextcrm.pid"; then
    count_fail "smoke (the stack never became healthy)"
    return 0
  fi
  log "smoke: test/smoke/smoke.sh through the gateway on port ${GATEWAY_PORT}"
  if NEXTCRM_PLATFORM_TOKEN="$SUITE_PLATFORM_TOKEN" "${NEXTCRM_ROOT}/test/smoke/smoke.sh" \
    "http://127.0.0.1:${GATEWAY_PORT}"; then
    count_pass
  else
    count_fail "smoke"
  fi
}

main() {
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  STAGE="installing packages"
  ensure_packages
  if [[ "${NEXTCRM_SKIP_BUILD:-0}" != "1" ]]; then
    STAGE="build"
    build -DNEXTCRM_BUILD_TESTS=ON
  fi
  [[ -x "$(nextcrm_bin)" ]] || die "$(nextcrm_bin) was not built"
  start_services
  run_migrations
  run_ctest
  [[ -n "${NEXTCRM_TEST_FILTER:-}" ]] || run_smoke
  STAGE="done"
}

main "$@"
