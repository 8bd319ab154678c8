#!/usr/bin/env bash
# Benchmark: the query DSL (issue 5) against pgbench running the server's own
# SQL on the same database, and the DSL layer alone.
#   test/bench/bench_query.sh
# Starts its own PostgreSQL, Redis and nextcrm (release build, logs to a file)
# in a temporary run folder, then:
#   0. Seeds BENCH_TENANTS tenants (POST /api/v1/tenants with the platform
#      token; each admin logs in) with BENCH_CUSTOMERS customers each: one
#      INSERT ... SELECT generate_series per tenant as nextcrm_app, with
#      app.tenant_id (and app.user_id) set in the same transaction (the audit
#      trigger writes one audit row per customer). Names: every 10th 'Acme <n>',
#      the others 'Other <n>'; status lead/active/churned in turn; created_at
#      spread over the last year (random(), fixed seed per tenant). Then
#      VACUUM (ANALYZE) customers, audit_logs and a CHECKPOINT (statistics,
#      hint bits and visibility map set, nothing left for autovacuum or the
#      checkpointer: no round pays for them).
#   1. query: POST /api/v1/customers/query with
#        {"filter":{"and":[{"field":"status","op":"eq","value":"active"},
#                          {"field":"name","op":"starts_with","value":"Acme"}]},
#         "sort":[{"field":"created_at","dir":"desc"}],"page":{"size":50}}
#      with `wrk -t2 -c64 --latency` (the tenants' admin tokens in turn)
#      against `pgbench -c64 -j2 -M prepared` running the same statements as
#      the app role nextcrm_app (RLS is forced), the tenants in turn (one
#      script per tenant, picked at random per transaction):
#        BEGIN;
#        SELECT set_config('app.tenant_id', :tenant, true);
#        SELECT set_config('statement_timeout', :timeout, true),
#               set_config('plan_cache_mode', 'force_custom_plan', true);
#        SELECT <the server's customer columns> FROM customers
#          WHERE tenant_id = $1 AND ((status = $2::text AND (name ~>=~ $3::text
#            AND name ~<~ $4::text)))   -- starts_with 'Acme': ['Acme', 'Acmf')
#          ORDER BY created_at DESC, id DESC LIMIT 51;   -- 'active', 'Acme%'
#        COMMIT;
#      The server sends the same three statements as one pipelined implicit
#      transaction (set_config('app.tenant_id') and the SELECT as unnamed
#      statements, the statement_timeout one prepared). Checked before
#      measuring: every tenant's answer has 50 rows, all active 'Acme...',
#      newest first, and a next_cursor; the pgbench transaction (through psql
#      as the pgbench role) reads the same rows in the same order; and, with
#      log_statement=all for one request and one pgbench transaction, the
#      statements and parameters PostgreSQL received from both are the same
#      (the pgbench text spells the timestamp format E'..\x3A..', see
#      customer_columns in bench_lib.sh: the same value).
#      For each side: req/s (tps), p50, p99, errors, CPU per request
#      (nextcrm's, and PostgreSQL's). pgbench runs BENCH_WARMUP_SECONDS +
#      BENCH_SECONDS and only the transactions of its per-transaction log that
#      end in the last BENCH_SECONDS count (its backends are new every run).
#      Medians over BENCH_ROUNDS alternating rounds, ratio nextcrm/pgbench of
#      the medians and the median of the per-round ratios. Targets (printed,
#      not enforced): nextcrm p99 < 20 ms, ratio >= 0.60.
#      BENCH_PGBENCH_PIPELINE=1 sends each pgbench transaction as one
#      pipeline (one round trip, as the server does).
#   2. The DSL layer alone: build/nextcrm_query_bench (parse + validate + SQL
#      build per query, no I/O), its lines in the summary.
# Before each measurement the bench waits (up to BENCH_QUIET_WAIT seconds)
# until no compiler (cc1plus), other wrk or pgbench runs and the machine is
# idle (under BENCH_QUIET_CPU % of a core over 1 s), and after each it notes
# (summary: "machine") if either was not so.
# 64 pgbench backends on 2 cores cost PostgreSQL far more per transaction
# than nextcrm's 8 pool connections: BENCH_PGBENCH_CLIENTS=8 shows the
# database's best case.
#
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
# BENCH_CONNECTIONS (64, wrk connections and pgbench clients),
# BENCH_PGBENCH_CLIENTS (pgbench clients when not BENCH_CONNECTIONS),
# BENCH_THREADS (2, wrk threads), BENCH_PGBENCH_JOBS (2),
# BENCH_PGBENCH_ROLE (nextcrm_app), BENCH_PGBENCH_PIPELINE (0),
# BENCH_PGBENCH_MODE (prepared, or extended: pgbench's -M; the server sends
# the SELECT unprepared, as extended does), BENCH_TENANTS (10, at most 128),
# BENCH_CUSTOMERS (20000 per tenant), BENCH_MICRO_ITERATIONS (100000),
# BENCH_QUIET_WAIT (600), BENCH_QUIET_CPU (30), NEXTCRM_BIN (use this
# binary, no build), NEXTCRM_SKIP_BUILD=1, NEXTCRM_QUERY_BENCH_BIN (default: nextcrm_query_bench
# next to the nextcrm binary), NEXTCRM_IO_THREADS / NEXTCRM_WORKERS /
# NEXTCRM_PG_CONNECTIONS / NEXTCRM_LOG_LEVEL / NEXTCRM_QUERY_TIMEOUT_MS
# (passed to nextcrm; the last also to pgbench), NEXTCRM_PG_FAST=1 (no fsync
# in the private cluster), NEXTCRM_KEEP_RUN=1 (keep the run folder, its
# wrk/pgbench reports and logs).
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_knobs
TENANTS="${BENCH_TENANTS:-10}"
CUSTOMERS="${BENCH_CUSTOMERS:-20000}"
MICRO_ITERATIONS="${BENCH_MICRO_ITERATIONS:-100000}"
QUERY_TIMEOUT_MS="${NEXTCRM_QUERY_TIMEOUT_MS:-2000}"
PAGE_SIZE=50
STATUS=active
PREFIX=Acme
QUERY_BODY="{\"filter\":{\"and\":[{\"field\":\"status\",\"op\":\"eq\",\"value\":\"${STATUS}\"},{\"field\":\"name\",\"op\":\"starts_with\",\"value\":\"${PREFIX}\"}]},\"sort\":[{\"field\":\"created_at\",\"dir\":\"desc\"}],\"page\":{\"size\":${PAGE_SIZE}}}"
# the trace id of the seeded rows' audit rows
SEED_TRACE=5eed5eed5eed5eed5eed5eed5eed5eed

