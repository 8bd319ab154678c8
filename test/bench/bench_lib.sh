#!/usr/bin/env bash
# Helpers shared by the benchmarks in test/bench (sourced, not run).
# Needs THREADS and CONNECTIONS set by the caller, and deploy/lib.sh.

# wrk_run URL DURATION OUT [WRK OPTIONS...]: one wrk run with THREADS and
# CONNECTIONS (unless the options override them), its report in OUT.
wrk_run() {
  local url="$1" duration="$2" out="$3"
  shift 3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "$@" "$url" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed against ${url}"; }
}

# Prints "req_per_s p50_ms p99_ms non2xx" from a wrk --latency report.
wrk_parse() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
      return v + 0
    }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad + 0 }
  ' "$1"
}

# Prints the CPU time (user + system, in clock ticks) of the processes PIDS.
cpu_ticks() {
  local pid total=0 t
  for pid in "$@"; do
    t="$(awk '{ print $14 + $15 }' "/proc/${pid}/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}

# Prints "tid name ticks" for every thread of process PID (user + system
# clock ticks; names as the threads set them: nx-io-N, nx-storage,
# caf.worker..., caf.clock).
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    [[ -r "${t}/stat" ]] || continue
    # comm may hold spaces: the fields after the last ')' are fixed
    awk -v tid="${t##*/}" -v name="$(cat "${t}/comm" 2>/dev/null | tr ' ' '_')" \
      '{ sub(/.*\) /, ""); print tid, name, $12 + $13 }' "${t}/stat" 2>/dev/null
  done
}

# THREAD_CPU[name] accumulates ticks per thread name over the measured runs,
# THREAD_SECS their seconds; thread_cpu_report prints each name's share of
# one core (the busiest first): a thread near 100% is the ceiling.
declare -gA THREAD_CPU=()
THREAD_SECS=0
thread_cpu_add() {  # BEFORE_FILE AFTER_FILE SECONDS
  local tid name ticks
  declare -A before=()
  while read -r tid name ticks; do before[$tid]=$ticks; done <"$1"
  while read -r tid name ticks; do
    THREAD_CPU[$name]=$((${THREAD_CPU[$name]:-0} + ticks - ${before[$tid]:-0}))
  done <"$2"
  THREAD_SECS=$((THREAD_SECS + $3))
}
thread_cpu_report() {
  local hz name
  hz="$(getconf CLK_TCK)"
  ((THREAD_SECS > 0)) || return 0
  for name in "${!THREAD_CPU[@]}"; do
    printf '%s %s\n' "${THREAD_CPU[$name]}" "$name"
  done | sort -rn | awk -v hz="$hz" -v secs="$THREAD_SECS" \
    '$1 > 0 { printf "%s%s %.0f%%", sep, $2, 100 * $1 / hz / secs; sep = ", " } END { print "" }'
}

# The median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# build/ when it is (or will be) a Release build; otherwise build-release/,
# so that the bench never changes the build type of someone's build/.
use_release_build() {
  local type
  type="$(build_type_of "$NEXTCRM_BUILD_DIR")"
  if [[ -n "$type" && "$type" != Release && -z "${NEXTCRM_BIN:-}" ]]; then
    NEXTCRM_BUILD_DIR="${NEXTCRM_ROOT}/build-release"
    log "build/ is a ${type} build: using ${NEXTCRM_BUILD_DIR}"
  fi
}

# What every benchmark does first: the packages, a Release build (build/
# when it is one, else build-release/) unless NEXTCRM_SKIP_BUILD=1.
bench_prepare() {
  ensure_packages
  use_release_build
  if [[ "${NEXTCRM_SKIP_BUILD:-0}" != "1" ]]; then
    NEXTCRM_BUILD_TYPE=Release build
  fi
}

# Starts a private PostgreSQL, Redis and `nextcrm serve` on free loopback
# ports in a new RUN_DIR (fresh platform token and JWT key) and waits until
# /health answers. Sets RUN_DIR, PG_PORT, REDIS_PORT, HTTP_PORT, ADMIN_PORT.
# shellcheck disable=SC2034  # the ports are read by export_nextcrm_env (deploy/lib.sh)
start_nextcrm_stack() {
  local -a ports
  RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/nextcrm-bench.XXXXXX")"
  mapfile -t ports < <(free_port 4)
  PG_PORT="${ports[0]}"
  REDIS_PORT="${ports[1]}"
  HTTP_PORT="${ports[2]}"
  ADMIN_PORT="${ports[3]}"
  start_databases
  nextcrm_start "$RUN_DIR" serve --role=all
  wait_http "http://127.0.0.1:${HTTP_PORT}/health" 60 "${RUN_DIR}/nextcrm.pid" ||
    { tail -n 20 "${RUN_DIR}/nextcrm.log" >&2; die "nextcrm did not become healthy"; }
}

