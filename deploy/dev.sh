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
#   NEXTCRM_DEV_NODES      core nodes behind the gateway (default 1: one
#                          `serve --role=all`). With N > 1 (docs/CLUSTER.md):
#                          N `serve --role=core` nodes, node k on HTTP port
#                          NEXTCRM_DEV_HTTP_PORT + k - 1 and admin port
#                          NEXTCRM_DEV_ADMIN_PORT + k - 1, run folder
#                          .run/node-k; one `--role=content` node (the next
#                          ports, .run/node-content) and one `--role=runner`
#                          node (the ports after, .run/node-runner)
#   NEXTCRM_DEV_REDIS_SENTINEL=1 also a Redis replica (NEXTCRM_DEV_REDIS_PORT
#                          + 1, .run/redis-replica) and a Sentinel (+ 2,
#                          .run/sentinel); the nodes follow the primary
#                          through a failover (NEXTCRM_REDIS_SENTINELS)
#   NEXTCRM_DEV_HTTP_PORT  nextcrm public listener (default 8081; node 1's)
#   NEXTCRM_DEV_ADMIN_PORT nextcrm admin listener, /metrics (default 9091; node 1's)
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
  local redis="${NEXTCRM_DEV_REDIS_PORT:-}" nodes="${NEXTCRM_DEV_NODES:-}" sentinel="${NEXTCRM_DEV_REDIS_SENTINEL:-}"
  if [[ -f "$STATE_FILE" ]]; then
    # shellcheck source=/dev/null
    source "$STATE_FILE"
  fi
  GATEWAY_PORT="${gw:-${GATEWAY_PORT:-8080}}"
  HTTP_PORT="${http:-${HTTP_PORT:-8081}}"
  ADMIN_PORT="${admin:-${ADMIN_PORT:-9091}}"
  PG_PORT="${pg:-${PG_PORT:-15432}}"
  REDIS_PORT="${redis:-${REDIS_PORT:-16379}}"
  NODES="${nodes:-${NODES:-1}}"
  SENTINEL="${sentinel:-${SENTINEL:-0}}"
  [[ "$NODES" =~ ^[1-9][0-9]?$ ]] || die "NEXTCRM_DEV_NODES must be 1 to 99, not '${NODES}'"
}

save_settings() {
  cat >"$STATE_FILE" <<EOF
# written by deploy/dev.sh up; read by stop/status
GATEWAY_PORT=${GATEWAY_PORT}
HTTP_PORT=${HTTP_PORT}
ADMIN_PORT=${ADMIN_PORT}
PG_PORT=${PG_PORT}
REDIS_PORT=${REDIS_PORT}
NODES=${NODES}
SENTINEL=${SENTINEL}
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
  if [[ "$SENTINEL" == "1" ]]; then
    # the primary of now (after a failover, the former replica) is what the sentinel names
    redis_start "${RUN_DIR}/redis-replica" "$((REDIS_PORT + 1))" --replicaof 127.0.0.1 "$REDIS_PORT"
    sentinel_start "${RUN_DIR}/sentinel" "$((REDIS_PORT + 2))" "$REDIS_PORT"
  fi
}

# The nodes of the stack, one line each: "RUN_FOLDER HTTP_PORT ADMIN_PORT ROLE".
nodes() {
  if ((NODES == 1)); then
    echo "${RUN_DIR} ${HTTP_PORT} ${ADMIN_PORT} all"
    return
  fi
  local k
  for ((k = 1; k <= NODES; k++)); do
    echo "${RUN_DIR}/node-${k} $((HTTP_PORT + k - 1)) $((ADMIN_PORT + k - 1)) core"
  done
  echo "${RUN_DIR}/node-content $((HTTP_PORT + NODES)) $((ADMIN_PORT + NODES)) content"
  echo "${RUN_DIR}/node-runner $((HTTP_PORT + NODES + 1)) $((ADMIN_PORT + NODES + 1)) runner"
}

