#!/usr/bin/env bash
# Runs the integration suite against a real stack of its own (PostgreSQL, Kafka in KRaft
# mode, gateway, session worker) on ports and in a directory apart from the developer's,
# so 'make test' works while 'make up' is running. The stack is built fresh and torn down.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The suite runs as two halves at once, each on a stack of its own: the fault suite stops
# Kafka and PostgreSQL under the other suites' feet, so it cannot share theirs, and both
# halves mostly wait on round trips and restarts (a third of two cores busy), so side by
# side they take the time of the longer one. CAISSE_TEST_PART names the half a run is
# ("suites": every suite but the faults, then schemathesis; "faults"); unset, this script
# starts the fault half in the background (its own directory and ports,
# CAISSE_TEST_FAULTS_*), runs the other, and prints the fault half's output after its own.
if [ -z "${CAISSE_TEST_PART:-}" ] && [ -z "${CAISSE_TEST_FILTER:-}" ]; then
  mkdir -p "$REPO/build"
  faults_log="$REPO/build/integration-faults.log"
  CAISSE_TEST_PART=faults \
    CAISSE_TEST_STACK_DIR="${CAISSE_TEST_FAULTS_STACK_DIR:-$REPO/build/test-stack-faults}" \
    CAISSE_TEST_PG_PORT="${CAISSE_TEST_FAULTS_PG_PORT:-26432}" \
    CAISSE_TEST_KAFKA_PORT="${CAISSE_TEST_FAULTS_KAFKA_PORT:-26092}" \
    CAISSE_TEST_KAFKA_CONTROLLER_PORT="${CAISSE_TEST_FAULTS_KAFKA_CONTROLLER_PORT:-26093}" \
    CAISSE_TEST_GATEWAY_PORT="${CAISSE_TEST_FAULTS_GATEWAY_PORT:-26180}" \
    CAISSE_TEST_WEBHOOK_RECEIVER_PORT="" \
    bash "${BASH_SOURCE[0]}" "$@" >"$faults_log" 2>&1 &
  faults_pid=$!
  # Interrupted, the fault half stops too (its own trap brings its stack down).
  trap 'kill "$faults_pid" 2>/dev/null || true' INT TERM
  suites_rc=0
  CAISSE_TEST_PART=suites bash "${BASH_SOURCE[0]}" "$@" || suites_rc=$?
  faults_rc=0
  wait "$faults_pid" || faults_rc=$?
  echo "--- the fault suite (a stack of its own, run beside the others; $faults_log):"
  cat "$faults_log"
  [ "$suites_rc" -eq 0 ] || echo "integration: the suites FAILED (exit $suites_rc, output above)" >&2
  [ "$faults_rc" -eq 0 ] || echo "integration: the fault suite FAILED (exit $faults_rc, output above)" >&2
  [ "$suites_rc" -eq 0 ] && [ "$faults_rc" -eq 0 ]
  exit
fi
# What the half leaves behind for the contract checks, apart from the other half's.
part_suffix=""
[ "${CAISSE_TEST_PART:-}" != faults ] || part_suffix="-faults"

