#!/usr/bin/env bash
# Benchmark: the CRM entity endpoints (issue 4) against pgbench running the
# server's own SQL on the same database.
#   test/bench/bench_entities.sh
# Starts its own PostgreSQL, Redis and nextcrm (release build, logs to a file)
# in a temporary run folder, bootstraps a tenant, logs its admin in, then
# measures, each as BENCH_ROUNDS alternating rounds of BENCH_SECONDS (the
# side that goes first swaps every round; warm-up runs first):
#   1. create: POST /api/v1/customers with `wrk -t2 -c64 --latency` (a new
#      name per request; the server inserts the row and the audit trigger
#      writes an audit_logs row in the same transaction) against
#      `pgbench -c64 -j2 -M prepared` running the same transaction as the app
#      role nextcrm_app (RLS is forced):
#        BEGIN;
#        SELECT set_config('app.tenant_id', :tenant, true),
#               set_config('app.user_id', :user, true),
#               set_config('app.trace_id', :trace, true);
#        INSERT INTO customers (...) VALUES (... gen_random_uuid() ...)
#          RETURNING <the columns the server returns>;
#        COMMIT;
#   2. get: GET /api/v1/customers/{id} (ids of rows created by nextcrm in 1,
#      round-robin) against pgbench running the server's primary-key SELECT
#      (BEGIN; set_config('app.tenant_id', :tenant, true); SELECT ... FROM
#      customers WHERE tenant_id = :tenant AND id = :id; COMMIT). pgbench
#      cannot pick a string at random, so every id gets its own script file
#      (-f, picked at random per transaction; pgbench allows 128) and both
#      sides use the same BENCH_GET_IDS ids.
# For each side: req/s (tps), p50, p99, errors, and CPU per request:
# nextcrm's, and PostgreSQL's (postmaster and its children). pgbench's
# backends are new on every run and a new backend's first transactions are
# far dearer (catalog caches, the trigger's plpgsql, a PQprepare per
# statement, script and client), while nextcrm's pool stays warm: so every
# pgbench run lasts BENCH_WARMUP_SECONDS + BENCH_SECONDS and only the
# transactions of its per-transaction log that end in the last
# BENCH_SECONDS count (CPU read from its live backends at the same edges).
# Medians over the rounds, ratio nextcrm/pgbench of the medians and the
# median of the per-round ratios. Target (printed, not enforced): >= 0.70.
# The server sends each request's statements as one pipelined segment (one
# round trip); BENCH_PGBENCH_PIPELINE=1 sends each pgbench transaction the
# same way (\startpipeline ... \endpipeline) instead of one round trip per
# statement.
# Before each phase the bench waits (up to BENCH_QUIET_WAIT seconds) until no
# compiler (cc1plus), other wrk or pgbench runs and the machine is idle (under
# BENCH_QUIET_CPU % of a core over 1 s), and after each measurement it notes
# (summary: "machine") if either was not so.
#
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
# BENCH_CONNECTIONS (64, wrk connections and pgbench clients),
# BENCH_PGBENCH_CLIENTS (pgbench clients when not BENCH_CONNECTIONS: 64
# backends on 2 cores lower pgbench's own figure; a few clients show the
# database's best case),
# BENCH_THREADS (2, wrk threads), BENCH_PGBENCH_JOBS (2), BENCH_GET_IDS (16,
# at most 128), BENCH_PGBENCH_ROLE (nextcrm_app), BENCH_PGBENCH_PIPELINE (0),
# BENCH_PGBENCH_MODE (prepared, or extended: pgbench's -M),
# BENCH_QUIET_WAIT (600), BENCH_QUIET_CPU (30), NEXTCRM_BIN (use this binary, no build),
# NEXTCRM_SKIP_BUILD=1, NEXTCRM_IO_THREADS / NEXTCRM_WORKERS /
# NEXTCRM_PG_CONNECTIONS / NEXTCRM_LOG_LEVEL (passed to nextcrm),
# NEXTCRM_PG_FAST=1 (no fsync in the private cluster), NEXTCRM_KEEP_RUN=1
# (keep the run folder, its wrk/pgbench reports and logs).
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_knobs
GET_IDS="${BENCH_GET_IDS:-16}"
TENANT_SLUG=bench
ADMIN_EMAIL=admin@bench.test
# the trace id the pgbench transactions write into the audit rows
PGB_TRACE=0123456789abcdef0123456789abcdef

