#!/usr/bin/env bash
# Benchmark: the event bus (issue 12), every figure of one run.
#   test/bench/bench_events.sh
# Starts its own PostgreSQL, Redis (AOF everysec) and nextcrm (release build)
# in a temporary run folder, bootstraps a tenant, then:
#   1. The outbox's cost to a create, in PostgreSQL: pgbench running the
#      server's create transaction (set_config x3; INSERT ... RETURNING; the
#      audit trigger) without and with the outbox row (the server's
#      statement: the INSERT in a CTE beside the outbox INSERT), BENCH_ROUNDS
#      alternating rounds of BENCH_SECONDS, BENCH_PGBENCH_CLIENTS clients.
#      Target: the outbox costs <= 15% of create throughput.
#   2. End to end: wrk POSTs customers through nextcrm (BENCH_CONNECTIONS)
#      for BENCH_SECONDS while a reader tails the stream: creates/s, events/s
#      arriving, and lag (envelope time -> read from the stream) p50/p99.
#   3. The relay alone: BENCH_BURST outbox rows committed at once; the time
#      until the relay has published and deleted them all: events/s.
#      Target: >= 20,000 events/s.
#   4. redis-benchmark XADD on the same Redis (-P 16): the stream's ceiling.
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (8), BENCH_CONNECTIONS (16),
# BENCH_PGBENCH_CLIENTS (8), BENCH_BURST (50000), NEXTCRM_SKIP_BUILD=1,
# NEXTCRM_BIN, NEXTCRM_KEEP_RUN=1.
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

export BENCH_SECONDS="${BENCH_SECONDS:-8}" BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-16}"
export BENCH_PGBENCH_CLIENTS="${BENCH_PGBENCH_CLIENTS:-8}"
bench_knobs
BURST="${BENCH_BURST:-50000}"
[[ "$BURST" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BURST must be a positive integer"

bench_setup
start_bench_stack
create_tenant bench-ev admin@bench-ev.test
pgbench_conn
STREAM=nxp:events

# ---------------------------------------------------------------- 1. outbox cost in PostgreSQL
cols="$(customer_columns)"
ctx="SELECT set_config('app.tenant_id', '${TENANT_ID}', true), set_config('app.user_id', '${ADMIN_ID}', true), set_config('app.trace_id', '0123456789abcdef0123456789abcdef', true)"
insert="INSERT INTO customers (tenant_id, id, name, email, status, annual_revenue) VALUES ('${TENANT_ID}', gen_random_uuid(), 'Bench ' || :client_id || '-' || random(), 'b@x.co', 'active', 1250.00)"
pgbench_script "${RUN_DIR}/plain.sql" "BEGIN" "$ctx" "${insert} RETURNING ${cols}" "COMMIT"
# the server's shape: the change in a CTE beside the outbox INSERT (the
# envelope's data built from the returned row, as storage/sql/entity_sql does)
pgbench_script "${RUN_DIR}/outbox.sql" "BEGIN" "$ctx" \
  "WITH w AS (${insert} RETURNING id::text AS wid, version AS wversion, name AS wname, ${cols}), o AS (INSERT INTO outbox (tenant_id, type, subject, data) SELECT '${TENANT_ID}', 'crm.customer.created', 'customers/' || w.wid, jsonb_build_object('id', w.wid, 'name', w.wname, 'version', w.wversion, 'status', w.status, 'email', w.email, 'annual_revenue', w.annual_revenue::text) FROM w) SELECT * FROM w" \
  "COMMIT"
tps() {  # SCRIPT -> transactions per second
  local out
  out="$("$PGBENCH" "${PGB_CONN[@]}" -n -M "$PGB_MODE" -c "$PGB_CLIENTS" -j "$PGB_JOBS" -T "$SECS" -f "$1" "$PGB_DB" 2>&1)" ||
    die "pgbench $(basename "$1") failed: $(printf '%s' "$out" | tail -n 5)"
  printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1
}
declare -a plain_tps outbox_tps
for ((r = 1; r <= ROUNDS; r++)); do
  wait_quiet
  if ((r % 2)); then
    plain_tps+=("$(tps "${RUN_DIR}/plain.sql")"); outbox_tps+=("$(tps "${RUN_DIR}/outbox.sql")")
  else
    outbox_tps+=("$(tps "${RUN_DIR}/outbox.sql")"); plain_tps+=("$(tps "${RUN_DIR}/plain.sql")")
  fi
  log "round ${r}: create without outbox ${plain_tps[-1]} tps, with outbox ${outbox_tps[-1]} tps"
done
PLAIN="$(median "${plain_tps[@]}")"
OUTBOX="$(median "${outbox_tps[@]}")"

# ---------------------------------------------------------------- 2. end to end
cat >"${RUN_DIR}/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["Content-Type"] = "application/json"
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, "/api/v1/customers", nil, string.format('{"name":"E2E %d %d"}', n, math.random(1e9)))
end
LUA
cat >"${RUN_DIR}/tail.py" <<'PY'
import datetime, json, socket, sys, time
port, stream, secs, out = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in (str(v).encode() for v in a)))
    return read()
def read():
    line = f.readline()[:-2]; k, rest = line[:1], line[1:]
    if k in b"+-": return rest.decode()
    if k == b":": return int(rest)
    if k == b"$":
        n = int(rest); return None if n < 0 else f.read(n + 2)[:-2].decode()
    n = int(rest); return None if n < 0 else [read() for _ in range(n)]
