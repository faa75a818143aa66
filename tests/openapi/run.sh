#!/usr/bin/env bash
# Validates common/contracts/openapi.json against the official OAS 3.1 schema, then every HTTP
# response the integration tests received (captured one JSON line each by
# tests/integration/support.c into $CAISSE_TEST_HTTP_CAPTURE) against the document, with
# an independent Node validator (ajv). tests/integration/run.sh calls it after the suites;
# by hand, on a capture file kept from a run:
#
#   bash tests/openapi/run.sh build/openapi-responses.jsonl
#
# Needs node and npm (deploy/install-deps.sh installs them).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
records="${1:-${CAISSE_TEST_HTTP_CAPTURE:-}}"
[ -n "$records" ] || { echo "openapi: give the capture file (or set CAISSE_TEST_HTTP_CAPTURE)" >&2; exit 2; }
[ -f "$records" ] || { echo "openapi: no capture file $records: did the tests run with CAISSE_TEST_HTTP_CAPTURE?" >&2; exit 1; }

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "openapi: $tool is missing (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

# Dependencies exactly as locked, installed once per checkout (node_modules is gitignored)
# and again only when the lock changes; the lock file serializes two suites starting at once.
mkdir -p "$REPO/build"
(
  flock 9
  if [ ! -d "$HERE/node_modules" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
    (cd "$HERE" && npm ci --silent --no-audit --no-fund)
  fi
) 9>"$REPO/build/openapi-npm.lock"

# The checker must reject what it should before its verdict on real responses means anything.
node "$HERE/selftest.mjs"

node "$HERE/validate-responses.mjs" --document "$REPO/common/contracts/openapi.json" "$records" || {
  rc=$?
  echo "openapi: the responses checked are in $records" >&2
  exit $rc
}
