#!/usr/bin/env bash
# The whole caisse stack on this machine: deploy/stack.sh COMMAND
#
#   up                   PostgreSQL + Kafka (KRaft) + topics + migrations + the four services,
#                        then a demo organization and test API key, a curl that works, and
#                        the ops URLs
#   down                 stops the services (SIGTERM, graceful), Kafka and PostgreSQL; data
#                        is kept
#   status               what is running
#   logs [NAME]          follow a service's JSON log (default gateway)
#   start-service NAME   start one service (no-op if it runs); it waits for its dependencies
#   stop-service NAME    stop one service (SIGTERM, graceful; SIGKILL after 30 s)
#
# NAME is gateway, session-worker, expiry-worker or webhook-worker. Kafka and PostgreSQL stop
# and start on their own with deploy/kafka.sh and deploy/pg.sh (start|stop|status).
#
# Each service's log is $CAISSE_STACK_DIR/logs/NAME.log, capped at CAISSE_STACK_LOG_MAX_MB
# (default 20; 0: no cap): past it, its content moves to NAME.log.1 (replacing the previous
# one) and the log starts again empty, so a service keeps at most about twice the cap.
#
# Everything is configurable through the environment (see deploy/env.sh and below), so a
# second stack (the integration tests) runs next to the developer's on other ports and dirs.
set -euo pipefail

# shellcheck source=env.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

: "${CAISSE_GATEWAY_PORT:=8080}"
: "${CAISSE_PUBLIC_BASE_URL:=http://localhost:$CAISSE_GATEWAY_PORT}"
# The internal API (completion by the payment side) listens next to the merchant API.
: "${CAISSE_GATEWAY_INTERNAL_PORT:=$((CAISSE_GATEWAY_PORT + 1))}"
: "${CAISSE_BIN_DIR:=$CAISSE_REPO/build/bin}"
# Each worker's ops listener (GET /healthz, /readyz, /metrics); the gateway serves the same
# routes on its internal port.
: "${CAISSE_SESSION_WORKER_OPS_PORT:=8091}"
: "${CAISSE_EXPIRY_WORKER_OPS_PORT:=8092}"
: "${CAISSE_WEBHOOK_WORKER_OPS_PORT:=8093}"
# Set to 0 to bring up only PostgreSQL, Kafka, topics and migrations (tests start services
# themselves when they need to kill and restart them).
: "${CAISSE_STACK_SERVICES:=1}"
# Each service log's size cap in MB (see above); 0 keeps everything.
: "${CAISSE_STACK_LOG_MAX_MB:=20}"
[[ $CAISSE_STACK_LOG_MAX_MB =~ ^[0-9]+$ ]] ||
  { echo "stack.sh: CAISSE_STACK_LOG_MAX_MB must be a whole number of MB" >&2; exit 2; }
export CAISSE_GATEWAY_PORT CAISSE_PUBLIC_BASE_URL CAISSE_GATEWAY_INTERNAL_PORT \
  CAISSE_SESSION_WORKER_OPS_PORT CAISSE_EXPIRY_WORKER_OPS_PORT CAISSE_WEBHOOK_WORKER_OPS_PORT

SERVICES=(session-worker expiry-worker webhook-worker gateway)
RUN="$CAISSE_STACK_DIR/run"
LOGS="$CAISSE_STACK_DIR/logs"
ADMIN="$CAISSE_BIN_DIR/caisse-admin"

die() {
  echo "stack.sh: $*" >&2
  exit 1
}

check_service_name() {
  local s
  for s in "${SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done
  echo "stack.sh: unknown service \"$1\" (one of: ${SERVICES[*]})" >&2
  exit 2
}

# The port of a service's health and metrics routes.
ops_port() {
  case $1 in
    session-worker) echo "$CAISSE_SESSION_WORKER_OPS_PORT" ;;
    expiry-worker) echo "$CAISSE_EXPIRY_WORKER_OPS_PORT" ;;
    webhook-worker) echo "$CAISSE_WEBHOOK_WORKER_OPS_PORT" ;;
    gateway) echo "$CAISSE_GATEWAY_INTERNAL_PORT" ;;
  esac
}

