#!/usr/bin/env bash
# test/fuzz/run_fuzz.sh TARGET [build-dir]
# Builds the libFuzzer target test/fuzz/TARGET_fuzz.cpp with clang++
# -fsanitize=fuzzer,address,undefined straight from the sources it needs into
# build-dir (default build/fuzz), then runs it for NEXTCRM_FUZZ_SECONDS
# (default: 60 for query, 20 for the edge targets) from the seed corpus
# test/fuzz/corpus/TARGET/ (read-only; new inputs go to
# build-dir/corpus-TARGET). Targets:
#   query      the query DSL planner (protocols/query.cpp)
#   http       request framing: http/parser.cpp on llhttp, whole vs split input
#   json_body  the JSON body reader, read_record, access profiles
#   jwt        token verification, key configuration, base64
#   router     route matching with the server's route table
# Exits non-zero when the fuzzer finds a crash, a sanitizer report or a
# broken invariant; the input is left in build-dir/artifacts-TARGET/ and printed.
# Installs clang (and its sanitizer/libFuzzer runtimes) when missing, as
# deploy/lib.sh's ensure_packages does. CTest runs each as fuzz.TARGET.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/lib.sh
source "${ROOT}/deploy/lib.sh"

TARGET="${1:?usage: run_fuzz.sh TARGET [build-dir]}"
OUT="${2:-${ROOT}/build/fuzz}"
DEFAULT_SECONDS=20
[[ "$TARGET" == query ]] && DEFAULT_SECONDS=60
FUZZ_SECONDS="${NEXTCRM_FUZZ_SECONDS:-$DEFAULT_SECONDS}"
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

P="${ROOT}/protocols"
COMMON=("${P}/json_body.cpp" "${P}/json_writer.cpp" "${P}/problem.cpp" "${P}/values.cpp" "${P}/uuid.cpp"
        "${P}/hex.cpp" "${P}/trace.cpp" "${P}/base64.cpp" "${P}/jwt.cpp" "${P}/entity.cpp")
C_SOURCES=()
EXTRA_FLAGS=()
case "$TARGET" in
  query) SOURCES=("${P}/query.cpp" "${COMMON[@]}") ;;
  json_body) SOURCES=("${P}/access_profile.cpp" "${COMMON[@]}") ;;
  jwt) SOURCES=("${COMMON[@]}") ;;
  router) SOURCES=("${ROOT}/actors/api/route_table.cpp" "${P}/router.cpp" "${COMMON[@]}") ;;
  content) SOURCES=("${P}/content.cpp" "${P}/content_access.cpp" "${P}/multipart.cpp" "${COMMON[@]}") ;;
  http)
    SOURCES=("${ROOT}/http/parser.cpp" "${ROOT}/http/upload_file.cpp" "${P}/multipart.cpp" "${P}/hex.cpp")
    LLHTTP_DIR=/usr/share/llhttp
    C_SOURCES=("${LLHTTP_DIR}/llhttp.c" "${LLHTTP_DIR}/api.c" "${LLHTTP_DIR}/http.c")
    EXTRA_FLAGS=(-I/usr/share/include/llhttp)
    ;;
  *) die "fuzz: unknown target '${TARGET}' (query, http, json_body, jwt, router, content)" ;;
esac
SOURCES=("${ROOT}/test/fuzz/${TARGET}_fuzz.cpp" "${SOURCES[@]}")
DICT=()
[[ -f "${ROOT}/test/fuzz/${TARGET}.dict" ]] && DICT=(-dict="${ROOT}/test/fuzz/${TARGET}.dict")
BIN="${OUT}/${TARGET}_fuzz"
mkdir -p "$OUT" "${OUT}/corpus-${TARGET}" "${OUT}/artifacts-${TARGET}" "${ROOT}/test/fuzz/corpus/${TARGET}"

# Rebuild when the binary is missing or older than a source, header or this script.
stale=1
if [[ -x "$BIN" ]]; then
  newer="$(find "${SOURCES[@]}" "${ROOT}"/protocols/*.hpp "${ROOT}"/http/*.hpp "${ROOT}"/actors/*/*.hpp \
    "${ROOT}/test/support/query_sql_check.hpp" \
    "${BASH_SOURCE[0]}" -newer "$BIN" -print -quit)"
  [[ -z "$newer" ]] && stale=0
fi
if ((stale)); then
  log "fuzz: building ${BIN}"
  OBJS=()
  for c in "${C_SOURCES[@]}"; do  # llhttp is C
    o="${OUT}/$(basename "$c" .c).${TARGET}.o"
    "${CXX%++}" -O1 -g -fsanitize=fuzzer-no-link,address,undefined -w "${EXTRA_FLAGS[@]}" -c "$c" -o "$o"
    OBJS+=("$o")
  done
  "$CXX" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DSIMDJSON_THREADS_ENABLED=1 -I"$ROOT" -I"${ROOT}/test" "${EXTRA_FLAGS[@]}" \
    "${SOURCES[@]}" "${OBJS[@]}" -o "${BIN}.tmp" \
    -pthread -lcaf_core -lsimdjson -lcrypto
  mv -f "${BIN}.tmp" "$BIN"
fi

log "fuzz: running ${TARGET}_fuzz for ${FUZZ_SECONDS}s"
touch "${OUT}/.run-start"
rc=0
ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
  "$BIN" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=25 -rss_limit_mb=2048 \
  "${DICT[@]}" -artifact_prefix="${OUT}/artifacts-${TARGET}/" -print_final_stats=1 \
  "${OUT}/corpus-${TARGET}" "${ROOT}/test/fuzz/corpus/${TARGET}" || rc=$?

if ((rc != 0)); then
  warn "fuzz: ${TARGET}_fuzz failed (exit status ${rc}); inputs in ${OUT}/artifacts-${TARGET}/:"
  find "${OUT}/artifacts-${TARGET}" -type f -newer "${OUT}/.run-start" -print | while read -r f; do
    printf '  %s (%s bytes): ' "$f" "$(wc -c <"$f")" >&2
    od -An -c "$f" | head -n 8 | tr -s ' ' >&2
  done
  exit "$rc"
fi
log "fuzz: no crash in ${FUZZ_SECONDS}s"
