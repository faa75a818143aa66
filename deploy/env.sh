# shellcheck shell=bash
# Shared settings for the local stack (PostgreSQL + Kafka). Source it, don't run it:
#
#   . deploy/env.sh
#
# Every setting is a default applied only when the variable is unset, so a second stack
# (the integration tests run their own next to the developer's) just exports other values
# before sourcing, e.g.
#
#   CAISSE_STACK_DIR=/tmp/t1 CAISSE_PG_PORT=56432 CAISSE_KAFKA_PORT=60092 \
#   CAISSE_KAFKA_CONTROLLER_PORT=60093 deploy/kafka.sh start
#
# Deliberately no `set -euo pipefail` here: this file is also sourced into interactive shells.

# Repository root, from this file's location (works whatever the caller's cwd is).
CAISSE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CAISSE_REPO

# Where a stack keeps its data, logs and pid files (gitignored). One directory per stack.
: "${CAISSE_STACK_DIR:=$CAISSE_REPO/.stack}"
# Downloads shared by all stacks of this checkout (Kafka jars): fetched once, reused by the tests.
: "${CAISSE_CACHE_DIR:=$CAISSE_REPO/.cache}"

# PostgreSQL (throwaway cluster, trust auth on loopback only).
: "${CAISSE_PG_PORT:=55432}"
: "${CAISSE_PG_DB:=caisse}"
: "${CAISSE_PG_USER:=caisse}"

# Kafka (single KRaft node: broker and controller in one JVM).
: "${CAISSE_KAFKA_PORT:=59092}"
: "${CAISSE_KAFKA_CONTROLLER_PORT:=59093}"
: "${CAISSE_KAFKA_PARTITIONS:=12}"
# Pinned; must match <kafka.version> in deploy/kafka/pom.xml (why this version: see there).
: "${CAISSE_KAFKA_VERSION:=4.4.0}"
: "${CAISSE_KAFKA_LIBS:=$CAISSE_CACHE_DIR/kafka-$CAISSE_KAFKA_VERSION/libs}"
: "${CAISSE_KAFKA_HEAP:=-Xms256m -Xmx512m}"
# The broker's collector and threads, sized for a small box (two cores, a 512 MB heap: the
# local stack, the tests, make bench); deploy/OPERATIONS.md says what was measured.
: "${CAISSE_KAFKA_GC:=-XX:+UseSerialGC}"
: "${CAISSE_KAFKA_NETWORK_THREADS:=1}"
: "${CAISSE_KAFKA_IO_THREADS:=2}"

export CAISSE_STACK_DIR CAISSE_CACHE_DIR \
  CAISSE_PG_PORT CAISSE_PG_DB CAISSE_PG_USER \
  CAISSE_KAFKA_PORT CAISSE_KAFKA_CONTROLLER_PORT CAISSE_KAFKA_PARTITIONS \
  CAISSE_KAFKA_VERSION CAISSE_KAFKA_LIBS CAISSE_KAFKA_HEAP \
  CAISSE_KAFKA_GC CAISSE_KAFKA_NETWORK_THREADS CAISSE_KAFKA_IO_THREADS

# Derived values are always recomputed (not "only if unset"): a shell that sourced this file
# for the developer stack and then switches ports for a test stack must not keep a stale URL.
# 127.0.0.1 rather than localhost: the cluster listens on IPv4 loopback only, and libpq would
# otherwise try ::1 first.
CAISSE_DATABASE_URL="postgresql://${CAISSE_PG_USER}@127.0.0.1:${CAISSE_PG_PORT}/${CAISSE_PG_DB}"
CAISSE_KAFKA_BROKERS="127.0.0.1:${CAISSE_KAFKA_PORT}"
export CAISSE_DATABASE_URL CAISSE_KAFKA_BROKERS

# Kafka security of the stack (deploy/kafka.sh): SASL_SSL, the stack's own CA. Each
# program's user and password are set where it is started (deploy/stack.sh); kcat reads the
# events as caisse-reader through KCAT_CONFIG (as another user: kcat -F
# "$CAISSE_KAFKA_SECURITY_DIR/USER.kcat.conf"). The broker takes SCRAM-SHA-512 and PLAIN for
# the same users; the C clients use PLAIN (over TLS) because librdkafka before 2.6.1 (Debian
# bookworm has 2.0.2) cannot do SCRAM with Kafka 4: with a newer one, export
# CAISSE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 before 'make up'.
CAISSE_KAFKA_SECURITY_DIR="$CAISSE_STACK_DIR/kafka/security"
CAISSE_KAFKA_SECURITY_PROTOCOL=SASL_SSL
: "${CAISSE_KAFKA_SASL_MECHANISM:=PLAIN}"
CAISSE_KAFKA_CA_FILE="$CAISSE_KAFKA_SECURITY_DIR/ca.pem"
KCAT_CONFIG="$CAISSE_KAFKA_SECURITY_DIR/caisse-reader.kcat.conf"
export CAISSE_KAFKA_SECURITY_DIR CAISSE_KAFKA_SECURITY_PROTOCOL CAISSE_KAFKA_SASL_MECHANISM \
  CAISSE_KAFKA_CA_FILE KCAT_CONFIG
# A stack's Kafka user and its password, as the environment of one command:
#   env $(caisse_kafka_login caisse-gateway) build/bin/caisse-gateway
caisse_kafka_login() {
  echo "CAISSE_KAFKA_USERNAME=$1 CAISSE_KAFKA_PASSWORD=$(cat "$CAISSE_KAFKA_SECURITY_DIR/$1.password")"
}