# In RUN_DIR: PostgreSQL on PG_PORT and Redis on REDIS_PORT, migrated, the
# NEXTCRM_* settings exported (HTTP_PORT and ADMIN_PORT: the first node's)
# with a fresh platform token and JWT key.
start_databases() {
  pg_init_start "${RUN_DIR}/pg" "$PG_PORT"
  redis_start "${RUN_DIR}/redis" "$REDIS_PORT"
  export_nextcrm_env
  export NEXTCRM_PLATFORM_TOKEN NEXTCRM_JWT_KEYS
  NEXTCRM_PLATFORM_TOKEN="$(openssl rand -hex 32)"
  NEXTCRM_JWT_KEYS="$(jwt_key_entry bench-k1)"
  nextcrm_migrate "${RUN_DIR}/migrate.log"
}

# Stops what start_nextcrm_stack started; shows nextcrm's last non-request
# log lines when the bench failed (RC != 0); keeps RUN_DIR with NEXTCRM_KEEP_RUN=1.
stop_nextcrm_stack() {
  local rc="$1"
  [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]] || return 0
  if ((rc != 0)) && [[ -s "${RUN_DIR}/nextcrm.log" ]]; then
    echo "--- last lines of ${RUN_DIR}/nextcrm.log (non-request lines):" >&2
    grep -v '"msg":"request"' "${RUN_DIR}/nextcrm.log" | tail -n 30 >&2
  fi
  nextcrm_stop "$RUN_DIR"
  redis_stop "${RUN_DIR}/redis"
  if [[ "${NEXTCRM_KEEP_RUN:-0}" == "1" ]]; then
    pg_stop "${RUN_DIR}/pg"
    log "run folder kept: ${RUN_DIR}"
  else
    pg_destroy "${RUN_DIR}/pg"
    rm -rf "$RUN_DIR"
  fi
}

# ================================================================ pgbench pairs
# The rest: benchmarks that measure an endpoint with wrk against pgbench
# running the server's own SQL on the same database, in the same run
# (bench_entities.sh, bench_query.sh). The caller runs bench_knobs, then
# bench_setup, start_bench_stack, and defines
#   pgbench_args PHASE: sets the array PGB_ARGS to pgbench's -D and -f
#     options of PHASE,
# and writes ${RUN_DIR}/PHASE.lua, the wrk script of PHASE (it builds every
# request: the URL wrk is given only names the server).

