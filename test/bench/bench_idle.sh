#!/usr/bin/env bash
# Benchmark: idle keep-alive connections (issue 10.7).
#   test/bench/bench_idle.sh
# Starts its own PostgreSQL, Redis and nextcrm (release build) in a
# temporary run folder with NEXTCRM_MAX_CONNECTIONS = BENCH_IDLE + 100 and a
# long idle timeout, then opens BENCH_IDLE (10000) connections to it, sends
# one GET /health on each (keep-alive) and holds them open. Prints nextcrm's
# RSS before and with the connections, the memory per idle connection, its
# threads' CPU while they sit idle (BENCH_IDLE_HOLD seconds), and whether a
# new request is still answered (and how fast) while they are held.
# Knobs: BENCH_IDLE (10000), BENCH_IDLE_HOLD (10), NEXTCRM_SKIP_BUILD=1,
# NEXTCRM_KEEP_RUN=1.
set -euo pipefail
exec </dev/null

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

IDLE="${BENCH_IDLE:-10000}"
HOLD="${BENCH_IDLE_HOLD:-10}"
RUN_DIR=""
[[ "$IDLE" =~ ^[1-9][0-9]*$ ]] || die "BENCH_IDLE must be a positive integer"
((IDLE + 200 < $(ulimit -n))) || ulimit -n "$((IDLE + 1024))" 2>/dev/null ||
  die "the open-file limit $(ulimit -n) is below BENCH_IDLE + 200"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

main() {
  trap 'stop_nextcrm_stack $?' EXIT
  bench_prepare
  export NEXTCRM_MAX_CONNECTIONS="$((IDLE + 100))" NEXTCRM_IDLE_TIMEOUT_MS=600000
  start_nextcrm_stack
  local pid before hz result
  pid="$(cat "${RUN_DIR}/nextcrm.pid")"
  hz="$(getconf CLK_TCK)"
  sleep 1
  before="$(rss_kib "$pid")"
  result="$(python3 - "$HTTP_PORT" "$IDLE" "$HOLD" "$pid" "$hz" <<'PY'
import socket, sys, time
port, n, hold, pid, hz = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
req = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"
socks = []
t0 = time.monotonic()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
ok = 0
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    ok += data.startswith(b"HTTP/1.1 200")
opened = time.monotonic() - t0
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
def ticks():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
t_a = ticks()
time.sleep(hold)
t_b = ticks()
with_conns = rss()
# a new request while they are held
t1 = time.monotonic()
c = socket.create_connection(("127.0.0.1", port))
c.sendall(req)
answer = c.recv(4096)
fresh_ms = (time.monotonic() - t1) * 1000
print("RESULT %d %d %.1f %d %.3f %s %.1f" % (n, ok, opened, with_conns, (t_b - t_a) / hz / hold * 100,
                                            answer.startswith(b"HTTP/1.1 200"), fresh_ms))
for s in socks:
    s.close()
PY
)"
  read -r _ n ok opened with cpu fresh fresh_ms <<<"$result"
  echo "== idle keep-alive connections (cores: $(nproc))"
  printf '%-36s %s\n' \
    "connections opened and answered:" "${ok} of ${n} in ${opened} s" \
    "nextcrm RSS before / with them:" "${before} KiB / ${with} KiB" \
    "memory per idle connection:" "$(awk -v a="$before" -v b="$with" -v n="$n" 'BEGIN { printf "%.1f KiB", (b - a) / n }')" \
    "nextcrm CPU while they sit idle:" "${cpu}% of a core (over ${HOLD} s)" \
    "a new request meanwhile:" "answered ${fresh} in ${fresh_ms} ms"
}

main "$@"
