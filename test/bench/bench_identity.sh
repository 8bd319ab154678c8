#!/usr/bin/env bash
# Benchmark: the identity slice (issue 3).
#   test/bench/bench_identity.sh
# Starts its own PostgreSQL, Redis and nextcrm (release build, logs to a file)
# in a temporary run folder, bootstraps a tenant, logs its admin in, then
# measures
#   1. GET /api/v1/auth/me with a valid token against GET /health, in
#      alternating rounds of `wrk -t2 -c64 -d10s --latency`: req/s, p50, p99
#      and nextcrm's CPU per request for each, medians and the ratio
#      median(me)/median(health). Target: >= 0.6.
#   2. Memory: BENCH_SESSIONS session rows are inserted straight into the
#      sessions table (one statement, as the owner role with app.tenant_id
#      set), a JWT is signed for each (python3, same key as nextcrm), and wrk
#      sends every token once to /api/v1/auth/me, so nextcrm recovers each
#      session into a live session actor. VmRSS of nextcrm before and after
#      (each read once the log has stopped growing, so a log backlog is not
#      counted), and the distinct sessions that answered 200, give KiB per
#      live session. Target: <= 2 KiB. With few sessions the growth is within
#      allocator noise (memory freed by phase 1 is reused): use the default.
#   3. Login: ms per login (p50 of BENCH_LOGINS sequential logins) at the
#      configured argon2id cost (read back from the stored hash), and
#      logins/s with BENCH_LOGIN_CLIENTS concurrent clients.
# Targets are printed, not enforced. Before each phase the bench waits (up to
# BENCH_QUIET_WAIT seconds) until no compiler, wrk or pgbench runs and the
# machine is idle (bench_lib.sh wait_quiet), and
# after each measurement it notes (summary: "machine") if one ran meanwhile.
#
# Knobs: BENCH_ROUNDS (3), BENCH_DURATION (10s), BENCH_WARMUP (3s),
# BENCH_CONNECTIONS (64), BENCH_THREADS (2), BENCH_SESSIONS (100000),
# BENCH_TOUCH_TIMEOUT (120s, cap of the walk over the tokens),
# BENCH_LOGINS (20), BENCH_LOGIN_CLIENTS (4), BENCH_LOGIN_DURATION (5s),
# BENCH_QUIET_WAIT (600), BENCH_QUIET_CPU (30), NEXTCRM_SKIP_BUILD=1, NEXTCRM_IO_THREADS /
# NEXTCRM_WORKERS / NEXTCRM_HASHER_THREADS / NEXTCRM_LOG_LEVEL (passed to
# nextcrm), NEXTCRM_PG_FAST=1 (no fsync in the private cluster),
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
SESSIONS="${BENCH_SESSIONS:-100000}"
TOUCH_TIMEOUT="${BENCH_TOUCH_TIMEOUT:-120s}"
LOGINS="${BENCH_LOGINS:-20}"
LOGIN_CLIENTS="${BENCH_LOGIN_CLIENTS:-4}"
LOGIN_DURATION="${BENCH_LOGIN_DURATION:-5s}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-600}"
QUIET_CPU="${BENCH_QUIET_CPU:-30}"  # wait_quiet / note_busy (bench_lib.sh)
TENANT_SLUG=bench
ADMIN_EMAIL=admin@bench.test
RUN_DIR=""
WRK_PID=""

cleanup() {
  local rc=$?
  set +e
  [[ -n "$WRK_PID" ]] && kill "$WRK_PID" 2>/dev/null
  stop_nextcrm_stack "$rc"
}

start_stack() {
  start_nextcrm_stack
  NEXTCRM_PID="$(cat "${RUN_DIR}/nextcrm.pid")"
  # the log from here on (the readiness polls before may have seen a 503)
  LOG_START="$(($(wc -l <"${RUN_DIR}/nextcrm.log") + 1))"
}

# Waits until nextcrm's log has stopped growing (up to 10 s): the log sink has
# written everything queued, so its backlog is not counted as session memory.
settle_log() {
  local size last=-1 i
  for ((i = 0; i < 20; i++)); do
    size="$(stat -c %s "${RUN_DIR}/nextcrm.log")"
    ((size == last)) && return 0
    last="$size"
    sleep 0.5
  done
}



