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
# compiler (cc1plus), other wrk or pgbench runs, and after each measurement it
# notes (summary: "machine") if one ran meanwhile.
#
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
# BENCH_CONNECTIONS (64, wrk connections and pgbench clients),
# BENCH_PGBENCH_CLIENTS (pgbench clients when not BENCH_CONNECTIONS: 64
# backends on 2 cores lower pgbench's own figure; a few clients show the
# database's best case),
# BENCH_THREADS (2, wrk threads), BENCH_PGBENCH_JOBS (2), BENCH_GET_IDS (16,
# at most 128), BENCH_PGBENCH_ROLE (nextcrm_app), BENCH_PGBENCH_PIPELINE (0),
# BENCH_QUIET_WAIT (600), NEXTCRM_BIN (use this binary, no build),
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

ROUNDS="${BENCH_ROUNDS:-3}"
SECS="${BENCH_SECONDS:-10}"
WARMUP_SECS="${BENCH_WARMUP_SECONDS:-3}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
PGB_CLIENTS="${BENCH_PGBENCH_CLIENTS:-$CONNECTIONS}"
THREADS="${BENCH_THREADS:-2}"
PGB_JOBS="${BENCH_PGBENCH_JOBS:-2}"
GET_IDS="${BENCH_GET_IDS:-16}"
PGB_ROLE="${BENCH_PGBENCH_ROLE:-nextcrm_app}"
PGB_PIPELINE="${BENCH_PGBENCH_PIPELINE:-0}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-600}"
TENANT_SLUG=bench
ADMIN_EMAIL=admin@bench.test
# the trace id the pgbench transactions write into the audit rows
PGB_TRACE=0123456789abcdef0123456789abcdef
RUN_DIR=""
PGB_PID=""

for knob in ROUNDS SECS WARMUP_SECS CONNECTIONS PGB_CLIENTS THREADS PGB_JOBS GET_IDS; do
  [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "${knob} must be a positive integer (got '${!knob}')"
done
[[ "$PGB_PIPELINE" =~ ^[01]$ ]] || die "BENCH_PGBENCH_PIPELINE must be 0 or 1 (got '${PGB_PIPELINE}')"
((GET_IDS <= 128)) || die "BENCH_GET_IDS must be at most 128 (pgbench takes at most 128 scripts)"

cleanup() {
  local rc=$?
  set +e
  if [[ -n "$PGB_PID" ]]; then
    kill "$PGB_PID" 2>/dev/null
    wait "$PGB_PID" 2>/dev/null
  fi
  stop_nextcrm_stack "$rc"
}

start_stack() {
  start_nextcrm_stack
  NEXTCRM_PID="$(cat "${RUN_DIR}/nextcrm.pid")"
  PG_PID="$(as_pg_user head -n 1 "$(pg_home "${RUN_DIR}/pg")/data/postmaster.pid")"
  [[ "$PG_PID" =~ ^[0-9]+$ ]] || die "cannot read the postmaster pid"
  # the log from here on (the readiness polls before may have seen a 503)
  LOG_START="$(($(wc -l <"${RUN_DIR}/nextcrm.log") + 1))"
}

# ---------------------------------------------------------------- machine

# The pids of compilers, wrk and pgbench processes running now.
busy_pids() {
  { pgrep -x cc1plus; pgrep -x wrk; pgrep -x pgbench; } | tr '\n' ' ' || true
}

# Waits (up to QUIET_WAIT seconds) until no compiler, wrk or pgbench runs:
# two cores are shared, and a build next to the bench halves its figures.
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) busy
  while busy="$(busy_pids)" && [[ -n "${busy// /}" ]]; do
    if ((SECONDS >= deadline)); then
      warn "still busy after ${QUIET_WAIT}s (pids ${busy}): measuring anyway, figures will be low"
      return 0
    fi
    log "waiting for a quiet machine (cc1plus/wrk/pgbench pids ${busy})"
    sleep 5
  done
}

# Notes when a compiler, another wrk or a pgbench ran next to the measurement
# that just ended (ours have exited by then): its figures are then low.
note_busy() {
  local busy
  busy="$(busy_pids)"
  [[ -z "${busy// /}" ]] && return 0
  warn "$1: other work (cc1plus/wrk/pgbench pids ${busy}) ran next to this measurement, figures may be low"
  BUSY_PHASES+=("$1")
}

# CPU ticks of the whole PostgreSQL cluster: the postmaster, its children
# that have exited (cutime/cstime, e.g. autovacuum workers)
# and those alive now.
pg_cpu_ticks() {
  local own children
  own="$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/${PG_PID}/stat")"
  mapfile -t children < <(pgrep -P "$PG_PID" || true)
  echo "$((own + $(cpu_ticks "${children[@]}")))"
}

