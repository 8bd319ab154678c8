# shellcheck shell=bash
# Shared functions for the Next_CRM dev stack, the test runner and the bench.
# Source it (`source deploy/lib.sh`); it sets no shell options of its own, the
# callers run with `set -euo pipefail`.
#
# Private instances only: every PostgreSQL, Redis, nginx and nextcrm started
# here listens on 127.0.0.1, keeps its files under a run folder given by the
# caller and is stopped through its own pid file. System services (the
# clusters and sites the Debian packages may start) are never touched.

NEXTCRM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NEXTCRM_BUILD_DIR="${NEXTCRM_BUILD_DIR:-${NEXTCRM_ROOT}/build}"

# Debian 12 packages needed to build, run and test (see /tmp spec, ARCHITECTURE.md).
NEXTCRM_PACKAGES=(
  build-essential cmake ninja-build ccache git pkg-config
  libcaf-dev libasio-dev node-llhttp libsimdjson-dev libpq-dev libhiredis-dev
  libssl-dev libargon2-dev libcurl4-openssl-dev catch2 clang libclang-rt-dev
  postgresql redis-server nginx-light wrk curl jq python3 python3-yaml openssl
  libmagic-dev libvips-dev libvips-tools libqpdf-dev qpdf zlib1g-dev clamav clamav-daemon bubblewrap poppler-utils
)

# ---------------------------------------------------------------- messages

