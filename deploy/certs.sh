#!/usr/bin/env bash
# The TLS material of a local stack's Kafka broker: deploy/certs.sh DIR
#
# Makes, in DIR (created mode 700; never in git), what is missing and keeps what is there:
#   ca.key, ca.pem          a self-signed CA of this stack alone (ECDSA P-256, 10 years)
#   broker.key, broker.pem  the broker's certificate, signed by that CA, for localhost and
#                           127.0.0.1 (plus CAISSE_KAFKA_CERT_HOSTS, comma separated names or
#                           addresses), 2 years; valid for serverAuth and clientAuth
#   broker-keystore.pem     broker.key + broker.pem: Kafka's PEM keystore
# Clients trust ca.pem (CAISSE_KAFKA_CA_FILE, kcat's ssl.ca.location). To rotate: delete
# broker.* (a new certificate from the same CA) or everything (a new CA: clients need the new
# ca.pem), then restart the broker (deploy/OPERATIONS.md, Kafka security).
set -euo pipefail

dir="${1:?usage: deploy/certs.sh DIR}"
command -v openssl >/dev/null || { echo "certs.sh: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
chmod 700 "$dir"
umask 077

if [ ! -s "$dir/ca.key" ] || [ ! -s "$dir/ca.pem" ]; then
  rm -f "$dir/ca.key" "$dir/ca.pem" "$dir"/broker.*
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key.tmp" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca.key.tmp" -sha256 -days 3650 \
    -subj "/O=caisse local stack/CN=caisse local Kafka CA $(date -u +%Y%m%d%H%M%S)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.pem.tmp"
  mv "$dir/ca.key.tmp" "$dir/ca.key"
  mv "$dir/ca.pem.tmp" "$dir/ca.pem"
fi

if [ ! -s "$dir/broker.key" ] || [ ! -s "$dir/broker.pem" ] || [ ! -s "$dir/broker-keystore.pem" ] ||
  ! openssl verify -CAfile "$dir/ca.pem" "$dir/broker.pem" >/dev/null 2>&1; then
  san="DNS:localhost,IP:127.0.0.1"
  IFS=, read -r -a extra <<<"${CAISSE_KAFKA_CERT_HOSTS:-}"
  for h in "${extra[@]}"; do
    [ -n "$h" ] || continue
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
  done
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/broker.key.tmp" 2>/dev/null
  openssl req -new -key "$dir/broker.key.tmp" -subj "/O=caisse local stack/CN=kafka-broker" \
    -out "$dir/broker.csr.tmp"
  openssl x509 -req -in "$dir/broker.csr.tmp" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$dir/ca.srl" -sha256 -days 730 -out "$dir/broker.pem.tmp" \
    -extfile <(printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") 2>/dev/null
  cat "$dir/broker.key.tmp" "$dir/broker.pem.tmp" >"$dir/broker-keystore.pem.tmp"
  mv "$dir/broker.key.tmp" "$dir/broker.key"
  mv "$dir/broker.pem.tmp" "$dir/broker.pem"
  mv "$dir/broker-keystore.pem.tmp" "$dir/broker-keystore.pem"
  rm -f "$dir/broker.csr.tmp"
fi
