#!/usr/bin/env bash
# Smoke test of a running Next_CRM stack, normally through the nginx gateway:
#   test/smoke/smoke.sh [BASE_URL]
# BASE_URL defaults to the gateway of the dev stack of this clone (the port
# `deploy/dev.sh up` recorded in .run/dev.env), else
# http://127.0.0.1:${NEXTCRM_GATEWAY_PORT:-8080}.
# Prints OK when every check passes; otherwise the failing check, and exits 1.
# It also bootstraps a tenant and runs a customer through create, get,
# conditional patch, the audit log, a query and delete, with the platform
# token of NEXTCRM_PLATFORM_TOKEN or, failing that, the dev stack's
# (.run/platform-token); without either those checks are skipped, and it
# says so.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
if [[ -z "${NEXTCRM_GATEWAY_PORT:-}" && -r "${ROOT}/.run/dev.env" ]]; then
  NEXTCRM_GATEWAY_PORT="$(sed -n 's/^GATEWAY_PORT=//p' "${ROOT}/.run/dev.env")"
fi
if [[ -z "${NEXTCRM_PLATFORM_TOKEN:-}" && -r "${ROOT}/.run/platform-token" ]]; then
  NEXTCRM_PLATFORM_TOKEN="$(<"${ROOT}/.run/platform-token")"
fi
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

# fetch PATH [curl args...]: GET (or what the args say) BASE_URL/PATH; status
# in STATUS, headers in WORK/headers, body in WORK/body.
fetch() {
  local path="$1"
  shift
  : >"${WORK}/headers"
  : >"${WORK}/body"
  STATUS="$(curl -sS --max-time 10 -D "${WORK}/headers" -o "${WORK}/body" \
    -w '%{http_code}' "$@" "${BASE_URL}${path}")" || fail "${path}: no answer from ${BASE_URL}"
}

# send METHOD PATH TOKEN [JSON] [extra curl args...]: a JSON API call.
send() {
  local method="$1" path="$2" token="$3" body="${4:-}"
  shift 4 || shift $#
  local -a args=(-X "$method" -H "Content-Type: application/json")
  [[ -n "$token" ]] && args+=(-H "Authorization: Bearer ${token}")
  [[ -n "$body" ]] && args+=(--data-binary "$body")
  fetch "$path" "${args[@]}" "$@"
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

# A tenant, its admin, and one customer through its whole life.
check_crm() {
  local slug token id etag
  slug="smoke-$(date +%s)-$RANDOM"
  send POST /api/v1/tenants "$NEXTCRM_PLATFORM_TOKEN" \
    "{\"slug\":\"${slug}\",\"name\":\"Smoke\",\"admin\":{\"email\":\"admin@${slug}.test\",\"password\":\"smoke-password-0123\"}}"
  expect_status "POST /api/v1/tenants" 201
  send POST /api/v1/auth/login "" \
    "{\"tenant\":\"${slug}\",\"email\":\"admin@${slug}.test\",\"password\":\"smoke-password-0123\"}"
  expect_status "POST /api/v1/auth/login" 200
  token="$(jq -r .access_token "${WORK}/body")"
  send POST /api/v1/customers "$token" '{"name":"Smoke Ltd","status":"active","annual_revenue":"1250"}'
  expect_status "POST /api/v1/customers" 201
  expect_json "POST /api/v1/customers" '.data.name == "Smoke Ltd" and .data.annual_revenue == "1250.00" and .data.version == 1'
  id="$(jq -r .data.id "${WORK}/body")"
  fetch "/api/v1/customers/${id}" -H "Authorization: Bearer ${token}"
  expect_status "GET /api/v1/customers/{id}" 200
  etag="$(header ETag)"
  [[ "$etag" == '"1"' ]] || fail "GET /api/v1/customers/{id}: ETag '${etag}', expected \"1\""
  send PATCH "/api/v1/customers/${id}" "$token" '{"status":"churned"}' -H "If-Match: ${etag}"
  expect_status "PATCH /api/v1/customers/{id}" 200
  expect_json "PATCH /api/v1/customers/{id}" '.data.status == "churned" and .data.version == 2'
  send PATCH "/api/v1/customers/${id}" "$token" '{"status":"lead"}' -H "If-Match: ${etag}"
  expect_status "PATCH with a stale If-Match" 412
  fetch "/api/v1/audit-logs?entity=customers&entity_id=${id}" -H "Authorization: Bearer ${token}"
  expect_status "GET /api/v1/audit-logs" 200
  expect_json "GET /api/v1/audit-logs" \
    '(.data | length) == 2 and .data[0].action == "update" and .data[0].changes.status.to == "churned"'
  send POST /api/v1/customers/query "$token" \
    '{"filter":{"and":[{"field":"status","op":"eq","value":"churned"},{"field":"name","op":"starts_with","value":"Smoke"}]},"fields":["name"]}'
  expect_status "POST /api/v1/customers/query" 200
  expect_json "POST /api/v1/customers/query" \
    "(.data | length) == 1 and .data[0].id == \"${id}\" and (.data[0] | keys) == [\"id\",\"name\"] and .page.next_cursor == null"
  send DELETE "/api/v1/customers/${id}" "$token" ""
  expect_status "DELETE /api/v1/customers/{id}" 204
  fetch "/api/v1/customers/${id}" -H "Authorization: Bearer ${token}"
  expect_status "GET a deleted customer" 404
}

check_health
check_version /api/version core
check_version /content/version content
check_not_found
if [[ -n "${NEXTCRM_PLATFORM_TOKEN:-}" ]]; then
  check_crm
  echo OK
else
  echo "OK (system routes only: no NEXTCRM_PLATFORM_TOKEN and no .run/platform-token, CRM checks skipped)"
fi