for knob in TENANTS CUSTOMERS MICRO_ITERATIONS QUERY_TIMEOUT_MS; do
  [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "${knob} must be a positive integer (got '${!knob}')"
done
((TENANTS <= 128)) || die "BENCH_TENANTS must be at most 128 (pgbench takes at most 128 scripts)"

# ---------------------------------------------------------------- data

# Creates the tenants and logs their admins in: TENANT_IDS, ADMIN_IDS, TOKENS.
create_tenants() {
  local k
  TENANT_IDS=() ADMIN_IDS=() TOKENS=()
  for ((k = 1; k <= TENANTS; k++)); do
    create_tenant "qbench${k}" "admin@qbench${k}.test"
    TENANT_IDS+=("$TENANT_ID") ADMIN_IDS+=("$ADMIN_ID") TOKENS+=("$TOKEN")
  done
  log "created ${TENANTS} tenants, their admins logged in"
}

# CUSTOMERS customers per tenant, one INSERT ... SELECT each, as the app role
# (RLS: app.tenant_id set in the same transaction); sets SEED_SECS.
seed_customers() {
  local k t0=$SECONDS
  for ((k = 0; k < TENANTS; k++)); do
    psql_as nextcrm_app <<SQL || die "seeding the customers of tenant $((k + 1)) failed"
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_IDS[k]}', true), set_config('app.user_id', '${ADMIN_IDS[k]}', true), set_config('app.trace_id', '${SEED_TRACE}', true) \\g /dev/null
SELECT setseed($((k + 1)) / 1000.0) \\g /dev/null
INSERT INTO customers (tenant_id, id, name, email, status, annual_revenue, created_at, updated_at)
SELECT '${TENANT_IDS[k]}', gen_random_uuid(),
       CASE WHEN g % 10 = 0 THEN '${PREFIX} ' ELSE 'Other ' END || g,
       'c' || g || '@seed.test',
       (ARRAY['lead', 'active', 'churned'])[1 + g % 3],
       (g % 1000) * 100.00, ts, ts
  FROM (SELECT g, now() - random() * interval '365 days' AS ts FROM generate_series(1, ${CUSTOMERS}) AS g) AS s;
COMMIT;
SQL
  done
  # statistics; and nothing left for autovacuum (200k new audit rows) or
  # the checkpointer to do during the measurements
  pg_psql "$PG_PORT" nextcrm -c "VACUUM (ANALYZE) customers, audit_logs" -c "CHECKPOINT" >/dev/null
  SEED_SECS=$((SECONDS - t0))
  # superuser: no RLS
  read -r SEED_ROWS SEED_AUDIT SEED_MATCH_MIN SEED_MATCH_MAX < <(pg_psql "$PG_PORT" nextcrm -Atc "SELECT
      (SELECT count(*) FROM customers),
      (SELECT count(*) FROM audit_logs WHERE entity = 'customers' AND trace_id = '${SEED_TRACE}'),
      min(n), max(n)
    FROM (SELECT count(*) AS n FROM customers WHERE status = '${STATUS}' AND name LIKE '${PREFIX}%' GROUP BY tenant_id) AS m" |
    tr '|' ' ')
  [[ "$SEED_ROWS" == "$((TENANTS * CUSTOMERS))" ]] || die "expected $((TENANTS * CUSTOMERS)) customers, found ${SEED_ROWS}"
  log "seeded ${SEED_ROWS} customers (${SEED_AUDIT} audit rows) in ${SEED_SECS}s; active '${PREFIX}%' per tenant: ${SEED_MATCH_MIN}..${SEED_MATCH_MAX}"
}

