# The ports of a test stack (sourced by tests/integration/run.sh, for each of its two halves,
# and tests/browser/run.sh): CAISSE_TEST_*_PORT, or these defaults. make test runs the three
# stacks at once, so the fault half (26xxx) and the browser's (25xxx) set their own.
# Below Linux's ephemeral range (32768-60999): a test that binds a port mid-run (a gateway of
# its own) must not find it taken by one of the suite's thousands of client connections.
export CAISSE_PG_PORT="${CAISSE_TEST_PG_PORT:-27432}"
export CAISSE_KAFKA_PORT="${CAISSE_TEST_KAFKA_PORT:-27092}"
export CAISSE_KAFKA_CONTROLLER_PORT="${CAISSE_TEST_KAFKA_CONTROLLER_PORT:-27093}"
export CAISSE_GATEWAY_PORT="${CAISSE_TEST_GATEWAY_PORT:-28080}"
export CAISSE_GATEWAY_INTERNAL_PORT=$((CAISSE_GATEWAY_PORT + 1))
# The workers' ops listeners (healthz, readyz, metrics), derived from the gateway's port like
# everything else, so parallel stacks never collide. +10 and +20 are the short-TTL gateway
# and the webhook receiver; tests/integration/metrics.c starts a gateway of its own at +34,
# tests/integration/limits.c four at +40, +42, +44, +46, bounds.c two at +36 and +38,
# faults.c one at +48, page.c two at +50 and +54, completion.c one at +26 (each with its
# internal API at +1).
export CAISSE_SESSION_WORKER_OPS_PORT=$((CAISSE_GATEWAY_PORT + 30))
export CAISSE_EXPIRY_WORKER_OPS_PORT=$((CAISSE_GATEWAY_PORT + 31))
export CAISSE_WEBHOOK_WORKER_OPS_PORT=$((CAISSE_GATEWAY_PORT + 32))
