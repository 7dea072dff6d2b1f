# shellcheck shell=bash
# Beaver local stack: shared defaults and helpers.
#
# Source it from any deploy script:
#   source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
#
# Every BEAVER_* default below can be overridden from the environment. The derived
# URLs (BEAVER_KAFKA_BROKERS, BEAVER_DATABASE_URL, BEAVER_REDIS_URL) are what the
# Rust tiers read; they are only computed when not already set.

if [[ -n "${_BEAVER_LIB_SOURCED:-}" ]]; then
  return 0
fi
_BEAVER_LIB_SOURCED=1

# ---------------------------------------------------------------------------
# locations
# ---------------------------------------------------------------------------
BEAVER_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BEAVER_DEPLOY_DIR/.." && pwd)"
export BEAVER_ROOT="$ROOT"

export BEAVER_STATE_DIR="${BEAVER_STATE_DIR:-$ROOT/.state}"
export BEAVER_HOST="${BEAVER_HOST:-127.0.0.1}"

# ---------------------------------------------------------------------------
# ports / credentials / versions
# ---------------------------------------------------------------------------
export BEAVER_KAFKA_PORT="${BEAVER_KAFKA_PORT:-9092}"
export BEAVER_KAFKA_CONTROLLER_PORT="${BEAVER_KAFKA_CONTROLLER_PORT:-9093}"
# Newest 4.x whose kafka_2.13 AND kafka-tools artifacts are both on Maven Central.
export BEAVER_KAFKA_VERSION="${BEAVER_KAFKA_VERSION:-4.3.1}"
export BEAVER_KAFKA_HEAP_OPTS="${BEAVER_KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
# The broker's collector. Parallel GC was measured against this G1 default
# (docs/benchmarks.md, "Send path, ninth pass"): 0.03 cores less, no p99 change.
export BEAVER_KAFKA_GC_OPTS="${BEAVER_KAFKA_GC_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent}"

export BEAVER_MYSQL_PORT="${BEAVER_MYSQL_PORT:-3306}"
export BEAVER_MYSQL_USER="${BEAVER_MYSQL_USER:-beaver}"
export BEAVER_MYSQL_PASSWORD="${BEAVER_MYSQL_PASSWORD:-beaver}"
export BEAVER_MYSQL_DATABASE="${BEAVER_MYSQL_DATABASE:-beaver}"
# InnoDB buffer pool: the messages table of a 1M-message rebuild is ~1 GiB;
# at 256M the rebuild ran 30 % slower and kept slowing as the table grew.
export BEAVER_MYSQL_BUFFER_POOL="${BEAVER_MYSQL_BUFFER_POOL:-2G}"

export BEAVER_REDIS_PORT="${BEAVER_REDIS_PORT:-6379}"

export BEAVER_GATEWAY_PORT="${BEAVER_GATEWAY_PORT:-21080}"
# the gateway's second listener: only /ws, the seed's WebSocket address
export BEAVER_GATEWAY_WS_PORT="${BEAVER_GATEWAY_WS_PORT:-21040}"
export BEAVER_COMMANDS_PORT="${BEAVER_COMMANDS_PORT:-21081}"
# Where ws-push performs call actions sent as socket frames.
export BEAVER_COMMANDS_URL="${BEAVER_COMMANDS_URL:-http://127.0.0.1:$BEAVER_COMMANDS_PORT}"
export BEAVER_QUERY_PORT="${BEAVER_QUERY_PORT:-21082}"
export BEAVER_WS_PORT="${BEAVER_WS_PORT:-21083}"
# ws-push nodes: node n listens on BEAVER_WS_PORT + 100*(n-1) (21083, 21183, ...)
export BEAVER_WS_NODES="${BEAVER_WS_NODES:-2}"
export BEAVER_PROJECTORS_PORT="${BEAVER_PROJECTORS_PORT:-21084}"
export BEAVER_SEQUENCER_PORT="${BEAVER_SEQUENCER_PORT:-21085}"