# ---------------------------------------------------------------- sql

# query_sql TENANT STATUS LOWER UPPER [server]: the SELECT the server builds for
# QUERY_BODY (actors/api/api_entities.cpp handle_query_api, protocols/query.cpp:
# the filter in parentheses, the id tie-breaker, LIMIT page size + 1).
# `server`: with the server's spelling of the timestamp format.
query_sql() {
  local ts="E'YYYY-MM-DD\"T\"HH24\\x3AMI\\x3ASS.US\"Z\"'" cols="" i=0 c
  [[ "${5:-}" == server ]] && ts="'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
  # the query select list is aliased (c0, c1, ...: storage/sql/entity_sql.cpp entity_columns)
  for c in "id::text" "to_char(created_at AT TIME ZONE 'UTC', ${ts})" "to_char(updated_at AT TIME ZONE 'UTC', ${ts})" \
    "version::text" name email phone status "owner_id::text" "annual_revenue::text" tax_id notes; do
    cols+="${cols:+, }${c} AS c${i}"
    i=$((i + 1))
  done
  # starts_with: the byte-order range of the prefix (protocols/query.cpp)
  printf '%s' "SELECT ${cols} FROM customers WHERE tenant_id = $1 AND ((status = $2::text AND (name ~>=~ $3::text AND name ~<~ $4::text))) ORDER BY created_at DESC, id DESC LIMIT $((PAGE_SIZE + 1))"
}

