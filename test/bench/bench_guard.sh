#!/usr/bin/env bash
# Benchmark: what the CRM Guard costs (issue 13).
#   test/bench/bench_guard.sh
# Starts its own PostgreSQL and Redis and two nextcrm servers on them (release
# build): one with the guard on (the default), one with NEXTCRM_GUARD=off.
# Seeds BENCH_CUSTOMERS (20000) customers in one tenant whose admin's
# budgets are raised out of reach (the guard still admits, counts, flushes
# and judges every call, it just never blocks the benchmark), then runs, in
# alternating rounds against the two servers, wrk with BENCH_CONNECTIONS (64)
# for BENCH_SECONDS (8) on:
#   query: POST /api/v1/customers/query (status = active, 50 rows a page)
#   get:   GET /api/v1/customers/{id} over 1000 ids
# and prints per phase the median req/s and p99 of each side and the ratio
# on/off (target: the guard costs <= 5% of throughput and <= 5% on p99).
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (8), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_CUSTOMERS (20000), NEXTCRM_SKIP_BUILD=1,
# NEXTCRM_KEEP_RUN=1.
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
SECS="${BENCH_SECONDS:-8}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
CUSTOMERS="${BENCH_CUSTOMERS:-20000}"
RUN_DIR=""
OFF_DIR=""
for knob in ROUNDS SECS CONNECTIONS THREADS CUSTOMERS; do
  [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "${knob} must be a positive integer (got '${!knob}')"
done

cleanup() {
  local rc=$?
  set +e
  [[ -n "$OFF_DIR" ]] && nextcrm_stop "$OFF_DIR"
  stop_nextcrm_stack "$rc"
}

# The guard-off twin on the same PostgreSQL and Redis (its own ports).
start_guard_off() {
  local -a ports
  mapfile -t ports < <(free_port 2)
  OFF_PORT="${ports[0]}"
  OFF_DIR="${RUN_DIR}/off"
  NEXTCRM_GUARD=off NEXTCRM_LISTEN="127.0.0.1:${OFF_PORT}" NEXTCRM_ADMIN_LISTEN="127.0.0.1:${ports[1]}" \
    nextcrm_start "$OFF_DIR" serve --role=all
  wait_http "http://127.0.0.1:${OFF_PORT}/health" 60 "${OFF_DIR}/nextcrm.pid" ||
    { tail -n 20 "${OFF_DIR}/nextcrm.log" >&2; die "the guard-off nextcrm did not become healthy"; }
}

seed() {
  psql_as nextcrm_app <<SQL >/dev/null || die "seeding failed"
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_ID}', true) \\g /dev/null
INSERT INTO customers (tenant_id, id, name, email, status, created_at, updated_at)
SELECT '${TENANT_ID}', gen_random_uuid(), 'Bench ' || g, 'b' || g || '@seed.test',
       (ARRAY['lead', 'active', 'churned'])[1 + g % 3], ts, ts
  FROM (SELECT g, now() - g * interval '1 second' AS ts FROM generate_series(1, ${CUSTOMERS}) AS g) AS s;
COMMIT;
SQL
  pg_psql "$PG_PORT" nextcrm -c "VACUUM (ANALYZE) customers" -c "CHECKPOINT" >/dev/null
  psql_as nextcrm_app <<SQL | tr '\n' ' ' >"${RUN_DIR}/ids.txt"
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_ID}', true) \\g /dev/null
SELECT '"' || id || '",' FROM customers WHERE tenant_id = '${TENANT_ID}' ORDER BY id LIMIT 1000;
COMMIT;
SQL
}