# ---------------------------------------------------------------------------
# derived URLs for the Rust tiers
# ---------------------------------------------------------------------------
export BEAVER_KAFKA_BROKERS="${BEAVER_KAFKA_BROKERS:-$BEAVER_HOST:$BEAVER_KAFKA_PORT}"
export BEAVER_DATABASE_URL="${BEAVER_DATABASE_URL:-mysql://$BEAVER_MYSQL_USER:$BEAVER_MYSQL_PASSWORD@$BEAVER_HOST:$BEAVER_MYSQL_PORT/$BEAVER_MYSQL_DATABASE}"
export BEAVER_REDIS_URL="${BEAVER_REDIS_URL:-redis://$BEAVER_HOST:$BEAVER_REDIS_PORT}"
# Uploaded files (docs/services.md, "Files and uploads"); bytes never go into Kafka.
export BEAVER_FILE_STORE="${BEAVER_FILE_STORE:-$BEAVER_STATE_DIR/files}"

# Secrets: deploy/up makes them once per installation under secrets/ (mode
# 700, files 600) and the tiers read them from there. An operator who sets
# BEAVER_JWT_SECRET (or BEAVER_JWT_SECRET_FILE) themselves keeps that instead.
BEAVER_SECRETS_DIR="$BEAVER_STATE_DIR/secrets"
export BEAVER_SECRETS_DIR
if [[ -z "${BEAVER_JWT_SECRET:-}" ]]; then
  export BEAVER_JWT_SECRET_FILE="${BEAVER_JWT_SECRET_FILE:-$BEAVER_SECRETS_DIR/jwt_secret}"
fi
# The TURN server's shared secret (coturn `use-auth-secret`), from which
# query-api mints short-lived TURN credentials (docs/services.md, "Calls").
if [[ -z "${BEAVER_TURN_SECRET:-}" ]]; then
  export BEAVER_TURN_SECRET_FILE="${BEAVER_TURN_SECRET_FILE:-$BEAVER_SECRETS_DIR/turn_secret}"
fi
export BEAVER_TURN_URIS="${BEAVER_TURN_URIS:-turn:$BEAVER_HOST:3478?transport=udp,turn:$BEAVER_HOST:3478?transport=tcp}"

# How long any wait in deploy/ may take before it gives up, naming what it
# waited for and its log (seconds).
export BEAVER_HEALTH_TIMEOUT="${BEAVER_HEALTH_TIMEOUT:-60}"

# ---------------------------------------------------------------------------
# state layout
# ---------------------------------------------------------------------------
BEAVER_RUN_DIR="$BEAVER_STATE_DIR/run"     # NAME.pid files (only pid files live here)
BEAVER_LOG_DIR="$BEAVER_STATE_DIR/logs"
BEAVER_KAFKA_DIR="$BEAVER_STATE_DIR/kafka"
BEAVER_KAFKA_LIBS="$BEAVER_KAFKA_DIR/libs"
BEAVER_MARIADB_DIR="$BEAVER_STATE_DIR/mariadb"
BEAVER_MARIADB_SOCKET="$BEAVER_MARIADB_DIR/mysqld.sock"
BEAVER_REDIS_DIR="$BEAVER_STATE_DIR/redis"
BEAVER_NGINX_DIR="$BEAVER_STATE_DIR/nginx"
export BEAVER_RUN_DIR BEAVER_LOG_DIR BEAVER_KAFKA_DIR BEAVER_KAFKA_LIBS BEAVER_MARIADB_DIR \
  BEAVER_MARIADB_SOCKET BEAVER_REDIS_DIR BEAVER_NGINX_DIR

# ---------------------------------------------------------------------------
# logging
# ---------------------------------------------------------------------------
_beaver_script="$(basename "${0:-beaver}")"

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "$_beaver_script" "$*" >&2; }
warn() { log "WARN: $*"; }
die() {
  log "ERROR: $*"
  exit 1
}