# per_request TICKS REQUESTS: CPU microseconds per request.
per_request() {
  awk -v t="$1" -v hz="$HZ" -v n="${2:-0}" 'BEGIN { printf "%.1f", (n > 0) ? t * 1e6 / hz / n : 0 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }'; }

# ---------------------------------------------------------------- http

# api METHOD PATH OUT [CURL OPTIONS...]: prints the HTTP status, body in OUT.
api() {
  local method="$1" path="$2" out="$3"
  shift 3
  curl -s -o "$out" -w '%{http_code}' --max-time 30 -X "$method" "$@" \
    "http://127.0.0.1:${HTTP_PORT}${path}" || true
}

# Creates the bench tenant with its admin and logs the admin in; sets
# TENANT_ID, ADMIN_ID and TOKEN.
bootstrap_tenant() {
  local password status out="${RUN_DIR}/tenant.json"
  password="$(openssl rand -hex 12)"
  status="$(api POST /api/v1/tenants "$out" -H "Authorization: Bearer ${NEXTCRM_PLATFORM_TOKEN}" \
    -H 'Content-Type: application/json' \
    --data "{\"slug\":\"${TENANT_SLUG}\",\"name\":\"Bench Ltd\",\"admin\":{\"email\":\"${ADMIN_EMAIL}\",\"password\":\"${password}\"}}")"
  [[ "$status" == 201 ]] || die "POST /api/v1/tenants answered ${status}: $(cat "$out")"
  TENANT_ID="$(jq -r .data.id "$out")"
  ADMIN_ID="$(jq -r .data.admin_user_id "$out")"
  out="${RUN_DIR}/login-answer.json"
  status="$(api POST /api/v1/auth/login "$out" -H 'Content-Type: application/json' \
    --data "{\"tenant\":\"${TENANT_SLUG}\",\"email\":\"${ADMIN_EMAIL}\",\"password\":\"${password}\"}")"
  [[ "$status" == 200 ]] || die "POST /api/v1/auth/login answered ${status}: $(cat "$out")"
  TOKEN="$(jq -r .access_token "$out")"
}

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

# The columns the server returns for a customer (storage/entity_sql.cpp).
# pgbench replaces every ":name" of a statement, even inside a string
# literal, so the colons of the timestamp format are written as \x3A.
customer_columns() {
  local ts="E'YYYY-MM-DD\"T\"HH24\\x3AMI\\x3ASS.US\"Z\"'"
  printf '%s' "id::text, to_char(created_at AT TIME ZONE 'UTC', ${ts}), to_char(updated_at AT TIME ZONE 'UTC', ${ts}), version::text, name, email, phone, status, owner_id::text, annual_revenue::text, tax_id, notes"
}

# insert_sql TENANT NAME: the server's insert of a customer with the body of
# the wrk script (id from gen_random_uuid(); the server makes its own).
insert_sql() {
  printf '%s' "INSERT INTO customers (tenant_id, id, name, email, phone, status, owner_id, annual_revenue, tax_id, notes) VALUES ($1, gen_random_uuid(), $2, 'b@x.co'::text, NULL::text, COALESCE('active'::text, 'lead'::text), NULL::uuid, '1250.00'::numeric, NULL::text, NULL::text) RETURNING $(customer_columns)"
}

# select_sql TENANT ID: the server's primary-key select of a customer.
select_sql() {
  printf '%s' "SELECT $(customer_columns) FROM customers WHERE tenant_id = $1 AND id = $2"
}

# pgbench_script FILE LINE...: a pgbench script of the meta commands
# (\set ...) and then the SQL statements among the LINEs, the statements in
# one pipeline with BENCH_PGBENCH_PIPELINE=1.
pgbench_script() {
  local file="$1" s
  shift
  {
    for s in "$@"; do
      if [[ "$s" == \\* ]]; then printf '%s\n' "$s"; fi
    done
    if ((PGB_PIPELINE)); then printf '%s\n' '\startpipeline'; fi
    for s in "$@"; do
      if [[ "$s" != \\* ]]; then printf '%s;\n' "$s"; fi
    done
    if ((PGB_PIPELINE)); then printf '%s\n' '\endpipeline'; fi
  } >"$file"
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

# psql as ROLE (RLS applies: not the superuser), the script on stdin.
psql_as() {
  local role="$1"
  shift
  "$(pg_bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$role" -d nextcrm "$@"
}

# The pgbench binary of the server's major version; installed when missing.
find_pgbench() {
  local bindir major
  bindir="$(pg_bindir)"
  major="$(basename "$(dirname "$bindir")")"
  [[ -x "${bindir}/pgbench" ]] || ensure_packages "postgresql-${major}" "postgresql-client-${major}"
  [[ -x "${bindir}/pgbench" ]] || die "${bindir}/pgbench not found after installing postgresql-${major}"
  PGBENCH="${bindir}/pgbench"
}

# pgbench's connection options (PGB_CONN) and database (PGB_DB):
# NEXTCRM_PG_URL (the app role's conninfo, exported by the stack) with the
# user BENCH_PGBENCH_ROLE.
pgbench_conn() {
  local kv
  PGB_CONN=(-U "$PGB_ROLE")
  PGB_DB=nextcrm
  for kv in $NEXTCRM_PG_URL; do
    case "${kv%%=*}" in
      host) PGB_CONN+=(-h "${kv#*=}") ;;
      port) PGB_CONN+=(-p "${kv#*=}") ;;
      dbname) PGB_DB="${kv#*=}" ;;
    esac
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