# The completed requests of a wrk report.
wrk_requests() {
  awk '/requests in/ { print $1 }' "$1"
}


# per_request TICKS REQUESTS SCALE: CPU per request (SCALE 1e6: us, 1e3: ms).
per_request() {
  awk -v t="$1" -v hz="$HZ" -v n="${2:-0}" -v s="$3" \
    'BEGIN { printf "%.1f", (n > 0) ? t * s / hz / n : 0 }'
}


# VmRSS of nextcrm in KiB.
rss_kib() {
  awk '$1 == "VmRSS:" { print $2 }' "/proc/${NEXTCRM_PID}/status"
}

# Creates the bench tenant with its admin; sets TENANT_ID, ADMIN_ID and
# LOGIN_BODY (the admin's login request).
bootstrap_tenant() {
  local password status out="${RUN_DIR}/tenant.json"
  password="$(openssl rand -hex 12)"
  status="$(api POST /api/v1/tenants "$out" -H "Authorization: Bearer ${NEXTCRM_PLATFORM_TOKEN}" \
    -H 'Content-Type: application/json' \
    --data "{\"slug\":\"${TENANT_SLUG}\",\"name\":\"Bench Ltd\",\"admin\":{\"email\":\"${ADMIN_EMAIL}\",\"password\":\"${password}\"}}")"
  [[ "$status" == 201 ]] || die "POST /api/v1/tenants answered ${status}: $(cat "$out")"
  TENANT_ID="$(jq -r .data.id "$out")"
  ADMIN_ID="$(jq -r .data.admin_user_id "$out")"
  LOGIN_BODY="{\"tenant\":\"${TENANT_SLUG}\",\"email\":\"${ADMIN_EMAIL}\",\"password\":\"${password}\"}"
  printf '%s' "$LOGIN_BODY" >"${RUN_DIR}/login.json"
}

# Logs the admin in and prints the access token.
login_token() {
  local status out="${RUN_DIR}/login-answer.json"
  status="$(api POST /api/v1/auth/login "$out" -H 'Content-Type: application/json' \
    --data-binary "@${RUN_DIR}/login.json")"
  [[ "$status" == 200 ]] || die "POST /api/v1/auth/login answered ${status}: $(cat "$out")"
  jq -r .access_token "$out"
}

# ---------------------------------------------------------------- 1. me vs health