last = (cmd("XREVRANGE", stream, "+", "-", "COUNT", 1) or [["0-0"]])[0][0]
lags, end = [], time.time() + secs
while time.time() < end:
    r = cmd("XREAD", "COUNT", 1000, "BLOCK", 200, "STREAMS", stream, last)
    now = time.time()
    for _, entries in r or []:
        for eid, fields in entries:
            last = eid
            env = json.loads(dict(zip(fields[0::2], fields[1::2]))["envelope"])
            t = datetime.datetime.strptime(env["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            lags.append((now - t.timestamp()) * 1000)
lags.sort()
pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else 0
json.dump({"events": len(lags), "p50": pick(0.5), "p99": pick(0.99)}, open(out, "w"))
PY
wait_quiet
python3 "${RUN_DIR}/tail.py" "$REDIS_PORT" "$STREAM" "$((SECS + 2))" "${RUN_DIR}/tail.json" &
TAIL_PID=$!
sleep 0.5
wrk -t "$THREADS" -c "$CONNECTIONS" -d "${SECS}s" -s "${RUN_DIR}/create.lua" "http://127.0.0.1:${HTTP_PORT}/" >"${RUN_DIR}/wrk-e2e.txt"
wait "$TAIL_PID"
CREATES="$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "${RUN_DIR}/wrk-e2e.txt")"
E2E_EVENTS="$(jq -r .events "${RUN_DIR}/tail.json")"
LAG50="$(jq -r '.p50 | floor' "${RUN_DIR}/tail.json")"
LAG99="$(jq -r '.p99 | floor' "${RUN_DIR}/tail.json")"

# ---------------------------------------------------------------- 3. the relay alone
declare -a relay_rates
before="$(redis-cli -p "$REDIS_PORT" XLEN "$STREAM")"
for ((r = 1; r <= ROUNDS; r++)); do
  wait_quiet
  psql_as nextcrm_app <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '${TENANT_ID}', true);
INSERT INTO outbox (tenant_id, type, subject, data)
  SELECT '${TENANT_ID}', 'crm.customer.updated', 'customers/' || gen_random_uuid(), jsonb_build_object('n', g)
  FROM generate_series(1, ${BURST}) g;
COMMIT;
SQL
  committed="$(date +%s.%N)"
  for ((i = 0; i < 1200; i++)); do
    left="$(psql_as nextcrm_app -c "SELECT set_config('app.relay', 'on', false); SELECT count(*) FROM outbox" | tail -n 1)"
    [[ "$left" == 0 ]] && break
    sleep 0.05
  done
  done_at="$(date +%s.%N)"
  relay_rates+=("$(awk -v n="$BURST" -v a="$committed" -v b="$done_at" 'BEGIN { printf "%.0f", n / (b - a) }')")
  log "relay round ${r}: ${relay_rates[-1]} events/s"
done
after="$(redis-cli -p "$REDIS_PORT" XLEN "$STREAM")"
RELAY_RATE="$(median "${relay_rates[@]}")"
RELAY_RANGE="$(printf '%s\n' "${relay_rates[@]}" | sort -n | sed -n '1p;$p' | paste -sd- -)"

# ---------------------------------------------------------------- 4. redis-benchmark XADD
XADD_RPS="$(redis-benchmark -p "$REDIS_PORT" -n 200000 -P 16 -q XADD bench:xadd '*' f v 2>/dev/null |
  sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)"

# ---------------------------------------------------------------- summary
cost="$(awk -v p="$PLAIN" -v o="$OUTBOX" 'BEGIN { printf "%.1f", (p > 0) ? 100 * (1 - o / p) : 0 }')"
costs="$(for ((r = 0; r < ROUNDS; r++)); do awk -v p="${plain_tps[r]}" -v o="${outbox_tps[r]}" 'BEGIN { printf "%.0f%% ", 100 * (1 - o / p) }'; done)"
echo
echo "== summary (cores: $(nproc), ${ROUNDS} rounds of ${SECS}s; pgbench ${PGB_CLIENTS} clients; wrk ${CONNECTIONS} connections)"
echo "create in PostgreSQL, without / with outbox: ${PLAIN} / ${OUTBOX} tps -> the outbox costs ${cost}% (per round: ${costs% })   target <= 15%: $(verdict "$cost" '<=' 15)"
echo "end to end: ${CREATES} creates/s through nextcrm, ${E2E_EVENTS} events read in $((SECS + 2)) s; lag p50 ${LAG50} ms, p99 ${LAG99} ms (target p99 < 50 ms at 2,000 writes/s: $(verdict "$LAG99" '<' 50) at ${CREATES}/s)"
echo "relay alone: ${BURST} rows committed at once, published and deleted at ${RELAY_RATE} events/s (median of ${ROUNDS}, range ${RELAY_RANGE}; stream ${before} -> ${after})   target >= 20,000: $(verdict "$RELAY_RATE" '>=' 20000)"
echo "redis-benchmark XADD -P 16 on the same Redis: ${XADD_RPS} req/s (relay / XADD ceiling: $(ratio "$RELAY_RATE" "${XADD_RPS:-0}"))"