# Sets R_RPS R_P50 R_P99 R_ERR R_REQ R_APP_US R_PG_US for one run.

# run_nextcrm PHASE SECONDS OUT: wrk with the phase's script.
run_nextcrm() {
  local phase="$1" secs="$2" out="$3" url nb pb na pa sock
  url="http://127.0.0.1:${HTTP_PORT}/api/v1/customers"
  nb="$(cpu_ticks "$NEXTCRM_PID")" pb="$(pg_cpu_ticks)"
  wrk_run "$url" "${secs}s" "$out" -s "${RUN_DIR}/${phase}.lua"
  sleep 0.3 # the requests wrk cut off finish
  na="$(cpu_ticks "$NEXTCRM_PID")" pa="$(pg_cpu_ticks)"
  read -r R_RPS R_P50 R_P99 R_ERR < <(wrk_parse "$out")
  sock="$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")"
  R_ERR=$((R_ERR + ${sock:-0}))
  R_REQ="$(awk '/requests in/ { print $1 }' "$out")"
  R_APP_US="$(per_request "$((na - nb))" "$R_REQ")"
  R_PG_US="$(per_request "$((pa - pb))" "$R_REQ")"
}

# run_pgbench PHASE SECONDS OUT: pgbench with the phase's scripts for
# WARMUP_SECS + SECONDS (+ 2 s of slack); only the SECONDS after the warm-up
# count. pgbench's backends are new on every run, and a new backend's first
# transactions cost far more than the steady state (catalog caches, the
# trigger's plpgsql, pgbench's synchronous PQprepare of every statement of
# every script per client), while nextcrm's pool connections stay warm: so
# tps, p50 and p99 come from the transactions of its per-transaction log
# that ended inside the window, and PostgreSQL's CPU is read from the live
# backends at the window's edges.
run_pgbench() {
  local phase="$1" secs="$2" out="$3" prefix="${3%.txt}-log" pb pa t0 t1 rc=0 window
  local -a scripts defs=(-D "tenant=${TENANT_ID}" -D "user=${ADMIN_ID}" -D "trace=${PGB_TRACE}")
  if [[ "$phase" == create ]]; then
    scripts=(-f "${RUN_DIR}/create.sql")
  else
    scripts=("${GET_SCRIPTS[@]}")
    local k=0 id
    while read -r id; do
      k=$((k + 1))
      defs+=(-D "id${k}=${id}")
    done <"${RUN_DIR}/get-ids.txt"
  fi
  "$PGBENCH" -n -M prepared -c "$PGB_CLIENTS" -j "$PGB_JOBS" -T "$((WARMUP_SECS + secs + 2))" \
    -l --log-prefix="$prefix" "${PGB_CONN[@]}" "${defs[@]}" "${scripts[@]}" "$PGB_DB" >"$out" 2>&1 &
  PGB_PID=$!
  sleep "$WARMUP_SECS"
  t0="$(date +%s%6N)" pb="$(pg_cpu_ticks)"
  sleep "$secs"
  t1="$(date +%s%6N)" pa="$(pg_cpu_ticks)"
  wait "$PGB_PID" || rc=$?
  PGB_PID=""
  ((rc == 0)) || { tail -n 40 "$out" >&2; die "pgbench (${phase}) exited with ${rc}"; }
  R_ERR="$(awk -F': ' '/^number of failed transactions:/ { print $2 + 0 }' "$out")"
  R_ERR="${R_ERR:-0}"
  # log line: client tx latency_us script epoch_s epoch_us (end of the transaction)
  window="$(cat "${prefix}".* | awk -v t0="$t0" -v t1="$t1" '
      { end = $5 * 1000000 + $6 }
      end >= t0 && end < t1 && $3 ~ /^[0-9]+$/ { print $3 }' | sort -n |
    awk -v usecs="$((t1 - t0))" '{ v[NR] = $1 } END {
      if (NR == 0) { print "0 0 0 0"; exit }
      i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
      printf "%d %.0f %.3f %.3f\n", NR, NR * 1e6 / usecs, v[i50] / 1000, v[i99] / 1000 }')"
  read -r R_REQ R_RPS R_P50 R_P99 <<<"$window"
  ((R_REQ > 0)) || { tail -n 20 "$out" >&2; die "pgbench (${phase}): no logged transaction ended in the measured window"; }
  rm -f "${prefix}".*
  R_APP_US="-"
  R_PG_US="$(per_request "$((pa - pb))" "$R_REQ")"
}

