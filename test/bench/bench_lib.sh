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
  pg_init_start "${RUN_DIR}/pg" "$PG_PORT"
  redis_start "${RUN_DIR}/redis" "$REDIS_PORT"
  export_nextcrm_env
  export NEXTCRM_PLATFORM_TOKEN NEXTCRM_JWT_KEYS
  NEXTCRM_PLATFORM_TOKEN="$(openssl rand -hex 32)"
  NEXTCRM_JWT_KEYS="$(jwt_key_entry bench-k1)"
  nextcrm_migrate "${RUN_DIR}/migrate.log"
  nextcrm_start "$RUN_DIR" serve --role=all
  wait_http "http://127.0.0.1:${HTTP_PORT}/health" 60 "${RUN_DIR}/nextcrm.pid" ||
    { tail -n 20 "${RUN_DIR}/nextcrm.log" >&2; die "nextcrm did not become healthy"; }
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