[[ "$GET_IDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_GET_IDS must be a positive integer (got '${GET_IDS}')"
((GET_IDS <= 128)) || die "BENCH_GET_IDS must be at most 128 (pgbench takes at most 128 scripts)"

# ---------------------------------------------------------------- http

# Creates the bench tenant with its admin and logs the admin in; sets
# TENANT_ID, ADMIN_ID and TOKEN.
bootstrap_tenant() { create_tenant "$TENANT_SLUG" "$ADMIN_EMAIL"; }

# The wrk script of the create phase: a POST with a new name per request.
write_create_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["Content-Type"] = "application/json"

local count = 0

function setup(thread)
  count = count + 1
  thread:set("tno", count)
end

function init(args)
  n = 0
end

function request()
  n = n + 1
  return wrk.format(nil, "/api/v1/customers", nil, string.format(
    '{"name":"Bench %d-%d","email":"b@x.co","status":"active","annual_revenue":"1250.00"}', tno, n))
end
LUA
}

# The wrk script of the get phase: GET of the ids of IDS, round-robin, each
# thread starting at its own place.
write_get_lua() {
  local out="$1" ids="$2"
  cat >"$out" <<LUA
wrk.headers["Authorization"] = "Bearer ${TOKEN}"

local count = 0

function setup(thread)
  count = count + 1
  thread:set("tno", count)
end

function init(args)
  reqs = {}
  for id in io.lines("${ids}") do
    if #id > 0 then reqs[#reqs + 1] = wrk.format("GET", "/api/v1/customers/" .. id) end
  end
  i = tno
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
LUA
}

# ---------------------------------------------------------------- sql

# insert_sql TENANT NAME: the server's insert of a customer with the body of
# the wrk script (id from gen_random_uuid(); the server makes its own).
insert_sql() {
  printf '%s' "INSERT INTO customers (tenant_id, id, name, email, phone, status, owner_id, annual_revenue, tax_id, notes) VALUES ($1, gen_random_uuid(), $2, 'b@x.co'::text, NULL::text, COALESCE('active'::text, 'lead'::text), NULL::uuid, '1250.00'::numeric, NULL::text, NULL::text) RETURNING $(customer_columns)"
}

# select_sql TENANT ID: the server's primary-key select of a customer.
select_sql() {
  printf '%s' "SELECT $(customer_columns) FROM customers WHERE tenant_id = $1 AND id = $2"
}

write_pgbench_scripts() {
  local k
  pgbench_script "${RUN_DIR}/create.sql" \
    '\set n random(1, 1000000000)' \
    BEGIN \
    "SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :user, true), set_config('app.trace_id', :trace, true)" \
    "$(insert_sql :tenant "'PgBench ' || CAST(:n AS text)")" \
    COMMIT
  GET_SCRIPTS=()
  for ((k = 1; k <= GET_IDS; k++)); do
    pgbench_script "${RUN_DIR}/get-${k}.sql" \
      BEGIN \
      "SELECT set_config('app.tenant_id', :tenant, true)" \
      "$(select_sql :tenant ":id${k}")" \
      COMMIT
    GET_SCRIPTS+=(-f "${RUN_DIR}/get-${k}.sql")
  done
}

# Checks, before measuring, that both sides do what they should: one create
# and one get through nextcrm; the pgbench transactions through psql as the
# pgbench role (a missing tenant setting would insert nothing or read no row).
check_paths() {
  local status out="${RUN_DIR}/check.json" id row
  status="$(api POST /api/v1/customers "$out" -H "Authorization: Bearer ${TOKEN}" -H 'Content-Type: application/json' \
    --data '{"name":"Bench check","email":"b@x.co","status":"active","annual_revenue":"1250.00"}')"
  [[ "$status" == 201 ]] || die "POST /api/v1/customers answered ${status}: $(cat "$out")"
  id="$(jq -r .data.id "$out")"
  status="$(api GET "/api/v1/customers/${id}" "$out" -H "Authorization: Bearer ${TOKEN}")"
  [[ "$status" == 200 ]] || die "GET /api/v1/customers/${id} answered ${status}: $(cat "$out")"
  [[ "$(jq -r .data.annual_revenue "$out")" == 1250.00 ]] || die "GET answered $(cat "$out")"

  id="$(psql_as "$PGB_ROLE" <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_ID}', true), set_config('app.user_id', '${ADMIN_ID}', true), set_config('app.trace_id', '${PGB_TRACE}', true) \\g /dev/null
$(insert_sql "'${TENANT_ID}'" "'PgBench check'") \\g /dev/null
SELECT entity_id FROM audit_logs WHERE tenant_id = '${TENANT_ID}' AND actor_user_id = '${ADMIN_ID}' AND trace_id = '${PGB_TRACE}' AND action = 'create';
COMMIT;
SQL
)" || die "the pgbench create transaction failed as ${PGB_ROLE}"
  [[ "$id" =~ ^[0-9a-f-]{36}$ ]] || die "the pgbench create transaction wrote no audit row (got '${id}')"
  row="$(psql_as "$PGB_ROLE" <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_ID}', true) \\g /dev/null
$(select_sql "'${TENANT_ID}'" "'${id}'");
COMMIT;
SQL
)" || die "the pgbench get transaction failed as ${PGB_ROLE}"
  # the server's rendering: RFC 3339 UTC with microseconds, money with 2 decimals
  local ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'
  [[ "$row" =~ ^${id}\|${ts}\|${ts}\|1\|PgBench\ check\|b@x\.co\|\|active\|\|1250\.00\|\|$ ]] ||
    die "the pgbench get transaction read '${row}'"
  log "checked: nextcrm create/get, and the pgbench transactions as ${PGB_ROLE} (row, audit row, RLS)"
}

