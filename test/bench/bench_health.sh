#!/usr/bin/env bash
# Benchmark: nextcrm GET /health against nginx `return 200` on the same machine.
#   test/bench/bench_health.sh
# Starts its own PostgreSQL, Redis, nextcrm (release build, logs to a file)
# and a separate nginx (worker_processes 2) in a temporary run folder, warms
# both up, then alternates rounds of
#   wrk -t2 -c64 -d10s --latency URL
# against nextcrm's /health directly, /health through the dev stack's gateway
# (deploy/nginx.dev.conf.template: worker_processes auto, upstream
# keep-alive) and nginx, and prints req/s, p50, p99 per round, the medians
# and the ratios median(nextcrm)/median(nginx) and
# median(gateway)/median(nextcrm). Targets (printed, not enforced): ratio
# >= 0.8, gateway >= 0.6x of direct, nextcrm p99 < 5 ms.
#
# Knobs: BENCH_ROUNDS (3), BENCH_DURATION (10s), BENCH_WARMUP (3s),
# BENCH_CONNECTIONS (64), BENCH_THREADS (2), NEXTCRM_SKIP_BUILD=1,
# NEXTCRM_IO_THREADS / NEXTCRM_WORKERS / NEXTCRM_LOG_LEVEL (passed to nextcrm),
# NEXTCRM_KEEP_RUN=1 (keep the run folder and its logs).
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-3s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
RUN_DIR=""

cleanup() {
  local rc=$?
  set +e
  [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]] && nginx_stop "${RUN_DIR}/nginx/nginx.conf"
  [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]] && nginx_stop "${RUN_DIR}/gateway/nginx.conf"
  stop_nextcrm_stack "$rc"
}

# The baseline: nginx as shipped would answer, 2 workers, access log on.
write_nginx_conf() {
  local dir="$1" port="$2"
  mkdir -p "${dir}/logs" "${dir}/tmp"
  cat >"${dir}/nginx.conf" <<EOF
$(nginx_user_directive)
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log ${dir}/logs/access.log;
    client_body_temp_path ${dir}/tmp/client_body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:${port};
        location / { return 200 "ok"; }
    }
}
EOF
  printf '%s\n' "${dir}/nginx.conf"
}

start_stack() {
  local conf
  start_nextcrm_stack
  NGINX_PORT="$(free_port 1)"
  conf="$(write_nginx_conf "${RUN_DIR}/nginx" "$NGINX_PORT")"
  nginx_start "$conf"
  wait_http "http://127.0.0.1:${NGINX_PORT}/" 10 || die "nginx did not answer"
  GATEWAY_PORT="$(free_port 1)"
  conf="$(nginx_render_gateway "${RUN_DIR}/gateway" "$GATEWAY_PORT" "127.0.0.1:${HTTP_PORT}" "127.0.0.1:${HTTP_PORT}")"
  nginx_start "$conf"
  wait_http "http://127.0.0.1:${GATEWAY_PORT}/health" 10 || die "the gateway did not answer"
}

# The processes whose CPU is charged to TARGET: nextcrm, or nginx's workers.
target_pids() {
  if [[ "$1" == nextcrm ]]; then
    cat "${RUN_DIR}/nextcrm.pid"
  elif [[ "$1" == gateway ]]; then  # the gateway's workers and nextcrm behind them
    pgrep -P "$(cat "${RUN_DIR}/gateway/nginx.pid")"
    cat "${RUN_DIR}/nextcrm.pid"
  else
    pgrep -P "$(cat "${RUN_DIR}/nginx/nginx.pid")"
  fi
}