# The least string above every string starting with PREFIX (ASCII): its last
# character moved to the next one ("Acme" -> "Acmf").
prefix_upper() {
  local last="${1: -1}"
  printf '%s%b' "${1%?}" "\\$(printf '%03o' $(($(printf '%d' "'${last}") + 1)))"
}

# One pgbench script per tenant (query-K.sql, the tenant in :tenantK).
write_pgbench_scripts() {
  local k
  QUERY_SCRIPTS=()
  for ((k = 1; k <= TENANTS; k++)); do
    pgbench_script "${RUN_DIR}/query-${k}.sql" \
      BEGIN \
      "SELECT set_config('app.tenant_id', :tenant${k}, true)" \
      "SELECT set_config('statement_timeout', :timeout, true), set_config('plan_cache_mode', 'force_custom_plan', true)" \
      "$(query_sql ":tenant${k}" :status :lower :upper)" \
      COMMIT
    QUERY_SCRIPTS+=(-f "${RUN_DIR}/query-${k}.sql")
  done
}

# The variables of the scripts.
pgbench_defs() {
  local k
  PGB_DEFS=(-D "timeout=${QUERY_TIMEOUT_MS}" -D "status=${STATUS}" -D "lower=${PREFIX}"
    -D "upper=$(prefix_upper "$PREFIX")")
  for ((k = 1; k <= TENANTS; k++)); do PGB_DEFS+=(-D "tenant${k}=${TENANT_IDS[k - 1]}"); done
}

# pgbench_args PHASE (see run_pgbench in bench_lib.sh): every tenant's script.
pgbench_args() {
  pgbench_defs
  PGB_ARGS=("${PGB_DEFS[@]}" "${QUERY_SCRIPTS[@]}")
}

# ---------------------------------------------------------------- http