export CAISSE_STACK_DIR="${CAISSE_TEST_STACK_DIR:-$REPO/build/test-stack}"
# shellcheck source=tests/stack_ports.sh
. "$REPO/tests/stack_ports.sh"
# Gauges read from PostgreSQL refresh twice a second, so the metrics tests wait little.
export CAISSE_METRICS_REFRESH_MS=500
export CAISSE_KAFKA_PARTITIONS=4
# Short enough for the tests that revoke keys or stop Kafka, otherwise the defaults.
export CAISSE_API_KEY_CACHE_TTL=1
# Every suite shares these gateways from one address (127.0.0.1), with a few keys, in
# parallel: rate limits that never bite, but that run. tests/integration/limits.c starts
# gateways of its own with low limits (ports +40 to +47).
export CAISSE_RATE_LIMIT_KEY_PER_S=1000000 CAISSE_RATE_LIMIT_KEY_BURST=1000000
export CAISSE_RATE_LIMIT_CLIENT_PER_S=1000000 CAISSE_RATE_LIMIT_CLIENT_BURST=1000000
export CAISSE_RATE_LIMIT_AUTH_FAILURES_PER_S=1000000 CAISSE_RATE_LIMIT_AUTH_FAILURES_BURST=1000000
export CAISSE_RATE_LIMIT_PAGE_POSTS_PER_MIN=1000000 CAISSE_RATE_LIMIT_PAGE_POSTS_BURST=1000000
export CAISSE_RATE_LIMIT_PAGE_COUPONS_PER_MIN=1000000 CAISSE_RATE_LIMIT_PAGE_COUPONS_BURST=1000000
export CAISSE_KAFKA_MESSAGE_TIMEOUT_MS=5000
# The consumers' group session (45 s by default): faults.c's long Kafka outage outlasts it,
# and a shorter one makes that test shorter. Longer than any pause a test gives a worker
# (chaos.c freezes the webhook worker for its lease + 2 s).
export CAISSE_KAFKA_SESSION_TIMEOUT_MS=15000
export CAISSE_LOG_LEVEL=info
# The expiry worker sweeps often, so sessions past their deadline expire within a second.
export CAISSE_EXPIRY_INTERVAL_MS=500
# The retention purge (expiry worker) looks every second, so tests/integration/retention.c
# sees old rows go quickly.
export CAISSE_RETENTION_INTERVAL_MS=1000
# Webhooks (tests/integration/webhooks*.c): a compressed retry schedule (5 attempts, 1 s
# apart), a 2 s request timeout so the receiver's "timeout" behaviour is quick to see, and
# 7 s leases (the worker wants the timeout + 5 s at least) so a killed worker's in-flight
# deliveries are taken over soon. The receiver
# listens on 127.0.0.1, which only this operator allowlist lets the stack reach.
export CAISSE_WEBHOOK_SCHEDULE=0,1,1,1,1
export CAISSE_WEBHOOK_TIMEOUT_MS=2000
export CAISSE_WEBHOOK_LEASE_MS=7000
export CAISSE_WEBHOOK_ALLOWLIST=127.0.0.1/32
# Webhook fairness (tests/integration/webhook_fairness.c): 10 endpoints per tenant, the 11th
# refused; 5 manual retries at once per endpoint (every other suite makes fewer).
export CAISSE_WEBHOOK_MAX_ENDPOINTS=10
export CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_PER_MIN=6 CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_BURST=5
# shellcheck source=../../deploy/env.sh
. "$REPO/deploy/env.sh"

ADMIN="$REPO/build/bin/caisse-admin"
STACK="$REPO/deploy/stack.sh"

