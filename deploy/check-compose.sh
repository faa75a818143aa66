#!/usr/bin/env bash
# make compose-check: docker-compose.yml is valid for Debian's docker-compose (no engine runs
# here, so it is validated, not started), and keeps what deploy/checks/compose.py asserts
# (health checks on the right ports, depends_on conditions, stop grace above the services'
# own, only the merchant API published, static membership ids, Kafka version and data on a
# volume). Then it proves both checks reject deliberately broken copies.
# Ends with "compose-check: N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=env.sh source-path=SCRIPTDIR
. deploy/env.sh
PY=/usr/bin/python3
tmp=$(mktemp -d -t caisse-compose-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# Unset what the file interpolates, so the defaults written in it are what is checked.
compose() { env -u CAISSE_HTTP_PORT -u CAISSE_INTERNAL_TOKEN -u CAISSE_IDEMPOTENCY_SECRET -u CAISSE_COMMAND_MAC_KEY -u CAISSE_COMMAND_MAC_KEY_PREVIOUS -u POSTGRES_PASSWORD \
  -u CAISSE_PUBLIC_BASE_URL -u CAISSE_LOG_LEVEL docker-compose "$@"; }

if compose -f docker-compose.yml config -q; then
  ok "docker-compose config accepts docker-compose.yml"
else
  fail "docker-compose config rejects docker-compose.yml"
fi
compose -f docker-compose.yml config >"$tmp/config.yml"
if "$PY" deploy/checks/compose.py "$tmp/config.yml" "$CAISSE_KAFKA_VERSION"; then
  ok "docker-compose.yml keeps its rules (deploy/checks/compose.py)"
else
  fail "docker-compose.yml breaks its rules"
fi

# ---- negative tests ---------------------------------------------------------------
# docker-compose itself rejects an unknown option (a typo) in a copy of the file.
cp Dockerfile "$tmp/"
sed "s/^  stop_grace_period: 30s/  stop_grace_periode: 30s/" docker-compose.yml >"$tmp/docker-compose.yml"
if cmp -s docker-compose.yml "$tmp/docker-compose.yml"; then
  fail "negative test: the typo edit changed nothing"
elif compose -f "$tmp/docker-compose.yml" config -q >"$tmp/out" 2>&1; then
  fail "negative test: docker-compose config accepted an unknown option"
else
  ok "docker-compose config rejects an unknown option: $(grep -m1 -o 'stop_grace_periode.*' "$tmp/out" || head -n1 "$tmp/out")"
fi

# compose.py rejects broken (normalized) configurations.
expect_rejected() {
  local what=$1 code=$2 rc=0
  "$PY" deploy/checks/mutate.py "$tmp/config.yml" "$tmp/broken.yml" "$code" || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "negative test '$what': could not make the broken copy (mutate.py exit $rc)"
  elif "$PY" deploy/checks/compose.py "$tmp/broken.yml" "$CAISSE_KAFKA_VERSION" >"$tmp/out" 2>&1; then
    fail "negative test '$what': the broken configuration was accepted"
  else
    ok "rejects $what: $(head -n 1 "$tmp/out" | sed 's/^docker-compose.yml: //')"
  fi
}
S='docs[0]["services"]'
expect_rejected "the default 10 s stop grace" "del ${S}['gateway']['stop_grace_period']"
expect_rejected "a grace longer than the stop grace" "${S}['expiry-worker']['environment']['CAISSE_SHUTDOWN_GRACE_MS'] = '40000'"
expect_rejected "the internal port published" "${S}['gateway']['ports'].append({'target': 8081, 'published': 8081, 'protocol': 'tcp', 'mode': 'ingress'})"
expect_rejected "a health check on the wrong port" "${S}['webhook-worker']['healthcheck']['test'][2] = '8091'"
expect_rejected "a consumer without CAISSE_INSTANCE_ID" "del ${S}['session-worker']['environment']['CAISSE_INSTANCE_ID']"
expect_rejected "a service started before setup completed" "${S}['gateway']['depends_on']['setup']['condition'] = 'service_started'"
expect_rejected "Kafka data outside the volume" "del ${S}['kafka']['environment']['KAFKA_LOG_DIRS']"
expect_rejected "another Kafka version than the stack's" "${S}['kafka']['image'] = 'apache/kafka:3.7.0'"
expect_rejected "a writable root filesystem" "${S}['webhook-worker']['read_only'] = False"

echo "compose-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
