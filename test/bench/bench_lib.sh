#!/usr/bin/env bash
# Helpers shared by the benchmarks in test/bench (sourced, not run).
# Needs THREADS and CONNECTIONS set by the caller, and deploy/lib.sh's die.

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