teardown() {
  local rc=$?
  local receiver_pid
  receiver_pid=$(cat "$CAISSE_STACK_DIR/run/webhook-receiver.pid" 2>/dev/null || true)
  if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null || true; fi
  local extra extra_pid
  # The extra gateways: the short-TTL one, and the tests' own if a crash left one.
  for extra in gateway-short-ttl gateway-metrics gateway-limits-keys gateway-limits-orgs \
    gateway-limits-clients gateway-limits-flood gateway-slow-dns gateway-no-db \
    gateway-statement-timeout gateway-page-limits gateway-page-no-kafka; do
    extra_pid=$(cat "$CAISSE_STACK_DIR/run/$extra.pid" 2>/dev/null || true)
    if [ -n "$extra_pid" ] && kill "$extra_pid" 2>/dev/null; then
      for _ in $(seq 1 100); do kill -0 "$extra_pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  if [ $rc -ne 0 ]; then
    echo "--- integration failed; last service log lines ---" >&2
    for f in "$CAISSE_STACK_DIR"/logs/*.log; do
      [ -f "$f" ] || continue
      echo "== $f" >&2
      tail -n 15 "$f" >&2
    done
  fi
  bash "$STACK" down >/dev/null 2>&1 || true
  exit $rc
}
trap teardown EXIT

bash "$STACK" down >/dev/null 2>&1 || true
rm -rf "$CAISSE_STACK_DIR"
mkdir -p "$CAISSE_STACK_DIR"
bash "$STACK" up >"$CAISSE_STACK_DIR.up.log" 2>&1 || { cat "$CAISSE_STACK_DIR.up.log" >&2; exit 1; }
# Kafka (SASL_SSL, deploy/kafka.sh): the gateways the suites start themselves log in as the
# gateway; deploy/stack.sh gives each service it starts its own user; kcat reads the events
# as caisse-reader (KCAT_CONFIG, deploy/env.sh) and writes as another user with
# -F "$CAISSE_KAFKA_SECURITY_DIR/USER.kcat.conf".
export CAISSE_KAFKA_USERNAME=caisse-gateway
CAISSE_KAFKA_PASSWORD=$(cat "$CAISSE_KAFKA_SECURITY_DIR/caisse-gateway.password")
export CAISSE_KAFKA_PASSWORD

# Tenants: the tests own them, so each assertion about a listing sees only its own data.
org() { "$ADMIN" create-org --name "$1" --currency "$2" 2>/dev/null; }
key() { "$ADMIN" create-key --org "$1" --env "$2" --description "integration" 2>/dev/null; }
org_a=$(org "Tenant A" XOF)
org_b=$(org "Tenant B" XOF)
org_list=$(org "Tenant List" XOF)
org_usd=$(org "Tenant USD" USD)
org_schemathesis=$(org "Tenant Schemathesis" XOF)
export CAISSE_TEST_URL="http://127.0.0.1:$CAISSE_GATEWAY_PORT"
export CAISSE_TEST_KEY_A=$(key "$org_a" test)
export CAISSE_TEST_KEY_A_LIVE=$(key "$org_a" live)
export CAISSE_TEST_KEY_B=$(key "$org_b" test)
export CAISSE_TEST_KEY_LIST=$(key "$org_list" test)
export CAISSE_TEST_KEY_LIST_LIVE=$(key "$org_list" live)
export CAISSE_TEST_KEY_USD=$(key "$org_usd" test)
# tests/schemathesis fills a tenant of its own with whatever it generates.
export CAISSE_TEST_SCHEMATHESIS_KEY=$(key "$org_schemathesis" test)
export CAISSE_TEST_ORG_A="$org_a"
export CAISSE_TEST_INTERNAL_URL="http://127.0.0.1:$CAISSE_GATEWAY_INTERNAL_PORT"
export CAISSE_TEST_INTERNAL_TOKEN=$(cat "$CAISSE_STACK_DIR/internal-token")
# Every gateway the tests start besides the stack's derives keyed session ids like it does.
export CAISSE_IDEMPOTENCY_SECRET=$(cat "$CAISSE_STACK_DIR/idempotency-secret")
# ... seals webhook secrets under the stack's key, and connects as the gateway's own
# database user (CAISSE_DATABASE_URL stays the owner's: the tests' own SQL checks).
export CAISSE_SECRETS_KEY=$(cat "$CAISSE_STACK_DIR/secrets-key")
export CAISSE_TEST_GATEWAY_DATABASE_URL=$(bash "$REPO/deploy/pg.sh" url gateway)
# Every gateway and worker the tests start signs and verifies commands under the stack's key.
export CAISSE_COMMAND_MAC_KEY=$(cat "$CAISSE_STACK_DIR/command-mac-key")
export CAISSE_TEST_ADMIN="$ADMIN"
export CAISSE_TEST_SESSION_WORKER_OPS_URL="http://127.0.0.1:$CAISSE_SESSION_WORKER_OPS_PORT"
export CAISSE_TEST_EXPIRY_WORKER_OPS_URL="http://127.0.0.1:$CAISSE_EXPIRY_WORKER_OPS_PORT"
export CAISSE_TEST_WEBHOOK_WORKER_OPS_URL="http://127.0.0.1:$CAISSE_WEBHOOK_WORKER_OPS_PORT"
export CAISSE_TEST_STACK="$STACK"
export CAISSE_TEST_REPO="$REPO"
# Every response the suites receive from the gateway, one JSON line each, for the OpenAPI
# check at the end (tests/openapi). Kept in build/ so a failure can be looked into later.
export CAISSE_TEST_HTTP_CAPTURE="$REPO/build/openapi-responses$part_suffix.jsonl"
: >"$CAISSE_TEST_HTTP_CAPTURE"

# A second gateway whose sessions live 4 seconds, so lifecycle tests see real expiry and
# deadline races without waiting an hour.
short_port=$((CAISSE_GATEWAY_PORT + 10))
CAISSE_DATABASE_URL="$CAISSE_TEST_GATEWAY_DATABASE_URL" \
  CAISSE_GATEWAY_PORT=$short_port CAISSE_GATEWAY_INTERNAL_PORT=$((short_port + 1)) \
  CAISSE_SESSION_TTL=4 CAISSE_SESSION_MIN_TTL=1 CAISSE_INTERNAL_TOKEN="$CAISSE_TEST_INTERNAL_TOKEN" \
  setsid "$REPO/build/bin/caisse-gateway" >>"$CAISSE_STACK_DIR/logs/gateway-short-ttl.log" 2>&1 </dev/null &
echo $! >"$CAISSE_STACK_DIR/run/gateway-short-ttl.pid"
export CAISSE_TEST_SHORT_TTL_URL="http://127.0.0.1:$short_port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$CAISSE_TEST_SHORT_TTL_URL/readyz" 2>/dev/null && break
  sleep 0.2
done

# The webhook receiver (tests/webhooks/receiver.mjs, Node): records every delivery and
# verifies its signature with the npm standardwebhooks library, independent of our code.
# Dependencies exactly as locked, installed as tests/contract/run.sh does.
WEBHOOKS_DIR="$REPO/tests/webhooks"
(
  flock 9
  if [ ! -d "$WEBHOOKS_DIR/node_modules" ] ||
    [ "$WEBHOOKS_DIR/package-lock.json" -nt "$WEBHOOKS_DIR/node_modules/.package-lock.json" ]; then
    (cd "$WEBHOOKS_DIR" && npm ci --silent --no-audit --no-fund)
  fi
) 9>"$REPO/build/webhooks-npm.lock"
receiver_port="${CAISSE_TEST_WEBHOOK_RECEIVER_PORT:-$((CAISSE_GATEWAY_PORT + 20))}"
setsid node "$WEBHOOKS_DIR/receiver.mjs" "$receiver_port" \
  >>"$CAISSE_STACK_DIR/logs/webhook-receiver.log" 2>&1 </dev/null &
echo $! >"$CAISSE_STACK_DIR/run/webhook-receiver.pid"
export CAISSE_TEST_WEBHOOK_RECEIVER_PORT="$receiver_port"
export CAISSE_TEST_WEBHOOK_RECEIVER_URL="http://127.0.0.1:$receiver_port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$CAISSE_TEST_WEBHOOK_RECEIVER_URL/_control/health" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$CAISSE_TEST_WEBHOOK_RECEIVER_URL/_control/health" ||
  { echo "the webhook receiver did not start" >&2; exit 1; }

# While working on a few tests: CAISSE_TEST_FILTER='faults/*sigterm*' runs only those, one
# at a time, and skips the contract check (which wants every suite's records).
if [ -n "${CAISSE_TEST_FILTER:-}" ]; then
  "$REPO/build/bin/integration-tests" --jobs 1 --filter "$CAISSE_TEST_FILTER" "$@"
  exit 0
fi

if [ "${CAISSE_TEST_PART:-}" = faults ]; then
  # The fault suite stops Kafka and PostgreSQL: alone on its stack, one test at a time.
  "$REPO/build/bin/integration-tests" --jobs 1 --filter 'faults/*' "$@"
else
  "$REPO/build/bin/integration-tests" --jobs 2 --filter '!(faults)/*' "$@"

  # Property-based tests from the OpenAPI document (schemathesis, pinned from PyPI) on both
  # listeners while the whole stack is up: no 5xx, every response as documented. What they
  # send reaches Kafka too, so the contract check below sees that as well.
  bash "$REPO/tests/schemathesis/run.sh"
fi

# Last, while the stack is still up: every command and event the suites left on Kafka
# must match the AsyncAPI contract (common/contracts/asyncapi.yaml), checked by an independent
# validator (Node + ajv), so the documented contract cannot drift from the code.
CAISSE_CONTRACT_RECORDS="$REPO/build/contract-records$part_suffix.jsonl" bash "$REPO/tests/contract/run.sh"

# And every HTTP response they received must match the OpenAPI document the gateway
# serves (common/contracts/openapi.json), checked by an independent validator (Node + ajv).
bash "$REPO/tests/openapi/run.sh" "$CAISSE_TEST_HTTP_CAPTURE"
