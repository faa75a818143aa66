#!/usr/bin/env bash
# make browser: the hosted checkout page in a real browser (Debian's chromium, driven by the
# npm playwright-core with executablePath: no browser is ever downloaded) against a real
# stack of its own (PostgreSQL, Kafka, the four services), started like the integration
# suite's (deploy/stack.sh) in build/browser-stack on ports of its own (CAISSE_BROWSER_*_PORT;
# make test runs it while the integration suite's stacks are up), torn down at the end.
#
#   make browser                                      every scenario
#   CAISSE_BROWSER_ONLY=french,expired make browser   some of them (names: checkout.mjs)
#
# Screenshots of every state the scenarios reach go to build/screenshots/ (gitignored, kept
# as CI artifacts), with weights.json (bytes each state transferred) and axe.json (the
# accessibility findings). Every scenario runs: none is skipped, whatever happens.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

export CAISSE_STACK_DIR="${CAISSE_BROWSER_STACK_DIR:-$REPO/build/browser-stack}"
export CAISSE_TEST_PG_PORT="${CAISSE_BROWSER_PG_PORT:-25432}"
export CAISSE_TEST_KAFKA_PORT="${CAISSE_BROWSER_KAFKA_PORT:-25092}"
export CAISSE_TEST_KAFKA_CONTROLLER_PORT="${CAISSE_BROWSER_KAFKA_CONTROLLER_PORT:-25093}"
export CAISSE_TEST_GATEWAY_PORT="${CAISSE_BROWSER_GATEWAY_PORT:-25180}"
# shellcheck source=tests/stack_ports.sh
. "$REPO/tests/stack_ports.sh"
# The browser opens `url` as the API gives it: the base must be this stack's gateway, on
# IPv4 loopback where it listens (localhost may be ::1 to Chromium).
export CAISSE_PUBLIC_BASE_URL="http://127.0.0.1:$CAISSE_GATEWAY_PORT"
export CAISSE_KAFKA_PARTITIONS=4
export CAISSE_LOG_LEVEL=info
# The expired scenario makes a session that lives 2 seconds (expires_at, allowed down to
# 1 s here), and the expiry worker sweeps every half second.
export CAISSE_SESSION_MIN_TTL=1
export CAISSE_EXPIRY_INTERVAL_MS=500
# One browser from one address: limits that run but never bite (the page's own per-IP
# buckets too; their refusals are the integration suite's subject).
export CAISSE_RATE_LIMIT_KEY_PER_S=1000000 CAISSE_RATE_LIMIT_KEY_BURST=1000000
export CAISSE_RATE_LIMIT_CLIENT_PER_S=1000000 CAISSE_RATE_LIMIT_CLIENT_BURST=1000000
export CAISSE_RATE_LIMIT_AUTH_FAILURES_PER_S=1000000 CAISSE_RATE_LIMIT_AUTH_FAILURES_BURST=1000000
export CAISSE_RATE_LIMIT_PAGE_POSTS_PER_MIN=1000000 CAISSE_RATE_LIMIT_PAGE_POSTS_BURST=1000000
export CAISSE_RATE_LIMIT_PAGE_COUPONS_PER_MIN=1000000 CAISSE_RATE_LIMIT_PAGE_COUPONS_BURST=1000000
# Webhooks to the local receiver (tests/webhooks/receiver.mjs), quickly retried.
export CAISSE_WEBHOOK_SCHEDULE=0,1,1,1,1
export CAISSE_WEBHOOK_TIMEOUT_MS=2000
export CAISSE_WEBHOOK_LEASE_MS=7000
export CAISSE_WEBHOOK_ALLOWLIST=127.0.0.1/32
# shellcheck source=../../deploy/env.sh
. "$REPO/deploy/env.sh"

ADMIN="$REPO/build/bin/caisse-admin"
STACK="$REPO/deploy/stack.sh"
CHROMIUM="${CAISSE_BROWSER_CHROMIUM:-/usr/bin/chromium}"
SCREENSHOTS="$REPO/build/screenshots"

die() {
  echo "browser: $*" >&2
  exit 1
}

for tool in node npm kcat curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (deploy/install-deps.sh installs it)"
done
[ -x "$CHROMIUM" ] || die "$CHROMIUM is missing (deploy/install-deps.sh installs Debian's chromium)"
[ -x "$ADMIN" ] || die "$ADMIN is missing: run make first"

# Dependencies exactly as locked, installed once per checkout (node_modules is gitignored)
# and again only when the lock changes, as tests/contract/run.sh does; the lock file
# serializes two suites starting at once.
npm_ci() { # DIR LOCKNAME
  mkdir -p "$REPO/build"
  (
    flock 9
    if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
      (cd "$1" && npm ci --silent --no-audit --no-fund)
    fi
  ) 9>"$REPO/build/$2-npm.lock"
}
npm_ci "$HERE" browser
npm_ci "$REPO/tests/webhooks" webhooks

teardown() {
  local rc=$?
  local pid
  pid=$(cat "$CAISSE_STACK_DIR/run/webhook-receiver.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  if [ $rc -ne 0 ]; then
    echo "--- browser tests failed; last service log lines ---" >&2
    for f in "$CAISSE_STACK_DIR"/logs/*.log; do
      [ -f "$f" ] || continue
      echo "== $f" >&2
      tail -n 15 "$f" >&2
    done
    echo "screenshots of the states reached: $SCREENSHOTS" >&2
  fi
  bash "$STACK" down >/dev/null 2>&1 || true
  exit $rc
}
trap teardown EXIT

bash "$STACK" down >/dev/null 2>&1 || true
rm -rf "$CAISSE_STACK_DIR" "$SCREENSHOTS"
mkdir -p "$CAISSE_STACK_DIR" "$SCREENSHOTS"
bash "$STACK" up >"$CAISSE_STACK_DIR.up.log" 2>&1 || { cat "$CAISSE_STACK_DIR.up.log" >&2; exit 1; }

# The merchant: its legal name, and the display name the page must show instead.
org=$("$ADMIN" create-org --name "Browser Tests SARL" --currency XOF 2>/dev/null)
[ -n "$org" ] || die "cannot create the organization"
"$ADMIN" set-display-name --org "$org" --display-name "Boutique Awa" >/dev/null
key=$("$ADMIN" create-key --org "$org" --env test --description "browser tests" 2>/dev/null)
[ -n "$key" ] || die "cannot create the API key"

# The webhook receiver: every delivery recorded (and verified by it with standardwebhooks;
# checkout.mjs verifies the body it kept again, with its own copy of the library).
receiver_port=$((CAISSE_GATEWAY_PORT + 20))
setsid node "$REPO/tests/webhooks/receiver.mjs" "$receiver_port" \
  >>"$CAISSE_STACK_DIR/logs/webhook-receiver.log" 2>&1 </dev/null &
echo $! >"$CAISSE_STACK_DIR/run/webhook-receiver.pid"
receiver_url="http://127.0.0.1:$receiver_port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$receiver_url/_control/health" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$receiver_url/_control/health" || die "the webhook receiver did not start"

CAISSE_BROWSER_URL="http://127.0.0.1:$CAISSE_GATEWAY_PORT" \
  CAISSE_BROWSER_API_KEY="$key" \
  CAISSE_BROWSER_DISPLAY_NAME="Boutique Awa" \
  CAISSE_BROWSER_RECEIVER_URL="$receiver_url" \
  CAISSE_BROWSER_CHROMIUM="$CHROMIUM" \
  CAISSE_BROWSER_SCREENSHOTS="$SCREENSHOTS" \
  node "$HERE/checkout.mjs"
