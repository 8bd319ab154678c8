#!/usr/bin/env bash
# Next_CRM dev stack without Docker: deploy/dev.sh [up|stop|status]  (default: up)
#
#   up      install missing Debian packages, build, start a private PostgreSQL
#           cluster and Redis under .run/ on loopback ports, migrate, start
#           nextcrm (serve --role=all) and nginx as the gateway, wait for
#           /health through the gateway and print the URL. Safe to rerun:
#           PostgreSQL and Redis keep running, nextcrm is restarted (it may
#           have been rebuilt) and nginx reloads its config.
#   stop    stop everything `up` started.
#   status  print each component up/down; exit 1 when any is down.
#
# Settings (environment; `up` records the ports in .run/dev.env so that a
# later `stop`/`status` finds the same stack):
#   NEXTCRM_GATEWAY_PORT   nginx on 127.0.0.1 (default 8080)
#   NEXTCRM_DEV_HTTP_PORT  nextcrm public listener (default 8081)
#   NEXTCRM_DEV_ADMIN_PORT nextcrm admin listener, /metrics (default 9091)
#   NEXTCRM_DEV_PG_PORT    private PostgreSQL (default 15432)
#   NEXTCRM_DEV_REDIS_PORT private Redis (default 16379)
#   (defaults stay below the kernel's ephemeral range, 32768-60999, where an
#   outgoing connection may hold the port)
#   NEXTCRM_PLATFORM_TOKEN used when set; otherwise one is generated once and
#                          kept in .run/platform-token (mode 600)
#   NEXTCRM_JWT_KEYS       token signing keys "kid:base64secret,..." (the first
#                          signs, all verify); used when set, otherwise one key
#                          (kid k1-<date>) is generated once into .run/jwt-keys
#                          (mode 600)
#   NEXTCRM_DEV_SKIP_BUILD=1 skip the build (use build/nextcrm as it is)
#   Any other NEXTCRM_* variable (NEXTCRM_LOG_LEVEL, NEXTCRM_WORKERS, ...)
#   is passed to nextcrm as it is.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN_DIR="${NEXTCRM_ROOT}/.run"
STATE_FILE="${RUN_DIR}/dev.env"
TOKEN_FILE="${RUN_DIR}/platform-token"
TOKEN_SOURCE=""
JWT_KEYS_FILE="${RUN_DIR}/jwt-keys"
JWT_KEYS_SOURCE=""

# Ports: the environment wins, then what the last `up` recorded, then defaults.
load_settings() {
  local gw="${NEXTCRM_GATEWAY_PORT:-}" http="${NEXTCRM_DEV_HTTP_PORT:-}"
  local admin="${NEXTCRM_DEV_ADMIN_PORT:-}" pg="${NEXTCRM_DEV_PG_PORT:-}"
  local redis="${NEXTCRM_DEV_REDIS_PORT:-}"
  if [[ -f "$STATE_FILE" ]]; then
    # shellcheck source=/dev/null
    source "$STATE_FILE"
  fi
  GATEWAY_PORT="${gw:-${GATEWAY_PORT:-8080}}"
  HTTP_PORT="${http:-${HTTP_PORT:-8081}}"
  ADMIN_PORT="${admin:-${ADMIN_PORT:-9091}}"
  PG_PORT="${pg:-${PG_PORT:-15432}}"
  REDIS_PORT="${redis:-${REDIS_PORT:-16379}}"
}

save_settings() {
  cat >"$STATE_FILE" <<EOF
# written by deploy/dev.sh up; read by stop/status
GATEWAY_PORT=${GATEWAY_PORT}
HTTP_PORT=${HTTP_PORT}
ADMIN_PORT=${ADMIN_PORT}
PG_PORT=${PG_PORT}
REDIS_PORT=${REDIS_PORT}
EOF
}

# The stack's connection settings (no secrets) in .run/nextcrm.env:
# `nextcrm admin` run inside this clone reads the ones not set in its
# environment from there; a shell can take them with
#   set -a; . .run/nextcrm.env; set +a
save_nextcrm_env() {
  local var
  {
    echo "# written by deploy/dev.sh up: the dev stack's settings (no secrets)"
    for var in NEXTCRM_PG_URL NEXTCRM_PG_MIGRATE_URL NEXTCRM_REDIS_ADDR NEXTCRM_MIGRATIONS_DIR; do
      printf "%s='%s'\n" "$var" "${!var}"
    done
  } >"${RUN_DIR}/nextcrm.env"
}

# NEXTCRM_PLATFORM_TOKEN from the environment, else from the token file,
# else a new random one written there (mode 600). Never printed.
ensure_platform_token() {
  if [[ -n "${NEXTCRM_PLATFORM_TOKEN:-}" ]]; then
    TOKEN_SOURCE="from the environment (NEXTCRM_PLATFORM_TOKEN)"
  else
    if [[ ! -s "$TOKEN_FILE" ]]; then
      (umask 077 && openssl rand -hex 32 >"$TOKEN_FILE")
      log "platform token: generated"
    fi
    chmod 600 "$TOKEN_FILE"
    NEXTCRM_PLATFORM_TOKEN="$(<"$TOKEN_FILE")"
    TOKEN_SOURCE="in ${TOKEN_FILE}"
  fi
  log "platform token: ${TOKEN_SOURCE}"
  export NEXTCRM_PLATFORM_TOKEN
}