service_pid() {
  local pidfile="$RUN/$1.pid"
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start_service() {
  local name=$1
  if service_pid "$name" >/dev/null; then
    return 0
  fi
  mkdir -p "$RUN" "$LOGS"
  local bin="$CAISSE_BIN_DIR/caisse-$name"
  [ -x "$bin" ] || die "$bin is missing: run make first"
  # setsid: the service outlives this script, and a Ctrl-C in the terminal that ran
  # 'make up' does not reach it.
  # Static group membership (the pod name on Kubernetes): a restarted worker takes its
  # partitions back at once instead of waiting out the dead member's session timeout.
  local instance_id=""
  case $name in session-worker | webhook-worker) instance_id="${CAISSE_INSTANCE_ID:-$name-1}" ;; esac
  # A small supervisor shell waits for the service and keeps its exit status in
  # run/<name>.exit, so an orderly stop can be told from a crash or the watchdog. Beside it,
  # a loop caps the log every 2 s: the service appends to it (O_APPEND), so after a copy to
  # <log>.1 the log can be emptied in place (logrotate's copytruncate: the lines written
  # during the copy, a few milliseconds, are lost).
  rm -f "$RUN/$name.pid" "$RUN/$name.exit"
  # Each service connects as its own database user (deploy/pg.sh users), never as the owner,
  # and logs in to Kafka as its own user, allowed only what it needs (kafka_login).
  local database_url
  database_url=$(bash "$CAISSE_REPO/deploy/pg.sh" url "$name") || die "no database user for $name"
  local -a login=()
  read -r -a login <<<"$(kafka_login "$name")"
  env "${login[@]}" CAISSE_DATABASE_URL="$database_url" \
    CAISSE_INSTANCE_ID="$instance_id" CAISSE_OPS_PORT="$(ops_port "$name")" setsid bash -c '
    "$1" & pid=$!
    echo "$pid" >"$2.tmp"; mv "$2.tmp" "$2"
    if [ "$5" -gt 0 ]; then
      (while kill -0 "$pid" 2>/dev/null; do
        sleep 2
        size=$(stat -c %s "$4" 2>/dev/null || echo 0)
        if [ "$size" -gt $(($5 * 1048576)) ]; then cp -- "$4" "$4.1" && : >"$4"; fi
      done) &
    fi
    wait "$pid"; echo $? >"$3"' \
    caisse-supervisor "$bin" "$RUN/$name.pid" "$RUN/$name.exit" "$LOGS/$name.log" \
    "$CAISSE_STACK_LOG_MAX_MB" >>"$LOGS/$name.log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    [ -f "$RUN/$name.pid" ] && return 0
    sleep 0.05
  done
  die "$name did not start"
}

stop_service() {
  local name=$1 pid
  pid=$(service_pid "$name") || { rm -f "$RUN/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stack.sh: $name did not stop within 30 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
  local status=""
  for _ in $(seq 1 20); do
    status=$(cat "$RUN/$name.exit" 2>/dev/null || true)
    [ -n "$status" ] && break
    sleep 0.05
  done
  if [ -n "$status" ] && [ "$status" != 0 ]; then
    echo "stack.sh: $name exited with status $status (see $LOGS/$name.log)" >&2
  fi
}

# Waits for a service's /readyz (the gateway's on its merchant port, a worker's on its ops port).
wait_ready() {
  local name=$1 port
  port=$(ops_port "$name")
  [ "$name" = gateway ] && port=$CAISSE_GATEWAY_PORT
  [ "$port" != 0 ] || return 0
  local url="http://127.0.0.1:$port/readyz"
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      return 0
    fi
    service_pid "$name" >/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; die "the $name exited"; }
    sleep 0.2
  done
  tail -n 20 "$LOGS/$name.log" >&2
  die "the $name did not become ready within 30 s ($url)"
}

# ---- Kafka security: each program's user (deploy/kafka.sh makes them) ----------------------
# NAME=VALUE words for env: the Kafka user and password of a service (caisse-NAME; the
# expiry worker uses no Kafka) or of admin (topics, ACLs).
kafka_login() {
  case $1 in
    expiry-worker) return 0 ;;
    admin) caisse_kafka_login admin ;;
    *) caisse_kafka_login "caisse-$1" ;;
  esac
}

admin_kafka() {
  local -a login=()
  read -r -a login <<<"$(kafka_login admin)"
  env "${login[@]}" "$ADMIN" "$@"
}

# The demo tenant is created once per stack and its key kept in the (gitignored, local)
# stack directory, so 'up' can print a working key every time.
demo_key() {
  local file="$CAISSE_STACK_DIR/demo-key"
  if [ ! -s "$file" ]; then
    local org
    org=$("$ADMIN" create-org --name "Demo merchant" --currency XOF 2>/dev/null)
    "$ADMIN" create-key --org "$org" --env test --description "make up demo key" 2>/dev/null >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  cat "$file"
}

# The service token of the internal API: made once per stack, kept in its directory.
internal_token() {
  local file="$CAISSE_STACK_DIR/internal-token"
  if [ ! -s "$file" ]; then
    mkdir -p "$CAISSE_STACK_DIR"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file"
  fi
  cat "$file"
}

# The secret keyed creates derive their session ids under: made once per stack too, so a
# gateway restarted later derives the same ids.
idempotency_secret() {
  local file="$CAISSE_STACK_DIR/idempotency-secret"
  if [ ! -s "$file" ]; then
    mkdir -p "$CAISSE_STACK_DIR"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file"
  fi
  cat "$file"
}