# The wrk script: the query of QUERY_BODY with the tenants' tokens in turn,
# each thread starting at its own place.
write_query_lua() {
  local token
  {
    echo 'local tokens = {'
    for token in "${TOKENS[@]}"; do echo "  \"${token}\","; done
    echo '}'
    cat <<LUA
local body = [[${QUERY_BODY}]]

local count = 0

function setup(thread)
  count = count + 1
  thread:set("tno", count)
end

function init(args)
  reqs = {}
  for k, token in ipairs(tokens) do
    reqs[k] = wrk.format("POST", "/api/v1/customers/query",
      { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
  end
  i = tno
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
LUA
  } >"$1"
}

# ---------------------------------------------------------------- checks

# Checks, before measuring, that both sides do what they should: every
# tenant's page through nextcrm, and the pgbench transaction through psql as
# the pgbench role (a missing tenant setting would read no row) reads the
# same rows in the same order. Saves the plan of tenant 1's query (PLAN; the
# second run in its session, caches warm).
check_paths() {
  local k status out rows want
  for ((k = 0; k < TENANTS; k++)); do
    out="${RUN_DIR}/check-query-$((k + 1)).json"
    status="$(api POST /api/v1/customers/query "$out" -H "Authorization: Bearer ${TOKENS[k]}" \
      -H 'Content-Type: application/json' --data "$QUERY_BODY")"
    [[ "$status" == 200 ]] || die "POST /api/v1/customers/query (tenant $((k + 1))) answered ${status}: $(head -c 500 "$out")"
    jq -e --argjson n "$PAGE_SIZE" --arg s "$STATUS" --arg p "$PREFIX" '
        (.data | length) == $n and (.page.next_cursor | type) == "string" and .page.size == $n
        and all(.data[]; .status == $s and (.name | startswith($p)))
        and ([.data[].created_at] == ([.data[].created_at] | sort | reverse))' "$out" >/dev/null ||
      die "tenant $((k + 1)): the answer is not ${PAGE_SIZE} active '${PREFIX}...' rows newest first with a next_cursor: $(head -c 500 "$out")"
  done
  rows="$(psql_as "$PGB_ROLE" <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_IDS[0]}', true) \\g /dev/null
SELECT set_config('statement_timeout', '${QUERY_TIMEOUT_MS}', true), set_config('plan_cache_mode', 'force_custom_plan', true) \\g /dev/null
$(query_sql "'${TENANT_IDS[0]}'" "'${STATUS}'" "'${PREFIX}'" "'$(prefix_upper "$PREFIX")'");
COMMIT;
SQL
)" || die "the pgbench transaction failed as ${PGB_ROLE}"
  [[ "$(grep -c . <<<"$rows")" == "$((PAGE_SIZE + 1))" ]] ||
    die "the pgbench transaction read $(grep -c . <<<"$rows") rows, not $((PAGE_SIZE + 1))"
  want="$(jq -r '.data[] | "\(.id)|\(.created_at)|\(.name)|\(.status)"' "${RUN_DIR}/check-query-1.json")"
  [[ "$(head -n "$PAGE_SIZE" <<<"$rows" | awk -F'|' '{ print $1 "|" $2 "|" $5 "|" $8 }')" == "$want" ]] ||
    die "the pgbench transaction and nextcrm read different rows (see ${RUN_DIR}/check-query-1.json)"
  PLAN="$(psql_as "$PGB_ROLE" <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_IDS[0]}', true) \\g /dev/null
$(query_sql "'${TENANT_IDS[0]}'" "'${STATUS}'" "'${PREFIX}'" "'$(prefix_upper "$PREFIX")'") \\g /dev/null
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF) $(query_sql "'${TENANT_IDS[0]}'" "'${STATUS}'" "'${PREFIX}'" "'$(prefix_upper "$PREFIX")'");
COMMIT;
SQL
)" || die "EXPLAIN of the query failed"
  printf '%s\n' "$PLAN" >"${RUN_DIR}/plan.txt"
  PLAN="$(awk '/\(actual/ { s = $0; sub(/^ *(-> *)?/, "", s); sub(/ *\(actual.*/, "", s); out = out (out ? " > " : "") s }
      /Rows Removed by Filter/ { removed += $NF }
      /^Execution Time/ { t = $3 }
      END { printf "%s; rows removed by filter %d; %s ms", out, removed, t }' "${RUN_DIR}/plan.txt")"
  log "checked: ${TENANTS} tenants' pages through nextcrm, and the pgbench transaction as ${PGB_ROLE} (same rows, same order); plan: ${PLAN}"
}

# The statements PostgreSQL logged (log_statement=all) in FILE, one a line:
# pid <TAB> statement <TAB> parameters.
logged_statements() {
  awk '
    function pid_of(line) { match(line, /\[[0-9]+\]/); return substr(line, RSTART + 1, RLENGTH - 2) }
    / LOG:  execute [^:]*: / {
      p = pid_of($0); s = $0; sub(/^.* LOG:  execute [^:]*: /, "", s)
      n++; P[n] = p; S[n] = s; D[n] = ""; last[p] = n; next
    }
    / DETAIL:  parameters: / {
      p = pid_of($0); d = $0; sub(/^.* DETAIL:  parameters: /, "", d)
      if (p in last) D[last[p]] = d
    }
    END { for (i = 1; i <= n; i++) print P[i] "\t" S[i] "\t" D[i] }' "$1"
}