row() { printf '%-6s %-8s %10s %9s %9s %7s %11s %9s\n' "$@"; }

# bench_pair PHASE TITLE: warm-up, ROUNDS alternating rounds, medians.
# Sets <PHASE>_{N,P}_{RPS,P99,APP,PG}, <PHASE>_RATIO, <PHASE>_PAIR_RATIO.
bench_pair() {
  local phase="$1" title="$2" round side first out
  local -a n_rps=() n_p50=() n_p99=() n_app=() n_pg=() p_rps=() p_p50=() p_p99=() p_pg=() ratios=()
  wait_quiet
  echo
  echo "== ${title}"
  echo "   nextcrm: wrk -t${THREADS} -c${CONNECTIONS} -d${SECS}s   pgbench: -c${PGB_CLIENTS} -j${PGB_JOBS} -M prepared -T ${WARMUP_SECS}+${SECS}+2, the ${SECS}s after ${WARMUP_SECS}s counted$( ((PGB_PIPELINE)) && echo ' (one pipeline per transaction)')   rounds: ${ROUNDS}"
  # pgbench warms up inside each of its runs (see run_pgbench)
  run_nextcrm "$phase" "$WARMUP_SECS" "${RUN_DIR}/${phase}-warmup-nextcrm.txt"
  row round side 'req/s' 'p50 ms' 'p99 ms' errors 'nextcrm us' 'pg us'
  for ((round = 1; round <= ROUNDS; round++)); do
    # the side going first swaps every round (the table grows in the create phase)
    if ((round % 2)); then first=(nextcrm pgbench); else first=(pgbench nextcrm); fi
    for side in "${first[@]}"; do
      out="${RUN_DIR}/${phase}-r${round}-${side}.txt"
      "run_${side}" "$phase" "$SECS" "$out"
      note_busy "${phase} round ${round} ${side}"
      row "$round" "$side" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_APP_US" "$R_PG_US"
      ERRORS=$((ERRORS + R_ERR))
      if [[ "$side" == nextcrm ]]; then
        n_rps+=("$R_RPS") n_p50+=("$R_P50") n_p99+=("$R_P99") n_app+=("$R_APP_US") n_pg+=("$R_PG_US")
      else
        p_rps+=("$R_RPS") p_p50+=("$R_P50") p_p99+=("$R_P99") p_pg+=("$R_PG_US")
      fi
    done
    ratios+=("$(ratio "${n_rps[-1]}" "${p_rps[-1]}")")
  done
  local up="${phase^^}"
  printf -v "${up}_N_RPS" '%s' "$(median "${n_rps[@]}")"
  printf -v "${up}_N_P99" '%s' "$(median "${n_p99[@]}")"
  printf -v "${up}_N_APP" '%s' "$(median "${n_app[@]}")"
  printf -v "${up}_N_PG" '%s' "$(median "${n_pg[@]}")"
  printf -v "${up}_P_RPS" '%s' "$(median "${p_rps[@]}")"
  printf -v "${up}_P_P99" '%s' "$(median "${p_p99[@]}")"
  printf -v "${up}_P_PG" '%s' "$(median "${p_pg[@]}")"
  local n_var="${up}_N_RPS" p_var="${up}_P_RPS"
  printf -v "${up}_RATIO" '%s' "$(awk -v a="${!n_var}" -v b="${!p_var}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')"
  printf -v "${up}_PAIR_RATIO" '%s' "$(awk -v r="$(median "${ratios[@]}")" 'BEGIN { printf "%.2f", r }')"
  row median nextcrm "${!n_var}" "$(median "${n_p50[@]}")" "$(median "${n_p99[@]}")" "" "$(median "${n_app[@]}")" "$(median "${n_pg[@]}")"
  row median pgbench "${!p_var}" "$(median "${p_p50[@]}")" "$(median "${p_p99[@]}")" "" - "$(median "${p_pg[@]}")"
  local r_var="${up}_RATIO" pr_var="${up}_PAIR_RATIO"
  echo "ratio nextcrm/pgbench (median req/s): ${!r_var}   per round (median of the rounds' ratios): ${!pr_var}"
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

verdict() { if awk -v v="$1" -v t="$3" "BEGIN { exit !(v $2 t) }"; then echo met; else echo "NOT met"; fi; }

summary() {
  local alive=yes errors warns statuses n_rows p_rows audit p_audit
  nextcrm_running "$RUN_DIR" || alive="NO (crashed?)"
  read -r n_rows p_rows audit p_audit < <(count_rows)
  tail -n "+${LOG_START}" "${RUN_DIR}/nextcrm.log" >"${RUN_DIR}/nextcrm-bench.log"
  errors="$(grep -c '"level":"error"' "${RUN_DIR}/nextcrm-bench.log" || true)"
  warns="$(grep -c '"level":"warn"' "${RUN_DIR}/nextcrm-bench.log" || true)"
  statuses="$(grep -o '"status":[0-9]*' "${RUN_DIR}/nextcrm-bench.log" | cut -d: -f2 | sort | uniq -c |
    awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
  echo
  echo "== summary (cores: $(nproc), ${ROUNDS} rounds of ${SECS}s, ${CONNECTIONS} connections/clients, nextcrm NEXTCRM_IO_THREADS=${NEXTCRM_IO_THREADS:-default} NEXTCRM_WORKERS=${NEXTCRM_WORKERS:-default} NEXTCRM_PG_CONNECTIONS=${NEXTCRM_PG_CONNECTIONS:-default}, pgbench $( ((PGB_PIPELINE)) && echo 'pipelined' || echo 'one round trip per statement') as ${PGB_ROLE}, fsync $([[ "${NEXTCRM_PG_FAST:-0}" == 1 ]] && echo off || echo on))"
  printf '%-34s %s\n' \
    "create req/s nextcrm/pgbench tps:" "${CREATE_N_RPS} / ${CREATE_P_RPS} = ${CREATE_RATIO} (per-round ${CREATE_PAIR_RATIO})   target >= 0.70: $(verdict "$CREATE_RATIO" '>=' 0.7)" \
    "create p99 ms nextcrm, pgbench:" "${CREATE_N_P99}, ${CREATE_P_P99}" \
    "create cpu us/request:" "nextcrm ${CREATE_N_APP} + postgres ${CREATE_N_PG}; pgbench's postgres ${CREATE_P_PG}" \
    "get req/s nextcrm/pgbench tps:" "${GET_N_RPS} / ${GET_P_RPS} = ${GET_RATIO} (per-round ${GET_PAIR_RATIO})   target >= 0.70: $(verdict "$GET_RATIO" '>=' 0.7)" \
    "get p99 ms nextcrm, pgbench:" "${GET_N_P99}, ${GET_P_P99}" \
    "get cpu us/request:" "nextcrm ${GET_N_APP} + postgres ${GET_N_PG}; pgbench's postgres ${GET_P_PG}" \
    "errors (non-2xx, socket, failed tx):" "${ERRORS}" \
    "customers created:" "nextcrm ${n_rows}, pgbench ${p_rows}; audit rows (create) ${audit}, of pgbench ${p_audit}   $([[ "$audit" == "$((n_rows + p_rows))" && "$p_audit" == "$p_rows" ]] && echo 'one per row' || echo 'NOT one per row')" \
    "nextcrm:" "alive ${alive}, log lines at error: ${errors}, at warn: ${warns}" \
    "answers logged (status xcount):" "${statuses}" \
    "machine:" "$( ((${#BUSY_PHASES[@]})) && echo "busy during: ${BUSY_PHASES[*]}" || echo "quiet (no cc1plus/other wrk/pgbench seen after each measurement)")"
}

main() {
  local type
  ERRORS=0
  BUSY_PHASES=()
  HZ="$(getconf CLK_TCK)"
  ensure_packages
  find_pgbench
  use_release_build
  # NEXTCRM_BIN names a binary: use it as it is
  if [[ -z "${NEXTCRM_BIN:-}" && "${NEXTCRM_SKIP_BUILD:-0}" != "1" ]]; then
    NEXTCRM_BUILD_TYPE=Release build
  fi
  type="$(build_type_of "$(dirname "$(nextcrm_bin)")")"
  [[ "$type" == Release ]] || warn "$(nextcrm_bin) is not from a Release build (${type:-unknown}): figures will be low"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_stack
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
