#!/usr/bin/env bash
# Smoke test of a running Next_CRM stack, normally through the nginx gateway:
#   test/smoke/smoke.sh [BASE_URL]   (default http://127.0.0.1:${NEXTCRM_GATEWAY_PORT:-8080})
# Prints OK when every check passes; otherwise the failing check, and exits 1.
set -euo pipefail

BASE_URL="${1:-http://127.0.0.1:${NEXTCRM_GATEWAY_PORT:-8080}}"
BASE_URL="${BASE_URL%/}"
TRACEPARENT_RE='^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "FAIL: ${tool} is not installed" >&2; exit 1; }
done

fail() {
  echo "FAIL: $*" >&2
  if [[ -s "${WORK}/body" ]]; then
    echo "--- last response body:" >&2
    head -c 2000 "${WORK}/body" >&2
    echo >&2
  fi
  exit 1
}

# fetch PATH: GET BASE_URL/PATH; status in STATUS, headers in WORK/headers,
# body in WORK/body.
fetch() {
  local path="$1"
  : >"${WORK}/headers"
  : >"${WORK}/body"
  STATUS="$(curl -sS --max-time 10 -D "${WORK}/headers" -o "${WORK}/body" \
    -w '%{http_code}' "${BASE_URL}${path}")" || fail "GET ${path}: no answer from ${BASE_URL}"
}

# Value of response header NAME (case-insensitive), without the CR.
header() {
  awk -v name="$(tr '[:upper:]' '[:lower:]' <<<"$1")" '
    { line = $0; sub(/\r$/, "", line) }
    index(tolower(line), name ":") == 1 { v = substr(line, length(name) + 2); sub(/^[ \t]+/, "", v); print v; exit }
  ' "${WORK}/headers"
}

# jq FILTER on the body must print "true".
expect_json() {
  local what="$1" filter="$2" result
  result="$(jq -r "$filter" "${WORK}/body" 2>/dev/null)" || fail "${what}: body is not JSON"
  [[ "$result" == "true" ]] || fail "${what}: expected ${filter}"
}

expect_status() {
  [[ "$STATUS" == "$2" ]] || fail "$1: HTTP ${STATUS}, expected $2"
}

# Every response carries X-Request-Id and a valid traceparent.
expect_trace_headers() {
  local what="$1" rid tp
  rid="$(header X-Request-Id)"
  tp="$(header traceparent)"
  [[ -n "$rid" ]] || fail "${what}: no X-Request-Id header"
  [[ "$tp" =~ $TRACEPARENT_RE ]] || fail "${what}: traceparent header missing or invalid ('${tp}')"
}

check_health() {
  fetch /health
  expect_status "GET /health" 200
  expect_json "GET /health" '.status == "ok" and .checks.postgres == "ok" and .checks.redis == "ok"'
  expect_trace_headers "GET /health"
}

check_version() {
  local path="$1" service="$2"
  fetch "$path"
  expect_status "GET ${path}" 200
  expect_json "GET ${path}" \
    ".service == \"${service}\" and (.version | type == \"string\" and length > 0) and (.commit | type == \"string\" and length > 0)"
  expect_trace_headers "GET ${path}"
}

check_not_found() {
  local path=/api/smoke-no-such-route ctype
  fetch "$path"
  expect_status "GET ${path}" 404
  ctype="$(header Content-Type)"
  [[ "$ctype" == application/problem+json* ]] ||
    fail "GET ${path}: Content-Type '${ctype}', expected application/problem+json"
  expect_json "GET ${path}" '.code == "resource.not_found" and .status == 404'
  expect_trace_headers "GET ${path}"
}

check_health
check_version /api/version core
check_version /content/version content
check_not_found
echo OK
