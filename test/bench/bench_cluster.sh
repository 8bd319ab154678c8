#!/usr/bin/env bash
# Benchmark: the cluster (issue 15, docs/CLUSTER.md) on this one machine.
#   test/bench/bench_cluster.sh
# Starts its own PostgreSQL, Redis, three `nextcrm serve --role=core` nodes
# (release build, NEXTCRM_LOG_LEVEL=warn, NEXTCRM_GUARD=off) and an nginx gateway rendered from
# deploy/nginx.dev.conf.template, seeds one tenant with BENCH_CUSTOMERS
# customers, then:
#   1. Throughput through the gateway with 1, 2 and 3 core nodes in its
#      upstream (nginx reloaded between), in alternating rounds: the DSL query
#        {"filter":{"field":"status","op":"eq","value":"active"},
#         "sort":[{"field":"created_at","dir":"desc"}],"page":{"size":20}}
#      and a create ({"name":"Bench"}), each with `wrk -t2 -c64 --latency`
#      for BENCH_SECONDS. The nodes share the machine's 2 cores: the figures
#      show what the cluster costs (gateway spreading, per-node caches, more
#      PostgreSQL sessions), not scale-out. Medians over BENCH_ROUNDS, and
#      each node count's ratio to one node.
#   2. Faults under load (test/bench/cluster_faults.py: 8 closed-loop
#      clients, half queries, half keyed creates, through the gateway with 3
#      nodes): a quiet baseline, a rolling restart (each node SIGTERMed in
#      turn, started again, its /health awaited), and a chaos run (every
#      node restarted with NEXTCRM_CHAOS=all=50: every kind killed or dropped
#      every 50 ms). For each: requests, error rate, p50, p99.
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (8), BENCH_CUSTOMERS (2000),
# BENCH_FAULT_SECONDS (20), BENCH_CHAOS (all=50), NEXTCRM_SKIP_BUILD=1,
# NEXTCRM_KEEP_RUN=1.
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/lib.sh
source "${ROOT}/deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "${ROOT}/test/bench/bench_lib.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
SECS="${BENCH_SECONDS:-8}"
CUSTOMERS="${BENCH_CUSTOMERS:-2000}"
FAULT_SECS="${BENCH_FAULT_SECONDS:-20}"
CHAOS="${BENCH_CHAOS:-all=50}"
THREADS=2
CONNECTIONS=64
NODES=3
RUN_DIR=""

cleanup() {
  local rc=$? k
  [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]] || exit "$rc"
  nginx_stop "${RUN_DIR}/nginx/nginx.conf" || true
  for ((k = 1; k <= NODES; k++)); do nextcrm_stop "${RUN_DIR}/node-${k}" || true; done
  stop_nextcrm_stack "$rc" || true  # Redis, PostgreSQL, the run folder (kept with NEXTCRM_KEEP_RUN=1)
  exit "$rc"
}
trap cleanup EXIT

# start_node K [ENV=VALUE...]: node K on its ports, with extra settings.
start_node() {
  local k="$1"
  shift
  (
    export NEXTCRM_LISTEN="127.0.0.1:${NODE_HTTP[$k]}" NEXTCRM_ADMIN_LISTEN="127.0.0.1:${NODE_ADMIN[$k]}"
    # the guard off (as in the other benches): one user's 64 connections
    # would cross its default budgets within seconds and be blocked
    export NEXTCRM_LOG_LEVEL=warn NEXTCRM_GUARD=off "$@"
    nextcrm_start "${RUN_DIR}/node-${k}" serve --role=core
  )
  wait_http "http://127.0.0.1:${NODE_HTTP[$k]}/health" 60 "${RUN_DIR}/node-${k}/nextcrm.pid" ||
    die "node ${k} did not become healthy (${RUN_DIR}/node-${k}/nextcrm.log)"
}

# gateway N: the gateway in front of the first N nodes.
gateway() {
  local n="$1" k core=""
  for ((k = 1; k <= n; k++)); do core+="${core:+,}127.0.0.1:${NODE_HTTP[$k]}"; done
  nginx_start "$(nginx_render_gateway "${RUN_DIR}/nginx" "$GATEWAY_PORT" "$core" "127.0.0.1:${NODE_HTTP[1]}")" >/dev/null
  sleep 1
  wait_http "http://127.0.0.1:${GATEWAY_PORT}/health" 10 || die "the gateway does not answer"
}

write_lua() {  # FILE PATH BODY
  # built in init(): wrk knows the Host header only once the URL is parsed
  cat >"$1" <<LUA
function init(args)
  request_text = wrk.format("POST", "$2",
    { ["Authorization"] = "Bearer ${TOKEN}", ["Content-Type"] = "application/json" }, [[$3]])
end
function request() return request_text end
LUA
}