# Reads the knobs shared by these benchmarks (see bench_entities.sh).
# shellcheck disable=SC2034  # used by the callers and the functions below
bench_knobs() {
  local knob
  ROUNDS="${BENCH_ROUNDS:-3}"
  SECS="${BENCH_SECONDS:-10}"
  WARMUP_SECS="${BENCH_WARMUP_SECONDS:-3}"
  CONNECTIONS="${BENCH_CONNECTIONS:-64}"
  PGB_CLIENTS="${BENCH_PGBENCH_CLIENTS:-$CONNECTIONS}"
  THREADS="${BENCH_THREADS:-2}"
  PGB_JOBS="${BENCH_PGBENCH_JOBS:-2}"
  PGB_ROLE="${BENCH_PGBENCH_ROLE:-nextcrm_app}"
  PGB_PIPELINE="${BENCH_PGBENCH_PIPELINE:-0}"
  PGB_MODE="${BENCH_PGBENCH_MODE:-prepared}"
  QUIET_WAIT="${BENCH_QUIET_WAIT:-600}"
  QUIET_CPU="${BENCH_QUIET_CPU:-30}"
  RUN_DIR=""
  PGB_PID=""
  for knob in ROUNDS SECS WARMUP_SECS CONNECTIONS PGB_CLIENTS THREADS PGB_JOBS QUIET_CPU; do
    [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "${knob} must be a positive integer (got '${!knob}')"
  done
  [[ "$PGB_PIPELINE" =~ ^[01]$ ]] || die "BENCH_PGBENCH_PIPELINE must be 0 or 1 (got '${PGB_PIPELINE}')"
  [[ "$PGB_MODE" =~ ^(prepared|extended)$ ]] ||
    die "BENCH_PGBENCH_MODE must be prepared or extended (got '${PGB_MODE}')"
}

# Packages, pgbench, the nextcrm binary (built unless NEXTCRM_BIN names one or
# NEXTCRM_SKIP_BUILD=1) and the traps (cleanup: bench_cleanup).
bench_setup() {
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
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local rc=$?
  set +e
  if [[ -n "$PGB_PID" ]]; then
    kill "$PGB_PID" 2>/dev/null
    wait "$PGB_PID" 2>/dev/null
  fi
  stop_nextcrm_stack "$rc"
}

# start_nextcrm_stack, plus NEXTCRM_PID, PG_PID (the postmaster) and
# LOG_START (the first line of nextcrm's log that the summary counts).
start_bench_stack() {
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

# The CPU the whole machine used over the next second, in % of one core
# (between measurements ours idle: what is left is other work, e.g. a test
# run or a fuzzer, or our cluster's autovacuum).
machine_cpu() {
  local -a a b
  read -r -a a < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  sleep 1
  read -r -a b < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  awk -v busy="$((b[0] - a[0]))" -v all="$((b[1] - a[1]))" -v n="$(nproc)" \
    'BEGIN { printf "%d\n", (all > 0) ? busy * 100 * n / all : 0 }'
}

# Prints what keeps the machine busy now (empty when it is quiet): compiler,
# wrk or pgbench pids, or more than QUIET_CPU % of a core used over 1 s (with
# the process that used the most CPU over its life).
machine_busy() {
  local busy cpu
  busy="$(busy_pids)"
  if [[ -n "${busy// /}" ]]; then
    echo "cc1plus/wrk/pgbench pids ${busy% }"
    return 0
  fi
  cpu="$(machine_cpu)"
  if ((cpu > QUIET_CPU)); then
    echo "${cpu}% of a core in use, e.g. $(ps -eo pid=,comm= --sort=-pcpu | head -n 1 | awk '{ print $2 " (pid " $1 ")" }')"
  fi
}

# Waits (up to QUIET_WAIT seconds) until no compiler, wrk or pgbench runs
# and the machine is idle: two cores are shared, and a build or a fuzzer
# next to the bench halves its figures.
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) busy
  while busy="$(machine_busy)" && [[ -n "$busy" ]]; do
    if ((SECONDS >= deadline)); then
      warn "still busy after ${QUIET_WAIT}s (${busy}): measuring anyway, figures will be low"
      return 0
    fi
    log "waiting for a quiet machine (${busy})"
    sleep 5
  done
}

