#!/usr/bin/env bash
# test/fuzz/run_query_fuzz.sh [build-dir]
# Builds the libFuzzer target test/fuzz/query_fuzz.cpp (the query DSL planner,
# protocols/query.cpp) with clang++ -fsanitize=fuzzer,address,undefined
# straight from the protocols sources into build-dir (default build/fuzz),
# then runs it for NEXTCRM_FUZZ_SECONDS (default 60) from the seed corpus
# test/fuzz/corpus/query/ (read-only; new inputs go to build-dir/corpus-query).
# Exits non-zero when the fuzzer finds a crash, a sanitizer report or a
# broken invariant; the input is left in build-dir/artifacts/ and printed.
# Installs clang (and its sanitizer/libFuzzer runtimes) when missing, as
# deploy/lib.sh's ensure_packages does. CTest runs it as fuzz.query.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/lib.sh
source "${ROOT}/deploy/lib.sh"

OUT="${1:-${ROOT}/build/fuzz}"
FUZZ_SECONDS="${NEXTCRM_FUZZ_SECONDS:-60}"
[[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]] || die "NEXTCRM_FUZZ_SECONDS must be a number of seconds"
CXX="${NEXTCRM_FUZZ_CXX:-clang++}"

# clang++ that can link a libFuzzer target (the runtimes are in
# libclang-rt-*-dev, only recommended by clang, and ensure_packages installs
# without recommends).
fuzzer_toolchain_ok() {
  command -v "$CXX" >/dev/null || return 1
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"${probe}/p.cpp"
  "$CXX" -fsanitize=fuzzer,address,undefined "${probe}/p.cpp" -o "${probe}/p" >/dev/null 2>&1
  local rc=$?
  rm -rf "$probe"
  return "$rc"
}
if ! command -v "$CXX" >/dev/null || ! fuzzer_toolchain_ok; then
  log "fuzz: ${CXX} cannot build a libFuzzer target, installing clang"
  ensure_packages clang libclang-rt-dev
fi
fuzzer_toolchain_ok || die "fuzz: ${CXX} still cannot link -fsanitize=fuzzer,address,undefined"

SOURCES=(
  "${ROOT}/test/fuzz/query_fuzz.cpp"
  "${ROOT}/protocols/query.cpp"
  "${ROOT}/protocols/entity.cpp"
  "${ROOT}/protocols/json_body.cpp"
  "${ROOT}/protocols/json_writer.cpp"
  "${ROOT}/protocols/values.cpp"
  "${ROOT}/protocols/uuid.cpp"
  "${ROOT}/protocols/trace.cpp"
  "${ROOT}/protocols/base64.cpp"
  "${ROOT}/protocols/jwt.cpp"
  "${ROOT}/protocols/problem.cpp"
)
BIN="${OUT}/query_fuzz"
mkdir -p "$OUT" "${OUT}/corpus-query" "${OUT}/artifacts"

# Rebuild when the binary is missing or older than a source, header or this script.
stale=1
if [[ -x "$BIN" ]]; then
  newer="$(find "${SOURCES[@]}" "${ROOT}"/protocols/*.hpp "${ROOT}/test/support/query_sql_check.hpp" \
    "${BASH_SOURCE[0]}" -newer "$BIN" -print -quit)"
  [[ -z "$newer" ]] && stale=0
fi
if ((stale)); then
  log "fuzz: building ${BIN}"
  "$CXX" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DSIMDJSON_THREADS_ENABLED=1 -I"$ROOT" -I"${ROOT}/test" \
    "${SOURCES[@]}" -o "${BIN}.tmp" \
    -pthread -lcaf_core -lsimdjson -lcrypto
  mv -f "${BIN}.tmp" "$BIN"
fi

log "fuzz: running query_fuzz for ${FUZZ_SECONDS}s"
touch "${OUT}/.run-start"
rc=0
ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
  "$BIN" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=25 -rss_limit_mb=2048 \
  -dict="${ROOT}/test/fuzz/query.dict" -artifact_prefix="${OUT}/artifacts/" -print_final_stats=1 \
  "${OUT}/corpus-query" "${ROOT}/test/fuzz/corpus/query" || rc=$?

if ((rc != 0)); then
  warn "fuzz: query_fuzz failed (exit status ${rc}); inputs in ${OUT}/artifacts/:"
  find "${OUT}/artifacts" -type f -newer "${OUT}/.run-start" -print | while read -r f; do
    printf '  %s (%s bytes): ' "$f" "$(wc -c <"$f")" >&2
    od -An -c "$f" | head -n 8 | tr -s ' ' >&2
  done
  exit "$rc"
fi
log "fuzz: no crash in ${FUZZ_SECONDS}s"