# ---------------------------------------------------------------- runs

# pgbench_args PHASE: pgbench's options of PHASE (see run_pgbench in
# bench_lib.sh): the create script, or one script per id (-D idK=...).
pgbench_args() {
  local k=0 id
  PGB_ARGS=(-D "tenant=${TENANT_ID}" -D "user=${ADMIN_ID}" -D "trace=${PGB_TRACE}")
  if [[ "$1" == create ]]; then
    PGB_ARGS+=(-f "${RUN_DIR}/create.sql")
  else
    PGB_ARGS+=("${GET_SCRIPTS[@]}")
    while read -r id; do
      k=$((k + 1))
      PGB_ARGS+=(-D "id${k}=${id}")
    done <"${RUN_DIR}/get-ids.txt"
  fi
}

# Picks GET_IDS random ids of customers nextcrm created (superuser: no RLS).
pick_ids() {
  pg_psql "$PG_PORT" nextcrm -Atc "SELECT id FROM customers WHERE tenant_id = '${TENANT_ID}' AND name LIKE 'Bench %' ORDER BY random() LIMIT ${GET_IDS}" \
    >"${RUN_DIR}/get-ids.txt"
  [[ "$(grep -c . "${RUN_DIR}/get-ids.txt")" == "$GET_IDS" ]] ||
    die "expected ${GET_IDS} customers created by nextcrm, found $(grep -c . "${RUN_DIR}/get-ids.txt")"
}

# Rows written: customers by side and audit rows (one per customer expected).
count_rows() {
  pg_psql "$PG_PORT" nextcrm -Atc "SELECT
      (SELECT count(*) FROM customers WHERE tenant_id = '${TENANT_ID}' AND name LIKE 'Bench %'),
      (SELECT count(*) FROM customers WHERE tenant_id = '${TENANT_ID}' AND name LIKE 'PgBench %'),
      (SELECT count(*) FROM audit_logs WHERE tenant_id = '${TENANT_ID}' AND entity = 'customers' AND action = 'create'),
      (SELECT count(*) FROM audit_logs WHERE tenant_id = '${TENANT_ID}' AND entity = 'customers' AND action = 'create' AND trace_id = '${PGB_TRACE}')" |
    tr '|' ' '
}

# ---------------------------------------------------------------- summary

summary() {
  local n_rows p_rows audit p_audit
  read -r n_rows p_rows audit p_audit < <(count_rows)
  echo
  echo "== summary ($(summary_settings))"
  printf '%-34s %s\n' \
    "create req/s nextcrm/pgbench tps:" "${CREATE_N_RPS} / ${CREATE_P_RPS} = ${CREATE_RATIO} (per-round ${CREATE_PAIR_RATIO})   target >= 0.70: $(verdict "$CREATE_RATIO" '>=' 0.7)" \
    "create p99 ms nextcrm, pgbench:" "${CREATE_N_P99}, ${CREATE_P_P99}" \
    "create cpu us/request:" "nextcrm ${CREATE_N_APP} + postgres ${CREATE_N_PG}; pgbench's postgres ${CREATE_P_PG}" \
    "get req/s nextcrm/pgbench tps:" "${GET_N_RPS} / ${GET_P_RPS} = ${GET_RATIO} (per-round ${GET_PAIR_RATIO})   target >= 0.70: $(verdict "$GET_RATIO" '>=' 0.7)" \
    "get p99 ms nextcrm, pgbench:" "${GET_N_P99}, ${GET_P_P99}" \
    "get cpu us/request:" "nextcrm ${GET_N_APP} + postgres ${GET_N_PG}; pgbench's postgres ${GET_P_PG}" \
    "customers created:" "nextcrm ${n_rows}, pgbench ${p_rows}; audit rows (create) ${audit}, of pgbench ${p_audit}   $([[ "$audit" == "$((n_rows + p_rows))" && "$p_audit" == "$p_rows" ]] && echo 'one per row' || echo 'NOT one per row')"
  summary_tail
}

main() {
  bench_setup
  start_bench_stack
  echo "cores: $(nproc)   nextcrm: http://127.0.0.1:${HTTP_PORT} (pid ${NEXTCRM_PID}, log to file)   postgres: 127.0.0.1:${PG_PORT} (pid ${PG_PID})   $("$PGBENCH" --version)"
  bootstrap_tenant
  pgbench_conn
  check_paths
  write_create_lua "${RUN_DIR}/create.lua"
  write_pgbench_scripts
  bench_pair create "1. create: POST /api/v1/customers vs pgbench BEGIN; set_config x3; INSERT ... RETURNING (audit trigger); COMMIT"
  pick_ids
  write_get_lua "${RUN_DIR}/get.lua" "${RUN_DIR}/get-ids.txt"
  bench_pair get "2. get: GET /api/v1/customers/{id} (${GET_IDS} ids) vs pgbench BEGIN; set_config; SELECT ... WHERE tenant_id AND id; COMMIT"
  summary
  log "wrk/pgbench reports and logs: ${RUN_DIR} (removed on exit unless NEXTCRM_KEEP_RUN=1)"
}

main "$@"