# Every budget of the admin profile out of reach: the guard works, never blocks.
raise_budgets() {
  local id scope metric window out="${RUN_DIR}/budget.json"
  api GET /api/v1/guard/budgets "$out" -H "Authorization: Bearer ${TOKEN}" >/dev/null
  while read -r id scope metric window; do
    [[ "$scope" == profile:admin ]] || continue
    [[ "$(api PUT "/api/v1/guard/budgets/${id}" "${RUN_DIR}/put.json" -H "Authorization: Bearer ${TOKEN}" \
      -H 'Content-Type: application/json' \
      --data "{\"scope\":\"${scope}\",\"metric\":\"${metric}\",\"window_s\":${window},\"warn\":100000000000,\"block\":1000000000000}")" == 200 ]] ||
      die "raising budget ${id} failed: $(cat "${RUN_DIR}/put.json")"
  done < <(jq -r '.data[] | "\(.id) \(.scope) \(.metric) \(.window_s)"' "$out")
}

write_scripts() {
  cat >"${RUN_DIR}/query.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"filter":{"field":"status","op":"eq","value":"active"},"page":{"size":50}}'
wrk.path = "/api/v1/customers/query"
LUA
  cat >"${RUN_DIR}/get.lua" <<LUA
local ids = { $(cat "${RUN_DIR}/ids.txt") }
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/customers/" .. ids[(n % #ids) + 1], { ["Authorization"] = "Bearer ${TOKEN}" })
end
LUA
}

# run PHASE PORT PID OUT: one wrk run; prints "rps p99 errors nextcrm_us redis_us"
# (CPU microseconds per request of the server and of Redis).
run() {
  local phase="$1" port="$2" pid="$3" out="$4" rps p50 p99 bad nb na rb ra req
  nb="$(cpu_ticks "$pid")" rb="$(cpu_ticks "$REDIS_PID")"
  wrk_run "http://127.0.0.1:${port}/" "${SECS}s" "$out" -s "${RUN_DIR}/${phase}.lua"
  sleep 0.3
  na="$(cpu_ticks "$pid")" ra="$(cpu_ticks "$REDIS_PID")"
  read -r rps p50 p99 bad < <(wrk_parse "$out")
  req="$(awk '/requests in/ { print $1 }' "$out")"
  echo "$rps $p99 $bad $(per_request "$((na - nb))" "$req") $(per_request "$((ra - rb))" "$req")"
}

main() {
  trap cleanup EXIT
  bench_prepare
  start_nextcrm_stack
  start_guard_off
  create_tenant bench-guard admin@bench-guard.test
  seed
  raise_budgets
  write_scripts
  local phase round side port pid rps p99 bad app_us redis_us errors=0
  declare -A RPS P99 APP RED
  HZ="$(getconf CLK_TCK)"
  REDIS_PID="$(cat "${RUN_DIR}/redis/redis.pid")"
  ON_PID="$(cat "${RUN_DIR}/nextcrm.pid")"
  OFF_PID="$(cat "${OFF_DIR}/nextcrm.pid")"
  for phase in query get; do
    # warm both (caches, budget actor, statement cache)
    run "$phase" "$HTTP_PORT" "$ON_PID" "${RUN_DIR}/warm-on.txt" >/dev/null
    run "$phase" "$OFF_PORT" "$OFF_PID" "${RUN_DIR}/warm-off.txt" >/dev/null
    for ((round = 1; round <= ROUNDS; round++)); do
      for side in on off; do
        port="$HTTP_PORT" pid="$ON_PID"
        [[ "$side" == off ]] && port="$OFF_PORT" pid="$OFF_PID"
        read -r rps p99 bad app_us redis_us < <(run "$phase" "$port" "$pid" "${RUN_DIR}/${phase}-${side}-${round}.txt")
        errors=$((errors + bad))
        RPS[$phase-$side]+="$rps "
        P99[$phase-$side]+="$p99 "
        APP[$phase-$side]+="$app_us "
        RED[$phase-$side]+="$redis_us "
        printf '%-6s round %d guard %-3s %8s req/s  p99 %8s ms  non-2xx %s  cpu/req: nextcrm %s us, redis %s us\n' \
          "$phase" "$round" "$side" "$rps" "$p99" "$bad" "$app_us" "$redis_us"
      done
    done
  done
  echo
  echo "phase  guard-on req/s  guard-off req/s  ratio   p99 on ms  p99 off ms  ratio   (medians of ${ROUNDS} rounds)"
  local ron roff pon poff
  for phase in query get; do
    # shellcheck disable=SC2086  # the lists are space-separated on purpose
    ron="$(median ${RPS[$phase-on]})" roff="$(median ${RPS[$phase-off]})"
    # shellcheck disable=SC2086
    pon="$(median ${P99[$phase-on]})" poff="$(median ${P99[$phase-off]})"
    printf '%-6s %14s %16s %6s %11s %11s %6s\n' "$phase" "$ron" "$roff" "$(ratio "$ron" "$roff")" "$pon" "$poff" "$(ratio "$pon" "$poff")"
    echo "       throughput cost <= 5%: $(verdict "$(ratio "$ron" "$roff")" '>=' 0.95); p99 cost <= 5%: $(verdict "$(ratio "$pon" "$poff")" '<=' 1.05)"
    # shellcheck disable=SC2086
    echo "       CPU per request: nextcrm $(median ${APP[$phase-on]}) us on, $(median ${APP[$phase-off]}) us off; redis $(median ${RED[$phase-on]}) us on, $(median ${RED[$phase-off]}) us off"
  done
  ((errors == 0)) || die "${errors} non-2xx answers during the runs"
}

main "$@"