# NEXTCRM_JWT_KEYS from the environment, else from the keys file, else one
# new key "k1-<date>:<base64 of 32 random bytes>" written there (mode 600).
# The file holds one key a line (or comma-separated), the signing key first.
# Never printed. To rotate: put a new key first in the file, keep the old one
# after it until the tokens it signed have expired, then remove it.
ensure_jwt_keys() {
  if [[ -n "${NEXTCRM_JWT_KEYS:-}" ]]; then
    JWT_KEYS_SOURCE="from the environment (NEXTCRM_JWT_KEYS)"
  else
    if [[ ! -s "$JWT_KEYS_FILE" ]]; then
      (umask 077 && jwt_key_entry "k1-$(date -u +%Y%m%d)" >"$JWT_KEYS_FILE")
      log "jwt keys: generated"
    fi
    chmod 600 "$JWT_KEYS_FILE"
    NEXTCRM_JWT_KEYS="$(tr -d ' \t\r' <"$JWT_KEYS_FILE" | grep -v '^$' | paste -sd, -)"
    JWT_KEYS_SOURCE="in ${JWT_KEYS_FILE}"
  fi
  log "jwt keys: ${JWT_KEYS_SOURCE}"
  export NEXTCRM_JWT_KEYS
}

# Refuses to start when a port we need is taken by something that is not ours.
check_port_free() {
  local name="$1" port="$2"
  if port_open "$port"; then
    die "${name} port ${port} on 127.0.0.1 is in use by another program; set another one (see the top of deploy/dev.sh)"
  fi
}

start_postgres() {
  local home
  home="$(pg_home "${RUN_DIR}/pg")"
  if ! pg_is_running "$home"; then
    check_port_free PostgreSQL "$PG_PORT"
  fi
  pg_init_start "${RUN_DIR}/pg" "$PG_PORT"
}

start_redis() {
  if ! redis_is_running "${RUN_DIR}/redis" "$REDIS_PORT"; then
    check_port_free Redis "$REDIS_PORT"
  fi
  redis_start "${RUN_DIR}/redis" "$REDIS_PORT"
}

start_nextcrm() {
  nextcrm_stop "$RUN_DIR"
  check_port_free "nextcrm HTTP" "$HTTP_PORT"
  check_port_free "nextcrm admin" "$ADMIN_PORT"
  nextcrm_start "$RUN_DIR" serve --role=all
}

start_gateway() {
  local conf
  if ! pidfile_alive "${RUN_DIR}/nginx/nginx.pid" nginx; then
    check_port_free gateway "$GATEWAY_PORT"
  fi
  conf="$(nginx_render_gateway "${RUN_DIR}/nginx" "$GATEWAY_PORT" \
    "127.0.0.1:${HTTP_PORT}" "127.0.0.1:${HTTP_PORT}")"
  nginx_start "$conf"
}

cmd_up() {
  load_settings
  ensure_packages
  if [[ "${NEXTCRM_DEV_SKIP_BUILD:-0}" != "1" ]]; then
    build
  fi
  mkdir -p "$RUN_DIR"
  save_settings
  start_postgres
  start_redis
  export_nextcrm_env
  save_nextcrm_env
  nextcrm_migrate "${RUN_DIR}/migrate.log"
  ensure_platform_token
  ensure_jwt_keys
  start_nextcrm
  start_gateway
  local url="http://127.0.0.1:${GATEWAY_PORT}"
  if ! wait_http "${url}/health" 60 "${RUN_DIR}/nextcrm.pid"; then
    tail -n 20 "${RUN_DIR}/nextcrm.log" >&2 || true
    die "the stack did not become healthy (logs: ${RUN_DIR}/nextcrm.log, ${RUN_DIR}/nginx/logs/)"
  fi
  cat <<EOF

Next_CRM is up: ${url}
  health   ${url}/health
  metrics  http://127.0.0.1:${ADMIN_PORT}/metrics
  token    platform operator token ${TOKEN_SOURCE}
  jwt keys ${JWT_KEYS_SOURCE}
  logs     ${RUN_DIR}/nextcrm.log, ${RUN_DIR}/nginx/logs/
  stop     deploy/dev.sh stop
EOF
}

cmd_stop() {
  load_settings
  nginx_stop "${RUN_DIR}/nginx/nginx.conf"
  nextcrm_stop "$RUN_DIR"
  redis_stop "${RUN_DIR}/redis"
  pg_stop "${RUN_DIR}/pg"
  log "dev stack stopped"
}

# Prints "NAME up|down DETAIL" and returns 1 when down.
report() {
  local name="$1" state="$2" detail="${3:-}"
  printf '%-10s %-5s %s\n' "$name" "$state" "$detail"
  [[ "$state" == "up" ]]
}

cmd_status() {
  load_settings
  local down=0 code home
  if [[ -d "${RUN_DIR}/pg" ]] && home="$(pg_home "${RUN_DIR}/pg")" && pg_is_running "$home"; then
    report postgres up "127.0.0.1:${PG_PORT} (${home}/data)"
  else
    report postgres down || down=1
  fi
  if redis_is_running "${RUN_DIR}/redis" "$REDIS_PORT"; then
    report redis up "127.0.0.1:${REDIS_PORT}"
  else
    report redis down || down=1
  fi
  if nextcrm_running "$RUN_DIR"; then
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:${HTTP_PORT}/health" || true)"
    report nextcrm up "127.0.0.1:${HTTP_PORT} pid $(<"${RUN_DIR}/nextcrm.pid") /health ${code}"
  else
    report nextcrm down || down=1
  fi
  if pidfile_alive "${RUN_DIR}/nginx/nginx.pid" nginx; then
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:${GATEWAY_PORT}/health" || true)"
    report gateway up "http://127.0.0.1:${GATEWAY_PORT} /health ${code}"
  else
    report gateway down || down=1
  fi
  return "$down"
}

main() {
  case "${1:-up}" in
    up) cmd_up ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
    *) die "usage: deploy/dev.sh [up|stop|status]" ;;
  esac
}

main "$@"