# Stops every nextcrm of this run folder: the single node and any cluster
# node (also of an earlier `up` with another NEXTCRM_DEV_NODES).
stop_all_nextcrm() {
  local dir
  nextcrm_stop "$RUN_DIR"
  for dir in "${RUN_DIR}"/node-*; do
    if [[ -d "$dir" ]]; then nextcrm_stop "$dir"; fi
  done
}

start_nextcrm() {
  local dir http admin role
  stop_all_nextcrm
  while read -r dir http admin role; do
    check_port_free "nextcrm HTTP (${role})" "$http"
    check_port_free "nextcrm admin (${role})" "$admin"
    (
      export NEXTCRM_LISTEN="127.0.0.1:${http}" NEXTCRM_ADMIN_LISTEN="127.0.0.1:${admin}"
      nextcrm_start "$dir" serve --role="$role"
    )
  done < <(nodes)
}

start_gateway() {
  local conf core="" content="" dir http admin role
  if ! pidfile_alive "${RUN_DIR}/nginx/nginx.pid" nginx; then
    check_port_free gateway "$GATEWAY_PORT"
  fi
  while read -r dir http admin role; do
    case "$role" in
      all) core="127.0.0.1:${http}" content="127.0.0.1:${http}" ;;
      core) core+="${core:+,}127.0.0.1:${http}" ;;
      content) content="127.0.0.1:${http}" ;;
    esac
  done < <(nodes)
  conf="$(nginx_render_gateway "${RUN_DIR}/nginx" "$GATEWAY_PORT" "$core" "$content")"
  nginx_start "$conf"
}

# Waits for every node's own /health; prints the log tail of one that fails.
wait_nodes() {
  local dir http admin role
  while read -r dir http admin role; do
    if ! wait_http "http://127.0.0.1:${http}/health" 60 "${dir}/nextcrm.pid"; then
      tail -n 20 "${dir}/nextcrm.log" >&2 || true
      die "nextcrm (${role}) on port ${http} did not become healthy (log: ${dir}/nextcrm.log)"
    fi
  done < <(nodes)
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
  if [[ "$SENTINEL" == "1" ]]; then export NEXTCRM_REDIS_SENTINELS="127.0.0.1:$((REDIS_PORT + 2))"; fi
  save_nextcrm_env
  nextcrm_migrate "${RUN_DIR}/migrate.log"
  ensure_platform_token
  ensure_jwt_keys
  start_nextcrm
  wait_nodes
  start_gateway
  local url="http://127.0.0.1:${GATEWAY_PORT}"
  if ! wait_http "${url}/health" 60; then
    die "the gateway did not answer (logs: ${RUN_DIR}/nginx/logs/)"
  fi
  local logs="${RUN_DIR}/nextcrm.log" dir http admin role
  ((NODES == 1)) || logs="${RUN_DIR}/node-*/nextcrm.log"
  cat <<EOF

Next_CRM is up: ${url}
  health   ${url}/health
  metrics  http://127.0.0.1:${ADMIN_PORT}/metrics
  token    platform operator token ${TOKEN_SOURCE}
  jwt keys ${JWT_KEYS_SOURCE}
  logs     ${logs}, ${RUN_DIR}/nginx/logs/
  stop     deploy/dev.sh stop
EOF
  if ((NODES > 1)); then
    echo "  nodes"
    while read -r dir http admin role; do
      printf '    %-8s http://127.0.0.1:%s  metrics :%s  %s\n' "$role" "$http" "$admin" "$dir"
    done < <(nodes)
  fi
}

cmd_stop() {
  load_settings
  nginx_stop "${RUN_DIR}/nginx/nginx.conf"
  stop_all_nextcrm
  redis_stop "${RUN_DIR}/sentinel"
  redis_stop "${RUN_DIR}/redis-replica"
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
  local dir http admin role
  while read -r dir http admin role; do
    if nextcrm_running "$dir"; then
      code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:${http}/health" || true)"
      report "nextcrm-${role}" up "127.0.0.1:${http} pid $(<"${dir}/nextcrm.pid") /health ${code}"
    else
      report "nextcrm-${role}" down "$dir" || down=1
    fi
  done < <(nodes)
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