bench_prepare
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/nextcrm-bench-cluster.XXXXXX")"
mapfile -t ports < <(free_port 9)
PG_PORT="${ports[0]}" REDIS_PORT="${ports[1]}" GATEWAY_PORT="${ports[2]}"
declare -a NODE_HTTP NODE_ADMIN
for ((k = 1; k <= NODES; k++)); do
  NODE_HTTP[k]="${ports[2 + k]}"
  NODE_ADMIN[k]="${ports[5 + k]}"
done
HTTP_PORT="${NODE_HTTP[1]}" ADMIN_PORT="${NODE_ADMIN[1]}"
start_databases
for ((k = 1; k <= NODES; k++)); do start_node "$k"; done
gateway "$NODES"

# one tenant, its admin, the customers (a third of them active)
TOKEN="$(python3 - "$GATEWAY_PORT" "$NEXTCRM_PLATFORM_TOKEN" "$CUSTOMERS" <<'PY'
import http.client, json, sys, uuid
port, platform, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def call(method, path, body, token):
    conn.request(method, path, body=json.dumps(body),
                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    assert 200 <= r.status < 300, (path, r.status, data[:200])
    return json.loads(data)
slug = "bench" + uuid.uuid4().hex[:8]
call("POST", "/api/v1/tenants", {"slug": slug, "name": "Bench",
     "admin": {"email": "admin@bench.test", "password": "a long bench passphrase"}}, platform)
token = call("POST", "/api/v1/auth/login", {"tenant": slug, "email": "admin@bench.test",
             "password": "a long bench passphrase"}, "")["access_token"]
for i in range(n):
    call("POST", "/api/v1/customers", {"name": "Customer %d" % i,
         "status": ("lead", "active", "churned")[i % 3]}, token)
print(token)
PY
)"
QUERY_BODY='{"filter":{"field":"status","op":"eq","value":"active"},"sort":[{"field":"created_at","dir":"desc"}],"page":{"size":20}}'
write_lua "${RUN_DIR}/query.lua" /api/v1/customers/query "$QUERY_BODY"
write_lua "${RUN_DIR}/create.lua" /api/v1/customers '{"name":"Bench"}'

# ---------------------------------------------------------------- throughput
declare -A RPS P99 BAD
for ((round = 1; round <= ROUNDS; round++)); do
  for n in 1 2 3; do
    gateway "$n"
    for op in query create; do
      wrk_run "http://127.0.0.1:${GATEWAY_PORT}" "${SECS}s" "${RUN_DIR}/${op}-${n}-${round}.txt" -s "${RUN_DIR}/${op}.lua"
      read -r rps _ p99 bad < <(wrk_parse "${RUN_DIR}/${op}-${n}-${round}.txt")
      RPS[$op,$n]+="${rps} "
      P99[$op,$n]+="${p99} "
      BAD[$op,$n]=$((${BAD[$op,$n]:-0} + bad))
      log "round ${round}: ${op} with ${n} node(s): ${rps} req/s, p99 ${p99} ms, ${bad} non-2xx"
    done
  done
done

# ---------------------------------------------------------------- faults
gateway "$NODES"
faults() {  # NAME: the load's JSON line
  python3 "${ROOT}/test/bench/cluster_faults.py" "$GATEWAY_PORT" "$TOKEN" "$FAULT_SECS" 8 >"${RUN_DIR}/faults-$1.json"
}
faults quiet
faults rolling &
load=$!
sleep 3
for ((k = 1; k <= NODES; k++)); do
  nextcrm_stop "${RUN_DIR}/node-${k}"
  start_node "$k"
  sleep 1
done
wait "$load"
for ((k = 1; k <= NODES; k++)); do
  nextcrm_stop "${RUN_DIR}/node-${k}"
  start_node "$k" NEXTCRM_PROFILE=test NEXTCRM_CHAOS="$CHAOS"
done
faults chaos
for ((k = 1; k <= NODES; k++)); do
  nextcrm_stop "${RUN_DIR}/node-${k}"
  start_node "$k"
done

# ---------------------------------------------------------------- summary
echo
echo "== cluster throughput through nginx (medians of ${ROUNDS} rounds, ${SECS}s each, wrk -t2 -c64; same 2 cores)"
printf '%-7s %-6s %10s %10s %8s %10s\n' op nodes "req/s" "p99 ms" non2xx "vs 1 node"
for op in query create; do
  base="$(median ${RPS[$op,1]})"
  for n in 1 2 3; do
    rps="$(median ${RPS[$op,$n]})"
    printf '%-7s %-6s %10s %10s %8s %10s\n' "$op" "$n" "$rps" "$(median ${P99[$op,$n]})" "${BAD[$op,$n]}" \
      "$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
  done
done
echo
echo "== faults under load (3 nodes, 8 clients, half DSL queries, half keyed creates, ${FAULT_SECS}s)"
for name in quiet rolling chaos; do
  printf '%-8s %s\n' "$name" "$(cat "${RUN_DIR}/faults-${name}.json")"
done
