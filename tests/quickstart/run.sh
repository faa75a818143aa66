#!/usr/bin/env bash
# Runs the README's quick start exactly as written: the shell block that follows the
# <!-- quickstart --> marker, then the catalog's (each block after a <!-- quickstart: … -->
# marker, <!-- quickstart: catalog --> first, in README order) in the same shell, with
# bash -e so any failing step (curl -f included) fails the test. The stack it starts is
# stopped afterwards whatever happens.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"

# The bash block that follows each marker starting with $1, in README order.
block() {
  awk -v marker="$1" '
    index($0, marker) == 1 { armed = 1; next }
    armed && /^```bash$/ { inside = 1; armed = 0; next }
    inside && /^```$/ { inside = 0; next }
    inside { print }
  ' README.md
}
script=$(block '<!-- quickstart -->')
[ -n "$script" ] || { echo "quickstart: no block after <!-- quickstart --> in README.md" >&2; exit 1; }
catalog=$(block '<!-- quickstart: ')
grep -q '^<!-- quickstart: catalog -->' README.md && [ -n "$catalog" ] ||
  { echo "quickstart: no block after <!-- quickstart: catalog --> in README.md" >&2; exit 1; }
script="$script
$catalog"

cleanup() { make --no-print-directory down >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "quickstart: running the README block:"
echo "$script" | sed 's/^/    /'
# Bounded: a step that waits for something (the event on Kafka) must not hang CI.
timeout 300 bash -euo pipefail -c "$script" >build/quickstart.log 2>&1 || {
  echo "quickstart: FAILED, output:" >&2
  cat build/quickstart.log >&2
  exit 1
}
grep -Eq '"status": *"open"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no open session in the output" >&2; exit 1; }
grep -Eq '"name": *"Premium plan"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no product in the output" >&2; exit 1; }
grep -q '"type":"product.updated"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no product.updated event in the output" >&2; exit 1; }
grep -Eq '"nickname": *"Monthly"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no price in the output" >&2; exit 1; }
grep -q '"type":"price.created"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no price.created event in the output" >&2; exit 1; }
grep -q '"amount":30000,"currency_code":"XOF","title":"Gold plan"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no session made from a price in the output" >&2; exit 1; }
grep -q '"customer_email":"awa.diop@example.com"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no session with the customer's email in the output" >&2; exit 1; }
grep -q '"code":"resource_conflict"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: the used customer was not refused" >&2; exit 1; }
grep -q '"deleted":true' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no customer deleted in the output" >&2; exit 1; }
grep -q '"type":"subscription.canceled"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no subscription.canceled event in the output" >&2; exit 1; }
grep -q '"status":"complete","amount":15000,"subscription_id":"' build/quickstart.log || { cat build/quickstart.log >&2; echo "quickstart: no completed renewal session in the output" >&2; exit 1; }
echo "quickstart: 2 passed, 0 failed"
