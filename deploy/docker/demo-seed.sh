#!/bin/sh
# caisse-demo-seed: makes sure a "Demo merchant" organization exists and prints a new test
# API key for it, with a curl that uses it. Run by the compose stack's seed service and by
# the Kubernetes dev overlay's seed Job (read the key with `logs`). Safe to re-run: the
# organization is created once; every run prints a fresh key (keys are shown only once).
# Needs CAISSE_DATABASE_URL; CAISSE_DEMO_GATEWAY_URL is the gateway address shown in the
# curl (default http://localhost:8080).
set -eu
name="Demo merchant"
gateway=${CAISSE_DEMO_GATEWAY_URL:-http://localhost:8080}
# list-orgs prints "ID  CURRENCY  NAME" rows; the id is the first 36 characters.
org=$(caisse-admin list-orgs | grep "  $name\$" | cut -c1-36 | head -n 1)
if [ -z "$org" ]; then
  org=$(caisse-admin create-org --name "$name" --currency XOF)
fi
key=$(caisse-admin create-key --org "$org" --env test --description "demo seed")
cat <<EOT
Test API key (organization "$name", environment test):
  $key

Create a checkout session:
  curl -s -X POST $gateway/checkout-sessions \\
    -H "x-api-key: $key" -H "Content-Type: application/json" \\
    -d '{"amount": 10000, "currency_code": "XOF", "title": "Premium Plan", "customer_email": "customer@example.com"}'
EOT