ensure_state_dirs() {
  mkdir -p "$BEAVER_STATE_DIR" "$BEAVER_RUN_DIR" "$BEAVER_LOG_DIR"
}

# ---------------------------------------------------------------------------
# one lock for all deploy scripts (infra-up / gateway-up / down) so that
# parallel invocations do not start things twice. fd 9 is closed again in
# start_bg so that daemons never inherit the lock.
# ---------------------------------------------------------------------------
beaver_lock() {
  ensure_state_dirs
  exec 9>"$BEAVER_STATE_DIR/.deploy.lock"
  if ! flock -w "${BEAVER_LOCK_TIMEOUT:-600}" 9; then
    die "could not get $BEAVER_STATE_DIR/.deploy.lock within ${BEAVER_LOCK_TIMEOUT:-600}s:" \
      "another deploy script holds it ($(fuser "$BEAVER_STATE_DIR/.deploy.lock" 2>/dev/null || echo 'unknown pid'))"
  fi
}

# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
pid_file() { printf '%s/%s.pid' "$BEAVER_RUN_DIR" "$1"; }

# pid_alive PID: process exists and is not a zombie
pid_alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# read_pid NAME -> prints pid from the pid file (empty if none)
read_pid() {
  local f
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 0
  head -n1 "$f" 2>/dev/null | tr -dc '0-9'
}

# is_running NAME: pid file exists and its process is alive
is_running() {
  local pid
  pid="$(read_pid "$1")"
  [[ -n "$pid" ]] && pid_alive "$pid"
}

# wait_port HOST PORT TIMEOUT_SECONDS: until a TCP connect succeeds
wait_port() {
  local host="$1" port="$2" timeout="${3:-30}" deadline
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if port_open "$host" "$port"; then
      return 0
    fi
    sleep 0.2
  done
  port_open "$host" "$port"
}

port_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# start_bg NAME LOGFILE CMD...: run CMD detached (own session, no stdin, HUP
# ignored), stdout+stderr appended to LOGFILE, pid written to run/NAME.pid.
# The pid recorded is the pid of CMD itself (the wrapper execs into it).
start_bg() {
  local name="$1" logfile="$2"
  shift 2
  ensure_state_dirs
  mkdir -p "$(dirname "$logfile")"
  local pidf
  pidf="$(pid_file "$name")"
  rm -f "$pidf" "$pidf.tmp"
  printf '\n==== %s starting %s: %s\n' "$(date '+%F %T')" "$name" "$*" >>"$logfile"
  # shellcheck disable=SC2016
  setsid nohup bash -c 'echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" \
    </dev/null >>"$logfile" 2>&1 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidf" ]] && break
    sleep 0.05
  done
  [[ -s "$pidf" ]] || die "start_bg $name: no pid file after 5s (see $logfile)"
  log "started $name (pid $(read_pid "$name"), log $logfile)"
}

# stop NAME [TIMEOUT_SECONDS]: TERM, wait, KILL after the timeout, remove pid file
stop() {
  local name="$1" timeout="${2:-30}" pid pidf deadline
  pidf="$(pid_file "$name")"
  pid="$(read_pid "$name")"
  if [[ -z "$pid" ]] || ! pid_alive "$pid"; then
    rm -f "$pidf"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while pid_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if pid_alive "$pid"; then
    warn "$name (pid $pid) still alive after ${timeout}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((deadline = 0; deadline < 50; deadline++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$pidf"
}

# fail_with_log NAME LOGFILE MESSAGE: print the tail of a log, then die
fail_with_log() {
  local name="$1" logfile="$2"
  shift 2
  if [[ -f "$logfile" ]]; then
    log "---- last lines of $logfile ----"
    tail -n 40 "$logfile" >&2 || true
  fi
  die "$name: $* (log: $logfile)"
}

# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------
# ensure_packages "cmd:package" ...: installs the packages whose command is
# missing, with one apt-get update and one apt-get install. Service start-up by
# the postinst scripts is suppressed with a temporary policy-rc.d.
ensure_packages() {
  local spec cmd pkg missing=()
  for spec in "$@"; do
    cmd="${spec%%:*}"
    pkg="${spec#*:}"
    if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$cmd" ]]; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]})) || return 0
  [[ "$(id -u)" == 0 ]] || die "need root to apt-get install ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  local created_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, by beaver deploy: do not start services on install\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  } >"$BEAVER_LOG_DIR/apt.log" 2>&1 || rc=$?
  if [[ -n "$created_policy" ]]; then
    rm -f /usr/sbin/policy-rc.d
  fi
  ((rc == 0)) || fail_with_log apt "$BEAVER_LOG_DIR/apt.log" "apt-get failed (rc $rc)"
  log "installed: ${missing[*]}"
}

# all Debian packages the local stack needs (one apt transaction for everything)
ensure_stack_packages() {
  ensure_packages mariadbd:mariadb-server mariadb:mariadb-client \
    redis-server:redis-server redis-cli:redis-tools nginx:nginx-light
}

# ---------------------------------------------------------------------------
# Kafka helpers
# ---------------------------------------------------------------------------
kafka_classpath() { printf '%s/*' "$BEAVER_KAFKA_LIBS"; }

# kafka_tool CLASS ARGS...: run a Kafka CLI class on the broker's classpath.
# No log4j2 config is given: log4j2's default prints ERROR and up on the console.
kafka_tool() {
  timeout "${BEAVER_KAFKA_TOOL_TIMEOUT:-300}" java -Xms32m -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -cp "$(kafka_classpath)" "$@"
}

# kafka_topics ARGS...: TopicCommand against the local broker
kafka_topics() {
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BEAVER_KAFKA_BROKERS" "$@"
}

# ensure_secrets: the per-installation JWT secret (48 random bytes, base64),
# made once; the folder is 700 and the file 600. Rotate by deleting the file
# and running deploy/up again (tiers restart with the new one).
ensure_secrets() {
  [[ -n "${BEAVER_JWT_SECRET_FILE:-}" ]] || return 0
  local dir
  dir="$(dirname "$BEAVER_JWT_SECRET_FILE")"
  (umask 077 && mkdir -p "$dir")
  [[ "$dir" != "$BEAVER_SECRETS_DIR" ]] || chmod 700 "$dir"
  if [[ ! -s "$BEAVER_JWT_SECRET_FILE" ]]; then
    (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$BEAVER_JWT_SECRET_FILE.tmp" &&
      mv -f "$BEAVER_JWT_SECRET_FILE.tmp" "$BEAVER_JWT_SECRET_FILE")
    log "made a JWT secret for this installation: $BEAVER_JWT_SECRET_FILE"
  fi
  chmod 600 "$BEAVER_JWT_SECRET_FILE"
  if [[ -n "${BEAVER_TURN_SECRET_FILE:-}" && ! -s "$BEAVER_TURN_SECRET_FILE" ]]; then
    (umask 077 && mkdir -p "$(dirname "$BEAVER_TURN_SECRET_FILE")" && head -c 32 /dev/urandom | base64 -w0 >"$BEAVER_TURN_SECRET_FILE.tmp" &&
      mv -f "$BEAVER_TURN_SECRET_FILE.tmp" "$BEAVER_TURN_SECRET_FILE")
    log "made a TURN secret for this installation: $BEAVER_TURN_SECRET_FILE"
  fi
  [[ -z "${BEAVER_TURN_SECRET_FILE:-}" ]] || chmod 600 "$BEAVER_TURN_SECRET_FILE"
}

# ws_node_ports: the port of every ws-push node, one per line.
ws_node_ports() {
  local n
  for ((n = 1; n <= BEAVER_WS_NODES; n++)); do
    echo $((BEAVER_WS_PORT + 100 * (n - 1)))
  done
}