bench_me() {
  local token status round target url out rps p50 p99 bad before after us me_round_rps
  local -a me_rps=() me_p50=() me_p99=() me_us=() h_rps=() h_p50=() h_p99=() h_us=() ratios=()
  token="$(login_token)"
  status="$(api GET /api/v1/auth/me "${RUN_DIR}/me.json" -H "Authorization: Bearer ${token}")"
  [[ "$status" == 200 ]] || die "GET /api/v1/auth/me answered ${status}: $(cat "${RUN_DIR}/me.json")"
  printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"${RUN_DIR}/me.lua"

  wait_quiet
  echo
  echo "== 1. GET /api/v1/auth/me (valid token) vs GET /health: wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}, ${ROUNDS} rounds"
  wrk_run "http://127.0.0.1:${HTTP_PORT}/health" "$WARMUP" "${RUN_DIR}/warmup-health.txt"
  wrk_run "http://127.0.0.1:${HTTP_PORT}/api/v1/auth/me" "$WARMUP" "${RUN_DIR}/warmup-me.txt" \
    -s "${RUN_DIR}/me.lua"
  printf '%-6s %-8s %12s %10s %10s %8s %10s\n' round target 'req/s' 'p50 ms' 'p99 ms' non-2xx 'cpu us/req'
  for ((round = 1; round <= ROUNDS; round++)); do
    for target in me health; do
      out="${RUN_DIR}/round${round}-${target}.txt"
      before="$(cpu_ticks "$NEXTCRM_PID")"
      if [[ "$target" == me ]]; then
        url="http://127.0.0.1:${HTTP_PORT}/api/v1/auth/me"
        wrk_run "$url" "$DURATION" "$out" -s "${RUN_DIR}/me.lua"
      else
        url="http://127.0.0.1:${HTTP_PORT}/health"
        wrk_run "$url" "$DURATION" "$out"
      fi
      after="$(cpu_ticks "$NEXTCRM_PID")"
      note_busy "me/health round ${round} ${target}"
      read -r rps p50 p99 bad < <(wrk_parse "$out")
      # CPU per request is steadier than req/s on a shared machine.
      us="$(per_request "$((after - before))" "$(wrk_requests "$out")" 1e6)"
      printf '%-6s %-8s %12s %10s %10s %8s %10s\n' "$round" "$target" "$rps" "$p50" "$p99" "$bad" "$us"
      ME_NON2XX=$((ME_NON2XX + bad))
      if [[ "$target" == me ]]; then
        me_rps+=("$rps") me_p50+=("$p50") me_p99+=("$p99") me_us+=("$us")
        me_round_rps="$rps"
      else
        h_rps+=("$rps") h_p50+=("$p50") h_p99+=("$p99") h_us+=("$us")
        ratios+=("$(awk -v m="$me_round_rps" -v h="$rps" 'BEGIN { printf "%.3f", (h > 0) ? m / h : 0 }')")
      fi
    done
  done
  ME_RPS="$(median "${me_rps[@]}")" ME_US="$(median "${me_us[@]}")" ME_P99="$(median "${me_p99[@]}")"
  H_RPS="$(median "${h_rps[@]}")" H_US="$(median "${h_us[@]}")" H_P99="$(median "${h_p99[@]}")"
  printf '%-6s %-8s %12s %10s %10s %8s %10s\n' median me "$ME_RPS" "$(median "${me_p50[@]}")" "$ME_P99" "" "$ME_US"
  printf '%-6s %-8s %12s %10s %10s %8s %10s\n' median health "$H_RPS" "$(median "${h_p50[@]}")" "$H_P99" "" "$H_US"
  ME_RATIO="$(awk -v m="$ME_RPS" -v h="$H_RPS" 'BEGIN { printf "%.2f", (h > 0) ? m / h : 0 }')"
  ME_PAIR_RATIO="$(median "${ratios[@]}")"
  echo "ratio me/health (median req/s): ${ME_RATIO}   per round (median of adjacent pairs): ${ME_PAIR_RATIO}"
}

# ---------------------------------------------------------------- 2. memory

# insert_sessions N EXP OUT: N session rows of the admin, expiring at the epoch
# second EXP, in one statement as the owner role (RLS is forced: the tenant
# GUC is set first, in the same transaction); their ids go to OUT.
insert_sessions() {
  local n="$1" exp="$2" out="$3" sql="${RUN_DIR}/sessions.sql"
  cat >"$sql" <<'SQL'
BEGIN;
SELECT set_config('app.tenant_id', :'tid', true) \g /dev/null
\o :out
INSERT INTO sessions (id, tenant_id, user_id, expires_at)
SELECT gen_random_uuid(), :'tid'::uuid, :'uid'::uuid, to_timestamp(:exp)
FROM generate_series(1, :n)
RETURNING id;
\o
COMMIT;
SQL
  "$(pg_bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U nextcrm_owner -d nextcrm \
    -v tid="$TENANT_ID" -v uid="$ADMIN_ID" -v exp="$exp" -v n="$n" -v out="$out" -f "$sql" </dev/null
}

# make_tokens IDS PREFIX PARTS IAT EXP: a JWT for every session id of IDS,
# signed with the first key of NEXTCRM_JWT_KEYS as nextcrm signs them, dealt
# round-robin into PREFIX.1 .. PREFIX.PARTS (one file per wrk thread).
make_tokens() {
  python3 - "$@" "$ADMIN_ID" "$TENANT_ID" <<'PY'
import base64, hashlib, hmac, json, os, sys

ids, prefix, parts, iat, exp, sub, tid = sys.argv[1:8]
parts, iat, exp = int(parts), int(iat), int(exp)
kid, secret = os.environ["NEXTCRM_JWT_KEYS"].split(",")[0].split(":", 1)
secret = base64.b64decode(secret)

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")

def compact(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())

head = compact({"alg": "HS256", "typ": "JWT", "kid": kid}) + b"."
outs = [open(f"{prefix}.{k + 1}", "wb") for k in range(parts)]
with open(ids) as f:
    for i, sid in enumerate(line.strip() for line in f):
        if not sid:
            continue
        claims = {"iss": "nextcrm", "sub": sub, "tid": tid, "sid": sid, "iat": iat, "nbf": iat, "exp": exp}
        signed = head + compact(claims)
        sig = b64url(hmac.new(secret, signed, hashlib.sha256).digest())
        outs[i % parts].write(signed + b"." + sig + b"\n")
for out in outs:
    out.close()
PY
}