main() {
  local round target url out rps p50 p99 bad before after requests us n_round_rps
  local -a n_rps=() n_p50=() n_p99=() g_rps=() g_p50=() g_p99=() n_us=() g_us=() ratios=()
  local -a w_rps=() w_p99=() w_ratios=()
  local -a pids
  local hz
  hz="$(getconf CLK_TCK)"
  bench_prepare
  [[ "$(build_type_of "$NEXTCRM_BUILD_DIR")" == Release ]] ||
    warn "${NEXTCRM_BUILD_DIR} is not a Release build: figures will be low"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_stack

  echo "cores: $(nproc)   wrk: -t${THREADS} -c${CONNECTIONS} -d${DURATION}   rounds: ${ROUNDS}"
  echo "nextcrm: http://127.0.0.1:${HTTP_PORT}/health (NEXTCRM_IO_THREADS=${NEXTCRM_IO_THREADS:-default} NEXTCRM_WORKERS=${NEXTCRM_WORKERS:-default}, log to file)"
  echo "nginx:   http://127.0.0.1:${NGINX_PORT}/ (worker_processes 2, return 200, access log on)"
  wrk_run "http://127.0.0.1:${HTTP_PORT}/health" "$WARMUP" "${RUN_DIR}/warmup-nextcrm.txt"
  wrk_run "http://127.0.0.1:${NGINX_PORT}/" "$WARMUP" "${RUN_DIR}/warmup-nginx.txt"
  wrk_run "http://127.0.0.1:${GATEWAY_PORT}/health" "$WARMUP" "${RUN_DIR}/warmup-gateway.txt"

  printf '\n%-6s %-8s %12s %10s %10s %8s %10s\n' round target 'req/s' 'p50 ms' 'p99 ms' non-2xx 'cpu us/req' 
  for ((round = 1; round <= ROUNDS; round++)); do
    for target in nextcrm gateway nginx; do
      if [[ "$target" == nextcrm ]]; then
        url="http://127.0.0.1:${HTTP_PORT}/health"
      elif [[ "$target" == gateway ]]; then
        url="http://127.0.0.1:${GATEWAY_PORT}/health"
      else
        url="http://127.0.0.1:${NGINX_PORT}/"
      fi
      out="${RUN_DIR}/round${round}-${target}.txt"
      mapfile -t pids < <(target_pids "$target")
      before="$(cpu_ticks "${pids[@]}")"
      wrk_run "$url" "$DURATION" "$out"
      after="$(cpu_ticks "${pids[@]}")"
      read -r rps p50 p99 bad < <(wrk_parse "$out")
      requests="$(awk '/requests in/ { print $1 }' "$out")"
      # CPU per request is steadier than req/s on a shared machine.
      us="$(awk -v t="$((after - before))" -v hz="$hz" -v n="${requests:-0}" \
        'BEGIN { printf "%.1f", (n > 0) ? t * 1e6 / hz / n : 0 }')"
      printf '%-6s %-8s %12s %10s %10s %8s %10s\n' "$round" "$target" "$rps" "$p50" "$p99" "$bad" "$us"
      if [[ "$target" == nextcrm ]]; then
        n_rps+=("$rps") n_p50+=("$p50") n_p99+=("$p99") n_us+=("$us")
        n_round_rps="$rps"
      elif [[ "$target" == gateway ]]; then
        w_rps+=("$rps") w_p99+=("$p99")
        w_ratios+=("$(awk -v n="$n_round_rps" -v w="$rps" 'BEGIN { printf "%.3f", (n > 0) ? w / n : 0 }')")
      else
        g_rps+=("$rps") g_p50+=("$p50") g_p99+=("$p99") g_us+=("$us")
        ratios+=("$(awk -v n="$n_round_rps" -v g="$rps" 'BEGIN { printf "%.3f", (g > 0) ? n / g : 0 }')")
      fi
    done
  done

  local nm_rps nm_p50 nm_p99 gm_rps gm_p50 gm_p99
  nm_rps="$(median "${n_rps[@]}")" nm_p50="$(median "${n_p50[@]}")" nm_p99="$(median "${n_p99[@]}")"
  gm_rps="$(median "${g_rps[@]}")" gm_p50="$(median "${g_p50[@]}")" gm_p99="$(median "${g_p99[@]}")"
  printf '%-6s %-8s %12s %10s %10s %8s %10s\n' median nextcrm "$nm_rps" "$nm_p50" "$nm_p99" "" "$(median "${n_us[@]}")"
  printf '%-6s %-8s %12s %10s %10s %8s %10s\n' median nginx "$gm_rps" "$gm_p50" "$gm_p99" "" "$(median "${g_us[@]}")"
  printf '%-6s %-8s %12s %10s %10s\n' median gateway "$(median "${w_rps[@]}")" "" "$(median "${w_p99[@]}")"
  awk -v w="$(median "${w_rps[@]}")" -v n="$nm_rps" -v pr="$(median "${w_ratios[@]}")" 'BEGIN {
    ratio = (n > 0) ? w / n : 0
    printf "\nratio gateway/nextcrm direct (median req/s): %.2f (per round %.2f)   target >= 0.60: %s\n", ratio, pr, (ratio >= 0.6) ? "met" : "NOT met"
  }' 
  awk -v n="$nm_rps" -v g="$gm_rps" -v p99="$nm_p99" -v pr="$(median "${ratios[@]}")" \
    -v ncpu="$(median "${n_us[@]}")" -v gcpu="$(median "${g_us[@]}")" 'BEGIN {
    ratio = (g > 0) ? n / g : 0
    printf "\nratio nextcrm/nginx (median req/s): %.2f   target >= 0.80: %s\n", ratio, (ratio >= 0.8) ? "met" : "NOT met"
    printf "ratio per round (median of adjacent pairs): %.2f\n", pr
    printf "cpu per request nginx/nextcrm (median): %.2f\n", (ncpu > 0) ? gcpu / ncpu : 0
    printf "nextcrm p99 (median): %.3f ms          target < 5 ms: %s\n", p99, (p99 < 5) ? "met" : "NOT met"
  }'
  log "wrk reports and logs: ${RUN_DIR} (removed on exit unless NEXTCRM_KEEP_RUN=1)"
}

main "$@"