# A key of the stack ("<id>:<base64 of 32 bytes>"), made once into its directory, never
# committed: secrets-key seals the webhook signing secrets at rest (CAISSE_SECRETS_KEY),
# command-mac-key signs and verifies the commands (CAISSE_COMMAND_MAC_KEY).
stack_key() {
  local file="$CAISSE_STACK_DIR/$1"
  if [ ! -s "$file" ]; then
    mkdir -p "$CAISSE_STACK_DIR"
    (umask 077 && printf 'local1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$file.tmp")
    mv "$file.tmp" "$file"
  fi
  cat "$file"
}

cmd_up() {
  : "${CAISSE_INTERNAL_TOKEN:=$(internal_token)}"
  : "${CAISSE_IDEMPOTENCY_SECRET:=$(idempotency_secret)}"
  : "${CAISSE_SECRETS_KEY:=$(stack_key secrets-key)}"
  : "${CAISSE_COMMAND_MAC_KEY:=$(stack_key command-mac-key)}"
  export CAISSE_INTERNAL_TOKEN CAISSE_IDEMPOTENCY_SECRET CAISSE_SECRETS_KEY CAISSE_COMMAND_MAC_KEY
  bash "$CAISSE_REPO/deploy/pg.sh" start
  bash "$CAISSE_REPO/deploy/kafka.sh" start
  [ -x "$ADMIN" ] || die "$ADMIN is missing: run make first"
  admin_kafka create-topics
  admin_kafka grant-kafka-acls --reader caisse-reader --reader-group-prefix caisse-reader.
  "$ADMIN" migrate
  # Each service's own database user (a member of its role, migration 0014).
  bash "$CAISSE_REPO/deploy/pg.sh" users
  [ "$CAISSE_STACK_SERVICES" = 1 ] || return 0
  for s in "${SERVICES[@]}"; do
    start_service "$s"
  done
  for s in "${SERVICES[@]}"; do
    wait_ready "$s"
  done
  local key
  key=$(demo_key)
  cat <<EOT

caisse is up: gateway http://127.0.0.1:$CAISSE_GATEWAY_PORT  (logs: $LOGS, stop: make down)

Test API key (organization "Demo merchant", environment test):
  $key

Create a checkout session:
  curl -s -X POST http://127.0.0.1:$CAISSE_GATEWAY_PORT/checkout-sessions \\
    -H "x-api-key: $key" -H "Content-Type: application/json" \\
    -d '{"amount": 10000, "currency_code": "XOF", "title": "Premium Plan", "customer_email": "customer@example.com"}'

Read the events (Kafka over SASL_SSL as caisse-reader; kcat -F FILE holds the broker, user,
password and CA; other users' files beside it, deploy/kafka.sh):
  kcat -F $CAISSE_KAFKA_SECURITY_DIR/caisse-reader.kcat.conf -C -t checkout.session.events -o beginning -e

Health and Prometheus metrics (GET /healthz, /readyz, /metrics):
  gateway         http://127.0.0.1:$CAISSE_GATEWAY_INTERNAL_PORT/metrics  (the internal port)
  session-worker  http://127.0.0.1:$CAISSE_SESSION_WORKER_OPS_PORT/metrics
  expiry-worker   http://127.0.0.1:$CAISSE_EXPIRY_WORKER_OPS_PORT/metrics
  webhook-worker  http://127.0.0.1:$CAISSE_WEBHOOK_WORKER_OPS_PORT/metrics

EOT
}

cmd_down() {
  # Gateway first: it stops taking requests while the workers drain what it accepted.
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    stop_service "${SERVICES[$i]}"
  done
  bash "$CAISSE_REPO/deploy/kafka.sh" stop
  bash "$CAISSE_REPO/deploy/pg.sh" stop
}

cmd_status() {
  for s in "${SERVICES[@]}"; do
    if pid=$(service_pid "$s"); then echo "$s: running (pid $pid)"; else echo "$s: stopped"; fi
  done
  # Each prints its own line: running and answering, running but not answering, or stopped.
  bash "$CAISSE_REPO/deploy/pg.sh" status || true
  bash "$CAISSE_REPO/deploy/kafka.sh" status || true
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs)
    check_service_name "${2:-gateway}"
    # -F: the log is emptied in place when it reaches its cap.
    tail -F "$LOGS/${2:-gateway}.log"
    ;;
  start-service)
    check_service_name "${2:?service name}"
    : "${CAISSE_INTERNAL_TOKEN:=$(internal_token)}"
    : "${CAISSE_IDEMPOTENCY_SECRET:=$(idempotency_secret)}"
    : "${CAISSE_SECRETS_KEY:=$(stack_key secrets-key)}"
    : "${CAISSE_COMMAND_MAC_KEY:=$(stack_key command-mac-key)}"
    export CAISSE_INTERNAL_TOKEN CAISSE_IDEMPOTENCY_SECRET CAISSE_SECRETS_KEY CAISSE_COMMAND_MAC_KEY
    start_service "$2"
    ;;
  stop-service)
    check_service_name "${2:?service name}"
    stop_service "$2"
    ;;
  *) echo "usage: $0 up|down|status|logs [NAME]|start-service NAME|stop-service NAME" >&2; exit 2 ;;
esac
