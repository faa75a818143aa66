#!/usr/bin/env bash
# Validates every record on both Kafka topics of a running stack against the AsyncAPI
# contract (common/contracts/asyncapi.yaml), with an independent Node validator (ajv). The
# integration suite calls it last, while its stack is still up, so every command and
# event the tests produced is checked; it also works against `make up`'s stack:
#
#   . deploy/env.sh && bash tests/contract/run.sh
#
# Needs CAISSE_KAFKA_BROKERS (deploy/env.sh exports it), kcat, node and npm. Extra
# arguments go to validate-events.mjs (e.g. --partial-history for a long-lived stack).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
: "${CAISSE_KAFKA_BROKERS:?CAISSE_KAFKA_BROKERS is not set (source deploy/env.sh)}"

for tool in node npm kcat; do
  command -v "$tool" >/dev/null 2>&1 || { echo "contract: $tool is missing (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

# Dependencies exactly as locked, installed once per checkout (node_modules is gitignored)
# and again only when the lock changes. The lock serializes two suites starting at once.
mkdir -p "$REPO/build"
(
  flock 9
  if [ ! -d "$HERE/node_modules" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
    (cd "$HERE" && npm ci --silent --no-audit --no-fund)
  fi
) 9>"$REPO/build/contract-npm.lock"

# The checker must reject what it should before its verdict on real records means anything.
node "$HERE/selftest.mjs"

# -e: stop at the end of every partition; -J: one JSON envelope per record with key,
# partition, offset and headers. Both topics go through one run, so the cross-record
# checks (same id same JSON, one partition per key) see everything. kcat's exit status
# is checked: an unreachable broker must not pass as "no records". The records are kept
# (build/ is gitignored) so that a failure can be looked into after the stack is gone.
records="${CAISSE_CONTRACT_RECORDS:-$REPO/build/contract-records.jsonl}"
: >"$records"
for topic in checkout.session.commands checkout.session.events; do
  # Kafka's ACLs (deploy/kafka.sh): the events as the stack's reader (KCAT_CONFIG), the
  # commands, which only the session worker may read, as the stack's admin.
  login=()
  [ "$topic" = checkout.session.events ] || login=(-F "$CAISSE_KAFKA_SECURITY_DIR/admin.kcat.conf")
  if ! kcat "${login[@]}" -C -b "$CAISSE_KAFKA_BROKERS" -t "$topic" -o beginning -e -J -q >>"$records"; then
    echo "contract: kcat could not read $topic from $CAISSE_KAFKA_BROKERS" >&2
    exit 1
  fi
done
node "$HERE/validate-events.mjs" "$@" <"$records" || {
  rc=$?
  echo "contract: the records checked are in $records" >&2
  exit $rc
}