# The wrk script that walks the token files: thread k sends the tokens of
# PREFIX.k (PREFIX is the script argument) in order, counts the distinct
# sessions answered with 200 (the answer names its session) and stops once
# every token of its file has one, leaving the file PREFIX.done.k (wrk itself
# sleeps out its -d; the caller interrupts it). Tokens are resent from the
# start while answers are missing (a timeout, a slow recovery), never to a
# new session.
write_touch_lua() {
  cat >"$1" <<'LUA'
local count = 0
local threads = {}

function setup(thread)
  count = count + 1
  thread:set("id", count)
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  for token in io.lines(args[1] .. "." .. id) do
    reqs[#reqs + 1] = wrk.format(nil, nil, { Authorization = "Bearer " .. token })
  end
  total, sent, distinct, non200 = #reqs, 0, 0, 0
  seen = {}
  marker = args[1] .. ".done." .. id
end

function request()
  sent = sent + 1
  return reqs[(sent - 1) % total + 1]
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    return
  end
  local sid = body:match('"session":{"id":"([%x%-]+)"')
  if sid and not seen[sid] then
    seen[sid] = true
    distinct = distinct + 1
    if distinct == total then
      io.open(marker, "w"):close()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local total, sent, distinct, non200 = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("total")
    sent = sent + t:get("sent")
    distinct = distinct + t:get("distinct")
    non200 = non200 + t:get("non200")
  end
  io.write(string.format("touch: tokens %d sent %d distinct_200 %d non_200 %d\n",
    total, sent, distinct, non200))
end
LUA
}

# walk_tokens PREFIX OUT: runs the touch script over PREFIX.1 .. PREFIX.THREADS
# (report in OUT) and returns once every thread has all its answers or
# TOUCH_TIMEOUT has passed. wrk sleeps out its -d even when every thread has
# stopped; SIGINT ends the sleep (repeated: a thread that has not quite exited
# yet may take the first one).
walk_tokens() {
  local prefix="$1" out="$2" done_files
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$TOUCH_TIMEOUT" --timeout 10s -s "${RUN_DIR}/touch.lua" \
    "http://127.0.0.1:${HTTP_PORT}/api/v1/auth/me" -- "$prefix" >"$out" 2>&1 &
  WRK_PID=$!
  while kill -0 "$WRK_PID" 2>/dev/null; do
    done_files="$(find "$(dirname "$prefix")" -maxdepth 1 -name "$(basename "$prefix").done.*" | wc -l)"
    ((done_files >= THREADS)) && kill -INT "$WRK_PID" 2>/dev/null
    sleep 0.1
  done
  wait "$WRK_PID" || { cat "$out" >&2; die "wrk failed walking the tokens"; }
  WRK_PID=""
}

bench_memory() {
  local ids="${RUN_DIR}/session-ids.txt" tokens="${RUN_DIR}/tokens" out="${RUN_DIR}/touch.txt"
  local now exp t0 rss_before rss_after before after secs
  ((SESSIONS >= THREADS)) || die "BENCH_SESSIONS (${SESSIONS}) must be at least BENCH_THREADS (${THREADS})"
  echo
  echo "== 2. memory: ${SESSIONS} live sessions (one session actor each)"
  now="$(date +%s)"
  exp=$((now + 3600))
  t0="$(date +%s.%N)"
  insert_sessions "$SESSIONS" "$exp" "$ids"
  [[ "$(grep -c . "$ids")" == "$SESSIONS" ]] || die "expected ${SESSIONS} session ids in ${ids}"
  echo "sessions rows inserted: ${SESSIONS} in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  t0="$(date +%s.%N)"
  make_tokens "$ids" "$tokens" "$THREADS" "$now" "$exp"
  echo "tokens signed: ${SESSIONS} in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  write_touch_lua "${RUN_DIR}/touch.lua"

  wait_quiet
  settle_log
  rss_before="$(rss_kib)"
  before="$(cpu_ticks "$NEXTCRM_PID")"
  t0="$(date +%s.%N)"
  walk_tokens "$tokens" "$out"
  secs="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  after="$(cpu_ticks "$NEXTCRM_PID")"
  note_busy "memory walk"
  settle_log
  rss_after="$(rss_kib)"
  read -r TOUCH_SENT TOUCH_DISTINCT TOUCH_NON200 < <(awk '/^touch:/ { print $5, $7, $9 }' "$out")
  TOUCH_ERRORS="$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")"
  echo "touched: ${TOUCH_DISTINCT}/${SESSIONS} distinct sessions answered 200 (${TOUCH_SENT} requests, ${TOUCH_NON200} non-200${TOUCH_ERRORS:+, socket errors: ${TOUCH_ERRORS}}) in ${secs} s, $(per_request "$((after - before))" "$TOUCH_SENT" 1e6) cpu us/request"
  MEM_RSS_BEFORE="$rss_before" MEM_RSS_AFTER="$rss_after"
  MEM_KIB="$(awk -v a="$rss_after" -v b="$rss_before" -v n="$SESSIONS" 'BEGIN { printf "%.2f", (a - b) / n }')"
  echo "nextcrm VmRSS: ${rss_before} KiB before, ${rss_after} KiB after: +$((rss_after - rss_before)) KiB = ${MEM_KIB} KiB per session"
}

