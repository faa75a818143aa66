#!/usr/bin/env bash
# Property-based tests of the running gateway against its OpenAPI document
# (common/contracts/openapi.json) with schemathesis, an independent client from PyPI:
# requests generated from the document, valid and invalid, and every check it has (no 5xx,
# statuses, content types, headers and bodies as documented, invalid data refused and valid
# data accepted, 401 without a key, 405 with Allow, stateful sequences). Both listeners: the
# merchant API with a test key, the internal one with the service token.
#
# tests/integration/run.sh calls it at the end of the suites, on the stack it started, with a
# tenant of its own. By hand, against any stack:
#
#   CAISSE_TEST_URL=http://127.0.0.1:8080 CAISSE_TEST_INTERNAL_URL=http://127.0.0.1:8081 \
#   CAISSE_TEST_SCHEMATHESIS_KEY=sk_test_… CAISSE_TEST_INTERNAL_TOKEN=… bash tests/schemathesis/run.sh
#
# Installs the pinned packages (requirements.txt, exact wheels with their sha256, made by
# lock.sh) into .cache/schemathesis-<hash of requirements.txt>/ once per checkout, with
# Debian's python3 -m venv (deploy/install-deps.sh installs python3-venv).
# CAISSE_SCHEMATHESIS_MAX_EXAMPLES (default 30) bounds the cases per operation and phase,
# CAISSE_SCHEMATHESIS_SEED (default 1) makes a run repeatable; the run takes about a minute.
# One worker: with two, hypothesis parsing source in two threads at once on Debian's
# CPython 3.11.2 failed once with "AST constructor recursion depth mismatch".
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
: "${CAISSE_TEST_URL:?the merchant listener, e.g. http://127.0.0.1:8080}"
: "${CAISSE_TEST_INTERNAL_URL:?the internal listener, e.g. http://127.0.0.1:8081}"
: "${CAISSE_TEST_SCHEMATHESIS_KEY:?a test API key of a tenant the run may fill with sessions}"
: "${CAISSE_TEST_INTERNAL_TOKEN:?the service token of the internal listener}"
MAX_EXAMPLES="${CAISSE_SCHEMATHESIS_MAX_EXAMPLES:-30}"
SEED="${CAISSE_SCHEMATHESIS_SEED:-1}"

lock_id=$(sha256sum "$HERE/requirements.txt" | cut -c1-12)
VENV="$REPO/.cache/schemathesis-$lock_id"
mkdir -p "$REPO/build" "$REPO/.cache"
(
  flock 9
  if [ ! -x "$VENV/bin/schemathesis" ]; then
    echo "schemathesis: installing the pinned packages into $VENV" >&2
    rm -rf "$VENV" "$REPO"/.cache/schemathesis-*
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
      --only-binary=:all: -r "$HERE/requirements.txt" >&2
  fi
) 9>"$REPO/build/schemathesis-venv.lock"

out="$REPO/build/schemathesis"
rm -rf "$out"
mkdir -p "$out"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
run() { # name, base URL, then schemathesis options
  local name=$1 url=$2
  shift 2
  echo "schemathesis: $name listener ($url)"
  if ! "$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" \
    run "$REPO/common/contracts/openapi.json" --url "$url" \
    --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 1 \
    --request-timeout 15 --no-color --report junit --report-dir "$out/$name" "$@" \
    --output-truncate true >"$out/$name.log" 2>&1; then
    # Each failure's operation, check and answer (the log has the requests to replay).
    grep -E '^_{3,} .* _{3,}$|^- ST[0-9]+|^\[[0-9]{3}\]|^    `\{|^(Failures|Test cases):|^  (❌|[0-9]+ generated)' \
      "$out/$name.log" | cut -c1-400 >&2 || true
    echo "schemathesis: the $name listener failed (whole log: $out/$name.log)" >&2
    return 1
  fi
  grep -E '^(Test cases:|  [0-9]+ generated|=+ .* in [0-9.]+s =+$)' "$out/$name.log" | sed 's/^/  /'
}
# The merchant listener: every operation but the internal ones (the document gives those
# the internal listener's servers).
# Both listeners at once, in two processes (one worker each, see above); the internal one's
# lines are shown after the merchant's.
run internal "$CAISSE_TEST_INTERNAL_URL" -H "Authorization: Bearer $CAISSE_TEST_INTERNAL_TOKEN" \
  --include-path-regex '^/(internal/|metrics$|healthz$|readyz$)' >"$out/internal.out" 2>&1 &
internal_pid=$!
merchant_rc=0
run merchant "$CAISSE_TEST_URL" -H "x-api-key: $CAISSE_TEST_SCHEMATHESIS_KEY" \
  --exclude-path-regex '^/(internal/|metrics$)' || merchant_rc=$?
internal_rc=0
wait "$internal_pid" || internal_rc=$?
cat "$out/internal.out"
[ "$merchant_rc" -eq 0 ] && [ "$internal_rc" -eq 0 ] || exit 1
echo "schemathesis: both listeners conform"