# Notes when a compiler, another wrk or pgbench, or other CPU work runs right
# after the measurement that just ended (ours have exited by then): it most
# likely ran next to it, and its figures are then low.
note_busy() {
  local busy
  busy="$(machine_busy)"
  [[ -z "$busy" ]] && return 0
  warn "$1: the machine is busy (${busy}) right after this measurement, figures may be low"
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

verdict() { if awk -v v="$1" -v t="$3" "BEGIN { exit !(v $2 t) }"; then echo met; else echo "NOT met"; fi; }

# ---------------------------------------------------------------- http

# api METHOD PATH OUT [CURL OPTIONS...]: prints the HTTP status, body in OUT.
api() {
  local method="$1" path="$2" out="$3"
  shift 3
  curl -s -o "$out" -w '%{http_code}' --max-time 30 -X "$method" "$@" \
    "http://127.0.0.1:${HTTP_PORT}${path}" || true
}

# create_tenant SLUG EMAIL: creates a tenant with its admin (platform token)
# and logs the admin in; sets TENANT_ID, ADMIN_ID and TOKEN.
# shellcheck disable=SC2034  # read by the callers
create_tenant() {
  local slug="$1" email="$2" password status out="${RUN_DIR}/tenant-${1}.json"
  password="$(openssl rand -hex 12)"
  status="$(api POST /api/v1/tenants "$out" -H "Authorization: Bearer ${NEXTCRM_PLATFORM_TOKEN}" \
    -H 'Content-Type: application/json' \
    --data "{\"slug\":\"${slug}\",\"name\":\"Bench ${slug}\",\"admin\":{\"email\":\"${email}\",\"password\":\"${password}\"}}")"
  [[ "$status" == 201 ]] || die "POST /api/v1/tenants (${slug}) answered ${status}: $(cat "$out")"
  TENANT_ID="$(jq -r .data.id "$out")"
  ADMIN_ID="$(jq -r .data.admin_user_id "$out")"
  out="${RUN_DIR}/login-${slug}.json"
  status="$(api POST /api/v1/auth/login "$out" -H 'Content-Type: application/json' \
    --data "{\"tenant\":\"${slug}\",\"email\":\"${email}\",\"password\":\"${password}\"}")"
  [[ "$status" == 200 ]] || die "POST /api/v1/auth/login (${slug}) answered ${status}: $(cat "$out")"
  TOKEN="$(jq -r .access_token "$out")"
}

# ---------------------------------------------------------------- sql

# customer_columns [server]: the columns the server returns for a customer
# (storage/sql/entity_sql.cpp, registry order). pgbench replaces every ":name"
# of a statement, even inside a string literal, so the colons of the
# timestamp format are written as \x3A (E'...'): the same value. `server`:
# the server's own spelling ('...HH24:MI:SS...'), to compare with its log.
# shellcheck disable=SC2120 # the argument is optional
customer_columns() {
  local ts="E'YYYY-MM-DD\"T\"HH24\\x3AMI\\x3ASS.US\"Z\"'"
  [[ "${1:-}" == server ]] && ts="'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
  printf '%s' "id::text, to_char(created_at AT TIME ZONE 'UTC', ${ts}), to_char(updated_at AT TIME ZONE 'UTC', ${ts}), version::text, name, email, phone, status, owner_id::text, annual_revenue::text, tax_id, notes"
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

# ---------------------------------------------------------------- runs

# Sets R_RPS R_P50 R_P99 R_ERR R_REQ R_APP_US R_PG_US for one run.

# run_nextcrm PHASE SECONDS OUT: wrk with the phase's script.
run_nextcrm() {
  local phase="$1" secs="$2" out="$3" nb pb na pa sock
  thread_ticks "$NEXTCRM_PID" >"${RUN_DIR}/threads.before"
  nb="$(cpu_ticks "$NEXTCRM_PID")" pb="$(pg_cpu_ticks)"
  wrk_run "http://127.0.0.1:${HTTP_PORT}/" "${secs}s" "$out" -s "${RUN_DIR}/${phase}.lua"
  thread_ticks "$NEXTCRM_PID" >"${RUN_DIR}/threads.after"
  sleep 0.3 # the requests wrk cut off finish
  na="$(cpu_ticks "$NEXTCRM_PID")" pa="$(pg_cpu_ticks)"
  thread_cpu_add "${RUN_DIR}/threads.before" "${RUN_DIR}/threads.after" "$secs"
  read -r R_RPS R_P50 R_P99 R_ERR < <(wrk_parse "$out")
  sock="$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")"
  R_ERR=$((R_ERR + ${sock:-0}))
  R_REQ="$(awk '/requests in/ { print $1 }' "$out")"
  R_APP_US="$(per_request "$((na - nb))" "$R_REQ")"
  R_PG_US="$(per_request "$((pa - pb))" "$R_REQ")"
}

# run_pgbench PHASE SECONDS OUT: pgbench with the phase's options
# (pgbench_args) for WARMUP_SECS + SECONDS (+ 2 s of slack); only the
# SECONDS after the warm-up count. pgbench's backends are new on every run,
# and a new backend's first transactions cost far more than the steady state
# (catalog caches, plpgsql, pgbench's synchronous PQprepare of every
# statement of every script per client), while nextcrm's pool connections
# stay warm: so tps, p50 and p99 come from the transactions of its
# per-transaction log that ended inside the window, and PostgreSQL's CPU is
# read from the live backends at the window's edges.
run_pgbench() {
  local phase="$1" secs="$2" out="$3" prefix="${3%.txt}-log" pb pa t0 t1 rc=0 window
  pgbench_args "$phase"
  "$PGBENCH" -n -M "$PGB_MODE" -c "$PGB_CLIENTS" -j "$PGB_JOBS" -T "$((WARMUP_SECS + secs + 2))" \
    -l --log-prefix="$prefix" "${PGB_CONN[@]}" "${PGB_ARGS[@]}" "$PGB_DB" >"$out" 2>&1 &
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
# Sets <PHASE>_{N,P}_{RPS,P50,P99,APP,PG}, <PHASE>_RATIO, <PHASE>_PAIR_RATIO.
bench_pair() {
  local phase="$1" title="$2" round side out
  local -a first n_rps=() n_p50=() n_p99=() n_app=() n_pg=() p_rps=() p_p50=() p_p99=() p_pg=() ratios=()
  wait_quiet
  echo
  echo "== ${title}"
  echo "   nextcrm: wrk -t${THREADS} -c${CONNECTIONS} -d${SECS}s   pgbench: -c${PGB_CLIENTS} -j${PGB_JOBS} -M ${PGB_MODE} -T ${WARMUP_SECS}+${SECS}+2, the ${SECS}s after ${WARMUP_SECS}s counted$( ((PGB_PIPELINE)) && echo ' (one pipeline per transaction)')   rounds: ${ROUNDS}"
  # pgbench warms up inside each of its runs (see run_pgbench)
  run_nextcrm "$phase" "$WARMUP_SECS" "${RUN_DIR}/${phase}-warmup-nextcrm.txt"
  row round side 'req/s' 'p50 ms' 'p99 ms' errors 'nextcrm us' 'pg us'
  for ((round = 1; round <= ROUNDS; round++)); do
    # the side going first swaps every round (e.g. a table that grows)
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
  printf -v "${up}_N_P50" '%s' "$(median "${n_p50[@]}")"
  printf -v "${up}_N_P99" '%s' "$(median "${n_p99[@]}")"
  printf -v "${up}_N_APP" '%s' "$(median "${n_app[@]}")"
  printf -v "${up}_N_PG" '%s' "$(median "${n_pg[@]}")"
  printf -v "${up}_P_RPS" '%s' "$(median "${p_rps[@]}")"
  printf -v "${up}_P_P50" '%s' "$(median "${p_p50[@]}")"
  printf -v "${up}_P_P99" '%s' "$(median "${p_p99[@]}")"
  printf -v "${up}_P_PG" '%s' "$(median "${p_pg[@]}")"
  local n_var="${up}_N_RPS" p_var="${up}_P_RPS"
  printf -v "${up}_RATIO" '%s' "$(awk -v a="${!n_var}" -v b="${!p_var}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')"
  printf -v "${up}_PAIR_RATIO" '%s' "$(awk -v r="$(median "${ratios[@]}")" 'BEGIN { printf "%.2f", r }')"
  local n50="${up}_N_P50" n99="${up}_N_P99" napp="${up}_N_APP" npg="${up}_N_PG"
  local p50="${up}_P_P50" p99="${up}_P_P99" ppg="${up}_P_PG"
  row median nextcrm "${!n_var}" "${!n50}" "${!n99}" "" "${!napp}" "${!npg}"
  row median pgbench "${!p_var}" "${!p50}" "${!p99}" "" - "${!ppg}"
  local r_var="${up}_RATIO" pr_var="${up}_PAIR_RATIO"
  echo "ratio nextcrm/pgbench (median req/s): ${!r_var}   per round (median of the rounds' ratios): ${!pr_var}"
}

# ---------------------------------------------------------------- summary

# The summary's closing lines: nextcrm alive, its log lines at error/warn
# and the answers it logged since LOG_START, errors, the machine.
summary_tail() {
  local alive=yes errors warns statuses
  nextcrm_running "$RUN_DIR" || alive="NO (crashed?)"
  tail -n "+${LOG_START}" "${RUN_DIR}/nextcrm.log" >"${RUN_DIR}/nextcrm-bench.log"
  errors="$(grep -c '"level":"error"' "${RUN_DIR}/nextcrm-bench.log" || true)"
  warns="$(grep -c '"level":"warn"' "${RUN_DIR}/nextcrm-bench.log" || true)"
  statuses="$(grep -o '"status":[0-9]*' "${RUN_DIR}/nextcrm-bench.log" | cut -d: -f2 | sort | uniq -c |
    awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
  printf '%-34s %s\n' \
    "nextcrm threads (% of a core):" "$(thread_cpu_report)" \
    "errors (non-2xx, socket, failed tx):" "${ERRORS}" \
    "nextcrm:" "alive ${alive}, log lines at error: ${errors}, at warn: ${warns}" \
    "answers logged (status xcount):" "${statuses}" \
    "machine:" "$( ((${#BUSY_PHASES[@]})) && echo "busy during: ${BUSY_PHASES[*]}" || echo "quiet (no cc1plus/other wrk/pgbench, under ${QUIET_CPU}% of a core used, after each measurement)")"
}

# The settings line of the summary's title.
summary_settings() {
  printf '%s' "cores: $(nproc), ${ROUNDS} rounds of ${SECS}s, ${CONNECTIONS} connections, ${PGB_CLIENTS} pgbench clients, nextcrm NEXTCRM_IO_THREADS=${NEXTCRM_IO_THREADS:-default} NEXTCRM_WORKERS=${NEXTCRM_WORKERS:-default} NEXTCRM_FRONTS=${NEXTCRM_FRONTS:-default} NEXTCRM_PG_CONNECTIONS=${NEXTCRM_PG_CONNECTIONS:-default}, pgbench -M ${PGB_MODE} $( ((PGB_PIPELINE)) && echo 'pipelined' || echo 'one round trip per statement') as ${PGB_ROLE}, fsync $([[ "${NEXTCRM_PG_FAST:-0}" == 1 ]] && echo off || echo on)"
}