log() { printf '[nextcrm] %s\n' "$*" >&2; }
warn() { printf '[nextcrm] warning: %s\n' "$*" >&2; }
die() {
  printf '[nextcrm] error: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ---------------------------------------------------------------- packages

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Prints the packages of the list that are not installed. Any nginx flavour
# (nginx-core, nginx-full, ...) stands in for nginx-light: they conflict.
missing_packages() {
  local pkg flavour
  for pkg in "$@"; do
    pkg_installed "$pkg" && continue
    if [[ "$pkg" == nginx-light ]]; then
      for flavour in nginx nginx-core nginx-full nginx-extras; do
        pkg_installed "$flavour" && continue 2
      done
    fi
    printf '%s\n' "$pkg"
  done
}

# Installs the missing packages of NEXTCRM_PACKAGES (or of the arguments):
# one `apt-get update`, then one `apt-get install` of the missing ones only.
# shellcheck disable=SC2120 # arguments are optional
ensure_packages() {
  local -a wanted=("$@") missing=() sudo=()
  ((${#wanted[@]})) || wanted=("${NEXTCRM_PACKAGES[@]}")
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  if ((${#missing[@]} == 0)); then
    log "packages: all ${#wanted[@]} present"
    return 0
  fi
  if ! is_root; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root"
    sudo=(sudo -n)
  fi
  log "packages: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# ---------------------------------------------------------------- build

# The CMAKE_BUILD_TYPE of an existing build folder (empty when none).
build_type_of() {
  sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "${1}/CMakeCache.txt" 2>/dev/null || true
}

# Configures and builds into NEXTCRM_BUILD_DIR with Ninja, -j NEXTCRM_BUILD_JOBS
# (default 2). A new folder gets NEXTCRM_BUILD_TYPE (default Release); an
# existing one keeps its type unless NEXTCRM_BUILD_TYPE is set. Extra
# arguments go to the configure step (-DNAME=VALUE ...).
# shellcheck disable=SC2120 # arguments are optional
build() {
  local jobs="${NEXTCRM_BUILD_JOBS:-2}" type
  local -a args=()
  if [[ -f "${NEXTCRM_BUILD_DIR}/CMakeCache.txt" ]]; then
    type="${NEXTCRM_BUILD_TYPE:-$(build_type_of "$NEXTCRM_BUILD_DIR")}"
  else
    type="${NEXTCRM_BUILD_TYPE:-Release}"
    args=(-G Ninja)
  fi
  args+=(-DCMAKE_BUILD_TYPE="$type")
  log "build: ${type} in ${NEXTCRM_BUILD_DIR} (-j${jobs})"
  # chained with && so that the status is right even when errexit is off
  # (a caller's `build || ...`)
  cmake -S "$NEXTCRM_ROOT" -B "$NEXTCRM_BUILD_DIR" "${args[@]}" "$@" </dev/null &&
    cmake --build "$NEXTCRM_BUILD_DIR" -j "$jobs" </dev/null
}

nextcrm_bin() { printf '%s\n' "${NEXTCRM_BIN:-${NEXTCRM_BUILD_DIR}/nextcrm}"; }

# ---------------------------------------------------------------- ports

# Prints N (default 1) distinct free TCP ports on 127.0.0.1, one a line.
# All sockets are held open until every port is chosen, so they differ.
free_port() {
  python3 - "${1:-1}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
PY
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------- processes

# True when the pid file names a live process (optionally whose command line
# contains PATTERN, so a recycled pid is not mistaken for ours).
pidfile_alive() {
  local pidfile="$1" pattern="${2:-}" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ -z "$pattern" ]] && return 0
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# Sends SIGNAL to the pid of PIDFILE and waits up to TIMEOUT seconds for it
# to exit; SIGKILL after that. Removes the pid file.
stop_pidfile() {
  local pidfile="$1" signal="${2:-TERM}" timeout="${3:-15}" pid i
  if [[ -s "$pidfile" ]]; then
    pid="$(tr -dc '0-9' <"$pidfile")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "-${signal}" "$pid" 2>/dev/null || true
      for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        warn "pid ${pid} still alive after ${timeout}s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  rm -f "$pidfile"
}

# ---------------------------------------------------------------- http

# Polls URL until it answers 200 or TIMEOUT seconds (default 30) pass. With
# PIDFILE, gives up as soon as that process is gone.
wait_http() {
  local url="$1" timeout="${2:-30}" pidfile="${3:-}" deadline code=""
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if [[ -n "$pidfile" ]] && ! pidfile_alive "$pidfile"; then
      warn "the process of ${pidfile} exited while waiting for ${url}"
      return 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
    [[ "$code" == "200" ]] && return 0
    sleep 0.2
  done
  warn "${url} did not answer 200 within ${timeout}s (last status: ${code:-none})"
  return 1
}

# Writes TEMPLATE to OUT with every @KEY@ replaced by VALUE for each KEY=VALUE
# argument (plain bash substitution: values need no escaping).
render_template() {
  local template="$1" out="$2" text pair
  shift 2
  text="$(<"$template")"
  for pair in "$@"; do
    text="${text//@${pair%%=*}@/${pair#*=}}"
  done
  printf '%s\n' "$text" >"$out"
  if grep -qE '@[A-Z_]+@' "$out"; then
    die "unreplaced placeholder in ${out}: $(grep -oE '@[A-Z_]+@' "$out" | head -n 1)"
  fi
}

# ---------------------------------------------------------------- postgresql

pg_bindir() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
    sort -V | tail -n 1)"
  [[ -n "$dir" && -x "${dir}/initdb" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  printf '%s\n' "$dir"
}

# Runs a command as the cluster's OS user: `postgres` when we are root
# (initdb and postgres refuse root), ourselves otherwise. Runs from / so
# a caller's mode-700 working directory does not bother it.
as_pg_user() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# The folder that holds the cluster (data/, sock/, postgres.log) for the run
# folder DIR. Normally DIR itself; when the `postgres` user cannot reach DIR
# (e.g. a clone in a mode-700 temp folder), or the socket path would be too
# long, a folder under /var/tmp named after DIR's path, recorded in
# DIR/location so that later calls find it again.
pg_home() {
  local dir="$1" home hash
  if [[ -s "${dir}/location" ]]; then
    cat "${dir}/location"
    return 0
  fi
  mkdir -p "$dir"
  home="$(cd "$dir" && pwd -P)"
  if is_root; then
    chown postgres: "$home"
    chmod 700 "$home"
  fi
  if ((${#home} > 80)) || ! as_pg_user test -w "$home" -a -x "$home"; then
    hash="$(printf '%s' "$home" | sha256sum | cut -c1-12)"
    home="/var/tmp/nextcrm-pg-${hash}"
    mkdir -p "$home"
    is_root && chown postgres: "$home"
    chmod 700 "$home"
    printf '%s\n' "$home" >"${dir}/location"
    log "postgres: ${dir} is not usable by the cluster user, data lives in ${home}"
  fi
  printf '%s\n' "$home"
}

# libpq conninfo for ROLE on the private cluster at PORT.
pg_url() {
  printf 'host=127.0.0.1 port=%s dbname=%s user=%s\n' "$1" "${3:-nextcrm}" "$2"
}

# Writes the settings we own to data/nextcrm.conf (included from
# postgresql.conf) and a loopback-only pg_hba.conf. Prints "changed" when
# nextcrm.conf differs from before.
pg_write_config() {
  local home="$1" port="$2" data="${1}/data" conf old=""
  conf="listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${home}/sock'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 128MB
log_min_duration_statement = 1000
log_line_prefix = '%m [%p] %q%u@%d '"
  if [[ "${NEXTCRM_PG_FAST:-0}" == "1" ]]; then
    # throw-away test clusters: durability buys nothing there
    conf+="
fsync = off
synchronous_commit = off
full_page_writes = off"
  fi
  [[ -f "${data}/nextcrm.conf" ]] && old="$(<"${data}/nextcrm.conf")"
  as_pg_user tee "${data}/nextcrm.conf" >/dev/null <<<"$conf"
  as_pg_user tee "${data}/pg_hba.conf" >/dev/null <<'HBA'
# private Next_CRM cluster: the cluster user over its own socket, and
# loopback TCP only (the socket folder is mode 700).
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
HBA
  if ! grep -q "^include_if_exists = 'nextcrm.conf'" "${data}/postgresql.conf"; then
    as_pg_user sh -c "printf '%s\n' \"include_if_exists = 'nextcrm.conf'\" >>'${data}/postgresql.conf'"
  fi
  [[ "$old" == "$conf" ]] || echo changed
}

pg_is_running() {
  local home="$1"
  [[ -f "${home}/data/PG_VERSION" ]] || return 1
  as_pg_user "$(pg_bindir)/pg_ctl" status -D "${home}/data" >/dev/null 2>&1
}

# psql as the cluster superuser over loopback TCP.
pg_psql() {
  local port="$1" db="$2"
  shift 2
  "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@" </dev/null
}

# Creates the roles and the database (idempotent).
pg_create_roles() {
  local port="$1"
  pg_psql "$port" postgres -c "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nextcrm_owner') THEN
    CREATE ROLE nextcrm_owner LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nextcrm_app') THEN
    CREATE ROLE nextcrm_app LOGIN;
  END IF;
END\$\$;" \
    -c "ALTER ROLE nextcrm_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE;" \
    -c "ALTER ROLE nextcrm_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;"
  if [[ -z "$(pg_psql "$port" postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'nextcrm'")" ]]; then
    pg_psql "$port" postgres -c "CREATE DATABASE nextcrm OWNER nextcrm_owner ENCODING 'UTF8' TEMPLATE template0;"
  fi
  pg_psql "$port" postgres \
    -c "REVOKE ALL ON DATABASE nextcrm FROM PUBLIC;" \
    -c "GRANT CONNECT, TEMPORARY ON DATABASE nextcrm TO nextcrm_app;"
  # PG 15: schema public belongs to pg_database_owner (= nextcrm_owner) and
  # PUBLIC has no CREATE on it; the app role only needs USAGE.
  pg_psql "$port" nextcrm -c "GRANT USAGE ON SCHEMA public TO nextcrm_app;"
}

# pg_init_start DIR PORT: creates (once) and starts the private cluster of
# run folder DIR on 127.0.0.1:PORT, then makes sure roles and database exist.
# Safe to rerun: a running cluster is left alone unless its settings changed.
pg_init_start() {
  local dir="$1" port="$2" home bin changed
  bin="$(pg_bindir)"
  home="$(pg_home "$dir")"
  if [[ ! -f "${home}/data/PG_VERSION" ]]; then
    log "postgres: initdb in ${home}/data"
    as_pg_user mkdir -p "${home}/data" "${home}/sock"
    as_pg_user "${bin}/initdb" -D "${home}/data" -U postgres --auth=trust \
      --encoding=UTF8 --no-locale --no-instructions >"${home}/initdb.log" 2>&1 ||
      { cat "${home}/initdb.log" >&2; die "initdb failed"; }
  fi
  as_pg_user mkdir -p "${home}/sock"
  changed="$(pg_write_config "$home" "$port")"
  if pg_is_running "$home"; then
    if [[ -n "$changed" ]]; then
      log "postgres: settings changed, restarting"
      as_pg_user "${bin}/pg_ctl" restart -D "${home}/data" -m fast -w -t 60 \
        -l "${home}/postgres.log" >/dev/null
    else
      log "postgres: already running on port ${port}"
    fi
  else
    log "postgres: starting on 127.0.0.1:${port}"
    as_pg_user "${bin}/pg_ctl" start -D "${home}/data" -w -t 60 \
      -l "${home}/postgres.log" >/dev/null ||
      { tail -n 30 "${home}/postgres.log" >&2; die "postgres did not start"; }
  fi
  "${bin}/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || die "postgres not ready on port ${port}"
  pg_create_roles "$port"
}

# pg_stop DIR: fast shutdown of the cluster of run folder DIR (if running).
pg_stop() {
  local dir="$1" home
  [[ -d "$dir" ]] || return 0
  home="$(pg_home "$dir")"
  if pg_is_running "$home"; then
    log "postgres: stopping"
    as_pg_user "$(pg_bindir)/pg_ctl" stop -D "${home}/data" -m fast -w -t 60 >/dev/null
  fi
}

# pg_destroy DIR: stops the cluster and deletes its files (also the /var/tmp
# home when one was used).
pg_destroy() {
  local dir="$1" home
  [[ -d "$dir" ]] || return 0
  home="$(pg_home "$dir")"
  pg_stop "$dir"
  rm -rf "$home" "$dir"
}

# ---------------------------------------------------------------- redis

redis_is_running() {
  local dir="$1" port="$2"
  pidfile_alive "${dir}/redis.pid" redis-server &&
    [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]
}

# redis_start DIR PORT [REDIS-SERVER OPTIONS...]: Redis with an append-only
# file in DIR, on 127.0.0.1:PORT (extra options, e.g. --replicaof H P).
redis_start() {
  local dir="$1" port="$2"
  shift 2
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  if redis_is_running "$dir" "$port"; then
    log "redis: already running on port ${port}"
    return 0
  fi
  stop_pidfile "${dir}/redis.pid" TERM 10
  log "redis: starting on 127.0.0.1:${port}"
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
    --dir "$dir" --appendonly yes --appendfsync everysec \
    --daemonize yes --pidfile "${dir}/redis.pid" --logfile "${dir}/redis.log" \
    --repl-diskless-sync-delay 0 "$@" </dev/null
  redis_wait_ready redis "$port" "${dir}/redis.log"
}

# redis_wait_ready NAME PORT LOG: waits (10 s) for PONG on 127.0.0.1:PORT;
# dies with the tail of LOG when none comes.
redis_wait_ready() {
  local name="$1" port="$2" logfile="$3" i
  for ((i = 0; i < 100; i++)); do
    [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]] && return 0
    sleep 0.1
  done
  tail -n 20 "$logfile" >&2 || true
  die "${name} did not start on port ${port}"
}

# redis_stop DIR: SIGTERM (Redis flushes its AOF) and wait.
redis_stop() {
  local dir="$1"
  [[ -f "${dir}/redis.pid" ]] || return 0
  log "redis: stopping"
  stop_pidfile "${dir}/redis.pid" TERM 20
}

# sentinel_start DIR PORT PRIMARY_PORT: a Redis Sentinel on 127.0.0.1:PORT
# watching the primary on PRIMARY_PORT as "nextcrm" (quorum 1, down after
# 1 s, failover within 5 s); its rewritable config and log in DIR.
sentinel_start() {
  local dir="$1" port="$2" primary="$3"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  if redis_is_running "$dir" "$port"; then
    log "sentinel: already running on port ${port}"
    return 0
  fi
  stop_pidfile "${dir}/redis.pid" TERM 10
  log "sentinel: starting on 127.0.0.1:${port}"
  cat >"${dir}/sentinel.conf" <<EOF
port ${port}
bind 127.0.0.1
dir ${dir}
daemonize yes
pidfile ${dir}/redis.pid
logfile ${dir}/sentinel.log
sentinel monitor nextcrm 127.0.0.1 ${primary} 1
sentinel down-after-milliseconds nextcrm 1000
sentinel failover-timeout nextcrm 5000
EOF
  redis-server "${dir}/sentinel.conf" --sentinel </dev/null
  redis_wait_ready sentinel "$port" "${dir}/sentinel.log"
}

# ---------------------------------------------------------------- nginx

# Prints the `user` directive nginx needs: as root its workers would otherwise
# run as `nobody` and could not reach a mode-700 run folder.
nginx_user_directive() {
  if is_root; then echo 'user root;'; else echo '# not root: workers run as the current user'; fi
}

# nginx_start CONF: starts nginx with the absolute config CONF; the prefix
# (-p) is the folder of CONF, and the config keeps pid, logs and temp files
# there. Reloads the running one instead when its pid file is alive.
nginx_start() {
  local conf="$1" prefix pidfile
  prefix="$(cd "$(dirname "$conf")" && pwd -P)"
  conf="${prefix}/$(basename "$conf")"
  pidfile="$(nginx_pidfile "$conf")"
  mkdir -p "${prefix}/tmp" "${prefix}/logs"
  nginx -q -t -p "${prefix}/" -e "${prefix}/logs/error.log" -c "$conf" </dev/null ||
    die "nginx config ${conf} is invalid"
  if pidfile_alive "$pidfile" nginx; then
    log "nginx: reloading ${conf}"
    nginx -p "${prefix}/" -e "${prefix}/logs/error.log" -c "$conf" -s reload </dev/null
  else
    log "nginx: starting ${conf}"
    nginx -p "${prefix}/" -e "${prefix}/logs/error.log" -c "$conf" </dev/null
  fi
}

# The pid file named by the `pid` directive of CONF.
nginx_pidfile() {
  sed -n 's/^[[:space:]]*pid[[:space:]]\{1,\}\([^;]*\);.*/\1/p' "$1" | head -n 1
}

# nginx_stop CONF: graceful quit (SIGQUIT), then wait.
nginx_stop() {
  local conf="$1" pidfile
  [[ -f "$conf" ]] || return 0
  pidfile="$(nginx_pidfile "$conf")"
  [[ -n "$pidfile" && -f "$pidfile" ]] || return 0
  log "nginx: stopping"
  stop_pidfile "$pidfile" QUIT 15
}

# The upstream's server lines for a comma-separated list of host:port
# (passive health checks: out for 2 s after one failure).
nginx_server_lines() {
  local addr out=""
  local -a addrs
  IFS=, read -r -a addrs <<<"$1"
  for addr in "${addrs[@]}"; do
    out+="        server ${addr} max_fails=1 fail_timeout=2s;"$'\n'
  done
  printf '%s' "${out%$'\n'}"
}

# Renders deploy/nginx.dev.conf.template into DIR/nginx.conf for a gateway on
# GATEWAY_PORT in front of CORE and CONTENT (each a comma-separated list of
# host:port); prints the path of the rendered file.
nginx_render_gateway() {
  local dir="$1" gateway_port="$2" core="$3" content="$4" conf
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  conf="${dir}/nginx.conf"
  render_template "${NEXTCRM_ROOT}/deploy/nginx.dev.conf.template" "$conf" \
    "USER_DIRECTIVE=$(nginx_user_directive)" \
    "RUN_DIR=${dir}" \
    "DEPLOY_DIR=${NEXTCRM_ROOT}/deploy" \
    "GATEWAY_PORT=${gateway_port}" \
    "CORE_SERVERS=$(nginx_server_lines "$core")" \
    "CONTENT_SERVERS=$(nginx_server_lines "$content")"
  printf '%s\n' "$conf"
}

# ---------------------------------------------------------------- nextcrm

# Exports the NEXTCRM_* settings nextcrm (serve and migrate) reads, from
# the caller's HTTP_PORT, ADMIN_PORT, PG_PORT and REDIS_PORT.
export_nextcrm_env() {
  export NEXTCRM_LISTEN="127.0.0.1:${HTTP_PORT}"
  export NEXTCRM_ADMIN_LISTEN="127.0.0.1:${ADMIN_PORT}"
  export NEXTCRM_PG_URL NEXTCRM_PG_MIGRATE_URL
  NEXTCRM_PG_URL="$(pg_url "$PG_PORT" nextcrm_app)"
  NEXTCRM_PG_MIGRATE_URL="$(pg_url "$PG_PORT" nextcrm_owner)"
  export NEXTCRM_REDIS_ADDR="127.0.0.1:${REDIS_PORT}"
  export NEXTCRM_MIGRATIONS_DIR="${NEXTCRM_ROOT}/storage/migrations"
  # the gateway (nginx on loopback) reports the client in X-Forwarded-For
  export NEXTCRM_TRUSTED_PROXIES="${NEXTCRM_TRUSTED_PROXIES:-127.0.0.1/32,::1/128}"
  # webhooks of the dev stack may reach receivers on this machine (README)
  export NEXTCRM_WEBHOOK_ALLOW_HOSTS="${NEXTCRM_WEBHOOK_ALLOW_HOSTS:-127.0.0.1}"
  # not production: fault injection (NEXTCRM_CHAOS) may be tried here
  export NEXTCRM_PROFILE="${NEXTCRM_PROFILE:-development}"
  # the content pipeline's quarantine and safe store (docs/CONTENT.md)
  export NEXTCRM_CONTENT_DIR="${NEXTCRM_CONTENT_DIR:-${RUN_DIR:-${NEXTCRM_ROOT}/.run}/content}"
}

# Prints one NEXTCRM_JWT_KEYS entry "KID:<base64 of 32 random bytes>" (an
# HS256 key; join several with commas, the signing key first).
jwt_key_entry() {
  printf '%s:%s\n' "$1" "$(openssl rand -base64 32)"
}

# nextcrm_start DIR ARGS...: runs `nextcrm ARGS...` (default `serve`) in the
# background with stdout/stderr appended to DIR/nextcrm.log and its pid in
# DIR/nextcrm.pid. The NEXTCRM_* settings come from the caller's exported
# environment. A running instance of the same run folder is stopped first
# (the binary may have been rebuilt), so there is never more than one.
nextcrm_start() {
  local dir="$1" bin
  shift
  (($#)) || set -- serve
  bin="$(nextcrm_bin)"
  [[ -x "$bin" ]] || die "${bin} not found: build first"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  nextcrm_stop "$dir"
  log "nextcrm: starting $* (log: ${dir}/nextcrm.log)"
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not
  # reach it; it is stopped through the pid file.
  setsid "$bin" "$@" >>"${dir}/nextcrm.log" 2>&1 </dev/null &
  echo "$!" >"${dir}/nextcrm.pid"
}

# nextcrm_stop DIR: SIGTERM (graceful drain), SIGKILL after the grace period.
nextcrm_stop() {
  local dir="$1"
  pidfile_alive "${dir}/nextcrm.pid" nextcrm || {
    rm -f "${dir}/nextcrm.pid"
    return 0
  }
  log "nextcrm: stopping"
  stop_pidfile "${dir}/nextcrm.pid" TERM "$((${NEXTCRM_SHUTDOWN_GRACE_S:-10} + 5))"
}

nextcrm_running() { pidfile_alive "${1}/nextcrm.pid" nextcrm; }

# nextcrm_migrate LOGFILE: `nextcrm migrate` with the owner role
# (NEXTCRM_PG_MIGRATE_URL exported), output appended to LOGFILE.
nextcrm_migrate() {
  local logfile="$1" bin
  bin="$(nextcrm_bin)"
  [[ -x "$bin" ]] || die "${bin} not found: build first"
  log "nextcrm: migrate (log: ${logfile})"
  if ! "$bin" migrate </dev/null >>"$logfile" 2>&1; then
    tail -n 20 "$logfile" >&2
    die "nextcrm migrate failed (log: ${logfile})"
  fi
}