# ---------------------------------------------------------------- 3. login

bench_login() {
  local hash i status timing before after out="${RUN_DIR}/login-wrk.txt" p50 p99 bad requests
  local -a ms=()
  hash="$(pg_psql "$PG_PORT" nextcrm -Atc "SELECT password_hash FROM users WHERE id = '${ADMIN_ID}'")"
  # $argon2id$v=19$m=19456,t=2,p=1$salt$hash: the cost as stored
  ARGON2="$(printf '%s\n' "$hash" | awk -F'$' '{ split($4, p, ","); sub("m=", "", p[1]); printf "argon2id m=%d KiB (%.0f MiB), %s, %s", p[1], p[1] / 1024, p[2], p[3] }')"
  HASHERS="${NEXTCRM_HASHER_THREADS:-$(nproc)}"
  echo
  echo "== 3. login: ${ARGON2} (stored hash $(printf '%s' "$hash" | cut -d'$' -f1-4)\$...), hasher threads ${HASHERS}"
  wait_quiet
  for ((i = 1; i <= LOGINS; i++)); do
    timing="$(curl -s -o "${RUN_DIR}/login-seq.json" -w '%{http_code} %{time_total}' --max-time 30 \
      -X POST -H 'Content-Type: application/json' --data-binary "@${RUN_DIR}/login.json" \
      "http://127.0.0.1:${HTTP_PORT}/api/v1/auth/login" || true)"
    status="${timing%% *}"
    [[ "$status" == 200 ]] || die "login ${i} answered ${status}: $(cat "${RUN_DIR}/login-seq.json")"
    ms+=("$(awk -v s="${timing#* }" 'BEGIN { printf "%.1f", s * 1000 }')")
  done
  note_busy "sequential logins"
  LOGIN_P50="$(median "${ms[@]}")"
  echo "sequential: ${LOGINS} logins, p50 ${LOGIN_P50} ms (min $(printf '%s\n' "${ms[@]}" | sort -g | head -n 1), max $(printf '%s\n' "${ms[@]}" | sort -g | tail -n 1))"

  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    printf "wrk.body = '%s'\n" "$LOGIN_BODY"
  } >"${RUN_DIR}/login.lua"
  before="$(cpu_ticks "$NEXTCRM_PID")"
  wrk -t"$((LOGIN_CLIENTS < THREADS ? LOGIN_CLIENTS : THREADS))" -c"$LOGIN_CLIENTS" -d"$LOGIN_DURATION" \
    --timeout 10s --latency -s "${RUN_DIR}/login.lua" "http://127.0.0.1:${HTTP_PORT}/api/v1/auth/login" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed against /api/v1/auth/login"; }
  after="$(cpu_ticks "$NEXTCRM_PID")"
  note_busy "concurrent logins"
  read -r _ p50 p99 bad < <(wrk_parse "$out")
  requests="$(wrk_requests "$out")"
  LOGIN_RPS="$(awk '/Requests\/sec:/ { printf "%.1f", $2 }' "$out")"
  LOGIN_NON2XX="$bad" LOGIN_CPU_MS="$(per_request "$((after - before))" "$requests" 1e3)"
  echo "concurrent: ${LOGIN_CLIENTS} clients for ${LOGIN_DURATION}: ${requests} logins, ${LOGIN_RPS} logins/s, p50 ${p50} ms, p99 ${p99} ms, ${bad} non-2xx, ${LOGIN_CPU_MS} cpu ms/login"
}

# ---------------------------------------------------------------- summary


summary() {
  local alive=yes errors warns statuses
  nextcrm_running "$RUN_DIR" || alive="NO (crashed?)"
  tail -n "+${LOG_START}" "${RUN_DIR}/nextcrm.log" >"${RUN_DIR}/nextcrm-bench.log"
  errors="$(grep -c '"level":"error"' "${RUN_DIR}/nextcrm-bench.log" || true)"
  warns="$(grep -c '"level":"warn"' "${RUN_DIR}/nextcrm-bench.log" || true)"
  statuses="$(grep -o '"status":[0-9]*' "${RUN_DIR}/nextcrm-bench.log" | cut -d: -f2 | sort | uniq -c |
    awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
  echo
  echo "== summary (cores: $(nproc), nextcrm NEXTCRM_IO_THREADS=${NEXTCRM_IO_THREADS:-default} NEXTCRM_WORKERS=${NEXTCRM_WORKERS:-default} NEXTCRM_HASHER_THREADS=${HASHERS})"
  printf '%-34s %s\n' \
    "me/health req/s (median):" "${ME_RPS} / ${H_RPS} = ${ME_RATIO} (per-round pairs ${ME_PAIR_RATIO})   target >= 0.60: $(verdict "$ME_RATIO" '>=' 0.6)" \
    "cpu us/request me, health:" "${ME_US}, ${H_US}   p99 ms me, health: ${ME_P99}, ${H_P99}   non-2xx: ${ME_NON2XX}" \
    "memory per live session:" "${MEM_KIB} KiB (${SESSIONS} sessions, VmRSS ${MEM_RSS_BEFORE} -> ${MEM_RSS_AFTER} KiB)   target <= 2 KiB: $(verdict "$MEM_KIB" '<=' 2)" \
    "sessions answered 200:" "${TOUCH_DISTINCT}/${SESSIONS} distinct (${TOUCH_NON200} non-200)   $([[ "$TOUCH_DISTINCT" == "$SESSIONS" && "$TOUCH_NON200" == 0 ]] && echo all || echo "NOT all")" \
    "login, sequential p50:" "${LOGIN_P50} ms at ${ARGON2}" \
    "logins/s, ${LOGIN_CLIENTS} clients, $(nproc) cores:" "${LOGIN_RPS} (${LOGIN_CPU_MS} cpu ms/login, ${LOGIN_NON2XX} non-2xx)" \
    "nextcrm:" "alive ${alive}, log lines at error: ${errors}, at warn: ${warns}" \
    "answers logged (status xcount):" "${statuses}" \
    "machine:" "$( ((${#BUSY_PHASES[@]})) && echo "busy during: ${BUSY_PHASES[*]}" || echo "quiet (no cc1plus/other wrk/pgbench, under ${QUIET_CPU}% of a core used, after each measurement)")"
}

main() {
  ME_NON2XX=0
  BUSY_PHASES=()
  HZ="$(getconf CLK_TCK)"
  bench_prepare
  [[ "$(build_type_of "$NEXTCRM_BUILD_DIR")" == Release ]] ||
    warn "${NEXTCRM_BUILD_DIR} is not a Release build: figures will be low"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_stack
  echo "cores: $(nproc)   nextcrm: http://127.0.0.1:${HTTP_PORT} (pid ${NEXTCRM_PID}, log to file)"
  bootstrap_tenant
  bench_me
  bench_memory
  bench_login
  summary
  log "wrk reports and logs: ${RUN_DIR} (removed on exit unless NEXTCRM_KEEP_RUN=1)"
}

main "$@"