# query_statements FILE: "statement <TAB> parameters" of the connection that
# ran the query's SELECT in FILE (a slice of postgres.log), in order.
query_statements() {
  local pid
  pid="$(logged_statements "$1" | awk -F'\t' 'index($2, " FROM customers WHERE tenant_id = $1 AND ((") { print $1; exit }')"
  [[ -n "$pid" ]] || return 0
  logged_statements "$1" | awk -F'\t' -v p="$pid" '$1 == p' | cut -f2-
}

# Logs every statement (log_statement=all) while one query goes through
# nextcrm and one transaction of tenant 1's script through pgbench, and
# checks that PostgreSQL received the same statements with the same
# parameters from both: the two set_config and the SELECT (pgbench's texts
# end in ';' and spell the timestamp format E'...\x3A...': the same value).
check_sql() {
  local pglog off1 off2 status out="${RUN_DIR}/check-sql.json" server pgb want
  local lit="'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'" esc="E'YYYY-MM-DD\"T\"HH24\\x3AMI\\x3ASS.US\"Z\"'"
  pglog="$(pg_home "${RUN_DIR}/pg")/postgres.log"
  pg_psql "$PG_PORT" nextcrm -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  off1="$(stat -c %s "$pglog")"
  status="$(api POST /api/v1/customers/query "$out" -H "Authorization: Bearer ${TOKENS[0]}" \
    -H 'Content-Type: application/json' --data "$QUERY_BODY")"
  sleep 0.2
  off2="$(stat -c %s "$pglog")"
  pgbench_defs
  "$PGBENCH" -n -M "$PGB_MODE" -c 1 -j 1 -t 1 "${PGB_CONN[@]}" "${PGB_DEFS[@]}" -f "${RUN_DIR}/query-1.sql" "$PGB_DB" \
    >"${RUN_DIR}/check-sql-pgbench.txt" 2>&1 || status="pgbench failed: $(tail -n 5 "${RUN_DIR}/check-sql-pgbench.txt")"
  sleep 0.2
  pg_psql "$PG_PORT" nextcrm -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
  [[ "$status" == 200 ]] || die "the logged query: ${status} $(head -c 300 "$out")"
  tail -c "+$((off1 + 1))" "$pglog" | head -c "$((off2 - off1))" >"${RUN_DIR}/sql-nextcrm.log"
  tail -c "+$((off2 + 1))" "$pglog" >"${RUN_DIR}/sql-pgbench.log"
  # nextcrm: the statements up to the SELECT (one pipelined request)
  server="$(query_statements "${RUN_DIR}/sql-nextcrm.log" | grep -B2 -m1 -F ' FROM customers WHERE ' || true)"
  # pgbench: without BEGIN and COMMIT and the ';' that ends every statement
  # of its scripts, the format spelled as the server does
  pgb="$(query_statements "${RUN_DIR}/sql-pgbench.log" | sed 's/;\t/\t/' | grep -v -x -e $'BEGIN\t' -e $'COMMIT\t' || true)"
  pgb="${pgb//"$esc"/"$lit"}"
  printf '%s\n' "$server" >"${RUN_DIR}/sql-nextcrm.txt"
  printf '%s\n' "$pgb" >"${RUN_DIR}/sql-pgbench.txt"
  [[ -n "$server" && "$server" == "$pgb" ]] || {
    diff "${RUN_DIR}/sql-nextcrm.txt" "${RUN_DIR}/sql-pgbench.txt" >&2 || true
    die "nextcrm and pgbench sent different statements (above: < nextcrm, > pgbench; logs: ${RUN_DIR}/sql-*.log)"
  }
  want="SELECT set_config('app.tenant_id', \$1, true)"$'\t'"\$1 = '${TENANT_IDS[0]}'"
  want+=$'\n'"SELECT set_config('statement_timeout', \$1, true), set_config('plan_cache_mode', 'force_custom_plan', true)"$'\t'"\$1 = '${QUERY_TIMEOUT_MS}'"
  want+=$'\n'"$(query_sql "\$1" "\$2" "\$3" "\$4" server)"$'\t'"\$1 = '${TENANT_IDS[0]}', \$2 = '${STATUS}', \$3 = '${PREFIX}', \$4 = '$(prefix_upper "$PREFIX")'"
  [[ "$server" == "$want" ]] || {
    printf '%s\n' "$want" | diff "${RUN_DIR}/sql-nextcrm.txt" - >&2 || true
    die "nextcrm sent other statements than this bench expects (above: < nextcrm, > expected)"
  }
  log "checked (log_statement=all): nextcrm and pgbench sent the same 3 statements with the same parameters:"
  sed 's/^/    /' "${RUN_DIR}/sql-nextcrm.txt" >&2
}

# ---------------------------------------------------------------- micro

# The DSL layer alone (no I/O): MICRO_LINES.
run_micro() {
  local bin="$QUERY_BENCH_BIN"
  MICRO_LINES=()
  if [[ ! -x "$bin" ]]; then
    warn "${bin} not found: the DSL micro-benchmark is skipped"
    MICRO_LINES=("not run: ${bin} not found")
    return 0
  fi
  wait_quiet
  echo
  echo "== 2. the DSL layer alone: ${bin} ${MICRO_ITERATIONS}"
  "$bin" "$MICRO_ITERATIONS" >"${RUN_DIR}/micro.txt" 2>&1 ||
    { cat "${RUN_DIR}/micro.txt" >&2; die "${bin} failed"; }
  note_busy "micro-benchmark"
  cat "${RUN_DIR}/micro.txt"
  mapfile -t MICRO_LINES <"${RUN_DIR}/micro.txt"
}

# ---------------------------------------------------------------- summary

summary() {
  local -a micro=()
  local l label="dsl micro (nextcrm_query_bench):"
  for l in "${MICRO_LINES[@]}"; do
    micro+=("$label" "$l")
    label=""
  done
  echo
  echo "== summary ($(summary_settings))"
  printf '%-34s %s\n' \
    "data:" "${TENANTS} tenants x ${CUSTOMERS} customers (${SEED_ROWS} rows, ${SEED_AUDIT} audit rows) seeded in ${SEED_SECS}s; active '${PREFIX}%' per tenant ${SEED_MATCH_MIN}..${SEED_MATCH_MAX}" \
    "query req/s nextcrm/pgbench tps:" "${QUERY_N_RPS} / ${QUERY_P_RPS} = ${QUERY_RATIO} (per-round ${QUERY_PAIR_RATIO})   target >= 0.60: $(verdict "$QUERY_RATIO" '>=' 0.6)" \
    "query p99 ms nextcrm, pgbench:" "${QUERY_N_P99}, ${QUERY_P_P99}   target nextcrm < 20 ms: $(verdict "$QUERY_N_P99" '<' 20)" \
    "query p50 ms nextcrm, pgbench:" "${QUERY_N_P50}, ${QUERY_P_P50}" \
    "query cpu us/request:" "nextcrm ${QUERY_N_APP} + postgres ${QUERY_N_PG}; pgbench's postgres ${QUERY_P_PG}" \
    "plan (tenant 1, EXPLAIN ANALYZE):" "${PLAN}" \
    "sql:" "nextcrm and pgbench sent the same statements and parameters (log_statement=all; pgbench's end in ';' and spell the format E'..\\x3A..')" \
    "${micro[@]}"
  summary_tail
}

main() {
  bench_setup
  QUERY_BENCH_BIN="${NEXTCRM_QUERY_BENCH_BIN:-$(dirname "$(nextcrm_bin)")/nextcrm_query_bench}"
  start_bench_stack
  echo "cores: $(nproc)   nextcrm: http://127.0.0.1:${HTTP_PORT} (pid ${NEXTCRM_PID}, log to file)   postgres: 127.0.0.1:${PG_PORT} (pid ${PG_PID})   $("$PGBENCH" --version)"
  create_tenants
  seed_customers
  pgbench_conn
  write_pgbench_scripts
  check_paths
  check_sql
  write_query_lua "${RUN_DIR}/query.lua"
  bench_pair query "1. query: POST /api/v1/customers/query (status eq + name starts_with, created_at desc, page 50; ${TENANTS} tenants) vs pgbench BEGIN; set_config x2; SELECT ... LIMIT $((PAGE_SIZE + 1)); COMMIT"
  run_micro
  summary
  log "wrk/pgbench reports and logs: ${RUN_DIR} (removed on exit unless NEXTCRM_KEEP_RUN=1)"
}

main "$@"
