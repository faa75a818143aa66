#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft: broker and controller in one JVM) for one local
# stack: deploy/kafka.sh fetch|start|stop|status|create-topics
#
#   fetch          download the broker jars from Maven Central (deploy/kafka/pom.xml) into
#                  $CAISSE_KAFKA_LIBS, shared by every stack of this checkout; no-op if present
#   start          fetch if needed, format the storage on first use, start, wait until it answers
#   stop           SIGTERM (clean shutdown), SIGKILL if it hangs; no-op if not running
#   status         exit 0 if running and answering
#   create-topics  create the project's topics (idempotent)
#
# State lives in $CAISSE_STACK_DIR/kafka: data/ (kept across restarts: topics and offsets
# persist), server.properties (rewritten at each start from the env), kafka.log, kafka.pid,
# and security/ ($CAISSE_KAFKA_SECURITY_DIR, mode 700): the stack's CA and the broker's
# certificate (deploy/certs.sh), one generated password per SCRAM user (USER.password) and a
# kcat configuration per user (USER.kcat.conf: kcat -F FILE, or KCAT_CONFIG=FILE).
#
# Clients reach the broker over SASL_SSL only (SCRAM-SHA-512 users, created when the storage
# is formatted; ACLs by StandardAuthorizer: caisse-admin grant-kafka-acls); the controller
# listener (loopback) takes the admin user over SASL PLAIN. Users: admin (super user: topics,
# ACLs), caisse-gateway, caisse-session-worker, caisse-webhook-worker, caisse-reader (reads
# the events: people, tests).
# Another stack runs next to this one by exporting another CAISSE_STACK_DIR and ports.
set -euo pipefail

# shellcheck source=env.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

KDIR="$CAISSE_STACK_DIR/kafka"
DATA="$KDIR/data"
PROPS="$KDIR/server.properties"
LOG="$KDIR/kafka.log"
PIDFILE="$KDIR/kafka.pid"
LIBS="$CAISSE_KAFKA_LIBS"
POM="$CAISSE_REPO/deploy/kafka/pom.xml"
LOG4J="$CAISSE_REPO/deploy/kafka/log4j2.properties"
LOG4J_TOOLS="$CAISSE_REPO/deploy/kafka/log4j2-tools.properties"
START_TIMEOUT="${CAISSE_KAFKA_START_TIMEOUT:-60}"
TOPICS=(checkout.session.commands checkout.session.events)
SEC="$CAISSE_KAFKA_SECURITY_DIR"
KAFKA_USERS=(admin caisse-gateway caisse-session-worker caisse-webhook-worker caisse-reader)

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

cmd_fetch() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v mvn >/dev/null || die "mvn not found (run deploy/install-deps.sh)"
  local parent
  parent="$(dirname "$LIBS")"
  mkdir -p "$parent"
  # Two stacks (developer + tests) may start at once on a fresh checkout: one downloads,
  # the other waits for it instead of racing on the same directory.
  exec 9>"$parent/.fetch.lock"
  flock 9
  if [ ! -f "$LIBS/.complete" ]; then
    echo "kafka.sh: fetching Apache Kafka $CAISSE_KAFKA_VERSION jars into $LIBS" >&2
    local tmp="$LIBS.tmp"
    rm -rf "$tmp"
    # Maven's output goes to a log shown only on failure (-q still prints colour codes).
    if ! mvn -B -q -Dstyle.color=never -f "$POM" -Dkafka.version="$CAISSE_KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$parent/fetch.log" 2>&1; then
      tail -n 40 "$parent/fetch.log" >&2
      die "mvn could not fetch the Kafka jars (log: $parent/fetch.log)"
    fi
    ls "$tmp"/kafka_2.13-"$CAISSE_KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$CAISSE_KAFKA_VERSION.jar missing after fetch"
    # The marker is written last and the directory renamed into place, so an interrupted
    # fetch is redone rather than used half-complete.
    touch "$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
  fi
  exec 9>&-
}

# Runs one of Kafka's command-line tools (a Java main class from the broker jars). A small
# heap and no JIT tiers beyond C1: these run for a second or two, startup is what counts.
kjava() {
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$LIBS/*" "$@"
}

# PID of this stack's broker, or nothing. The pid file alone is not trusted: after a reboot
# or a kill -9 the number may belong to another process, so we also check its command line
# mentions this stack's server.properties.
broker_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 0
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$PROPS"; then
    echo "$pid"
  fi
}

answers() { # the broker serves metadata on its client port (to the admin user)
  kcat -F "$SEC/admin.kcat.conf" -b "$CAISSE_KAFKA_BROKERS" -L -m 3 -J 2>/dev/null | grep -q '"brokers":\[{'
}

password() { cat "$SEC/$1.password"; }

# The PLAIN users of a JAAS entry: user_NAME="PASSWORD" for each.
plain_users() {
  local u
  for u in "${KAFKA_USERS[@]}"; do printf ' user_%s="%s"' "$u" "$(password "$u")"; done
}

# The certificates, a password per user (made once, kept), and each user's client files,
# rewritten at each start (the port may have changed).
write_security() {
  bash "$CAISSE_REPO/deploy/certs.sh" "$SEC"
  local u
  for u in "${KAFKA_USERS[@]}"; do
    if [ ! -s "$SEC/$u.password" ]; then
      (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SEC/$u.password.tmp")
      mv "$SEC/$u.password.tmp" "$SEC/$u.password"
    fi
    (umask 077 && cat >"$SEC/$u.kcat.conf" <<EOF
# kcat -F $SEC/$u.kcat.conf (written by deploy/kafka.sh)
bootstrap.servers=$CAISSE_KAFKA_BROKERS
security.protocol=SASL_SSL
sasl.mechanisms=$CAISSE_KAFKA_SASL_MECHANISM
sasl.username=$u
sasl.password=$(password "$u")
ssl.ca.location=$SEC/ca.pem
EOF
    )
  done
  # Kafka's own tools (kafka-topics, kafka-acls, kafka-configs: --command-config) as admin.
  (umask 077 && cat >"$SEC/admin.client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$SEC/ca.pem
EOF
  )
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_properties() {
  # Rewritten at each start so port changes take effect. The controller quorum is static
  # (controller.quorum.voters): unlike a dynamic quorum (format --standalone) it does not
  # record the controller's address in the metadata log, so the same data dir can be
  # restarted on other ports.
  (umask 077 && cat >"$PROPS" <<EOF
# Generated by deploy/kafka.sh at each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CAISSE_KAFKA_CONTROLLER_PORT
listeners=SASL_SSL://127.0.0.1:$CAISSE_KAFKA_PORT,CONTROLLER://127.0.0.1:$CAISSE_KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$CAISSE_KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$DATA

# Clients: TLS (the stack's CA, deploy/certs.sh) and SASL: the same users and passwords
# both as SCRAM-SHA-512 credentials (made at format; Kafka's own tools use them) and as PLAIN
# users (what the stack's C clients use: librdkafka before 2.6.1, Debian bookworm's 2.0.2
# included, sends a SCRAM nonce that Kafka 4 refuses, librdkafka PR 4895).
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password admin)";
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$(password admin)"$(plain_users);
ssl.keystore.type=PEM
ssl.keystore.location=$SEC/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SEC/ca.pem
ssl.client.auth=none
# The controller listener (loopback): the broker half of this JVM logs in as admin (PLAIN:
# the SCRAM credentials live in the metadata the controller serves, so cannot guard it).
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$(password admin)" user_admin="$(password admin)";
# Nothing is allowed without an ACL (caisse-admin grant-kafka-acls), but to the admin.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false

# Topics are created by deploy/kafka.sh create-topics only, never by a typo in a client.
auto.create.topics.enable=false
num.partitions=$CAISSE_KAFKA_PARTITIONS
default.replication.factor=1
min.insync.replicas=1

# One node: the internal topics cannot have the default replication factor of 3. Fewer
# partitions than the defaults (50) make the first group join / producer id quicker.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests start consumers and expect them to get partitions at once, not after 3 s.
group.initial.rebalance.delay.ms=0

# After a kill -9 (crash tests) the restarted broker cannot register until the controller has
# expired the dead incarnation's session: 9 s by default, 4 s here. Not lower, so that a busy
# 2-core box (load tests) does not fence the broker over a late heartbeat.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

# Two cores: don't start more threads than the box can use (deploy/env.sh).
num.network.threads=$CAISSE_KAFKA_NETWORK_THREADS
num.io.threads=$CAISSE_KAFKA_IO_THREADS
num.recovery.threads.per.data.dir=1
EOF
  )
}

# A KRaft cluster id: 16 random bytes, base64url without padding (what
# `kafka-storage random-uuid` prints), made here to save a JVM start. Kafka never hands out an
# id starting with '-' (it would read as a command-line flag), so neither do we.
new_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    case "$id" in -*) ;; *) echo "$id" && return 0 ;; esac
  done
}

format_storage() {
  # Formatted once; data/meta.properties marks it. Restarts reuse the data (topics persist).
  # The SCRAM users are made by the format itself (KRaft's bootstrap records): the marker
  # security/users.formatted says this data has the passwords of security/.
  if [ -f "$DATA/meta.properties" ]; then
    [ -f "$SEC/users.formatted" ] && return 0
    local aside
    aside="$KDIR/data.before-sasl.$(date -u +%Y%m%d%H%M%S)"
    echo "kafka.sh: $DATA has no SCRAM users of this stack (made before Kafka security, or" \
      "security/ was removed): moved to $aside, formatting anew" >&2
    mv "$DATA" "$aside"
  fi
  local id u scram=()
  id="$(new_cluster_id)"
  for u in "${KAFKA_USERS[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(password "$u")]")
  done
  echo "kafka.sh: formatting KRaft storage in $DATA (cluster id $id)" >&2
  rm -rf "$DATA"
  kjava kafka.tools.StorageTool format -t "$id" -c "$PROPS" "${scram[@]}" >"$KDIR/format.log" 2>&1 ||
    { cat "$KDIR/format.log" >&2; die "formatting the storage failed"; }
  touch "$SEC/users.formatted"
}

cmd_start() {
  command -v kcat >/dev/null || die "kcat not found (run deploy/install-deps.sh)"
  command -v java >/dev/null || die "java not found (run deploy/install-deps.sh)"
  mkdir -p "$KDIR"
  if [ -n "$(broker_pid)" ]; then
    # Already running (idempotent start): just make sure it answers.
    wait_ready "$(broker_pid)"
    return 0
  fi
  local p
  for p in "$CAISSE_KAFKA_PORT" "$CAISSE_KAFKA_CONTROLLER_PORT"; do
    port_in_use "$p" && die "port $p is already taken by another process (set CAISSE_KAFKA_PORT / CAISSE_KAFKA_CONTROLLER_PORT)"
  done
  cmd_fetch
  write_security
  write_properties
  format_storage

  # setsid + nohup: the broker must outlive this script and not get the terminal's Ctrl-C;
  # all three standard streams are redirected so a caller capturing our output (CI, a test
  # harness) does not wait for the broker to exit.
  echo "=== $(date -u +%FT%TZ) kafka.sh start" >>"$LOG"
  # shellcheck disable=SC2086 # CAISSE_KAFKA_HEAP and CAISSE_KAFKA_GC hold several JVM flags
  setsid nohup java $CAISSE_KAFKA_HEAP $CAISSE_KAFKA_GC \
    -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  wait_ready "$!"
  echo "kafka.sh: Kafka ready at $CAISSE_KAFKA_BROKERS" >&2
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$LOG" >&2
      die "the broker exited during startup (log: $LOG)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$LOG" >&2
      die "the broker did not answer within ${START_TIMEOUT}s (log: $LOG; still running as pid $pid)"
    fi
    sleep 0.5
  done
}

cmd_stop() {
  local pid _
  pid="$(broker_pid)"
  if [ -z "$pid" ]; then
    rm -f "$PIDFILE"
    return 0
  fi
  # SIGTERM runs Kafka's clean shutdown (flushes logs, writes the clean-shutdown marker so the
  # next start skips log recovery). A single node needs a few seconds at most.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: broker $pid ignored SIGTERM for 30s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
}

cmd_status() {
  local pid
  pid="$(broker_pid)"
  if [ -z "$pid" ]; then
    echo "kafka: stopped ($KDIR)"
    return 3
  fi
  if answers; then
    echo "kafka: running (pid $pid), ready at $CAISSE_KAFKA_BROKERS"
    return 0
  fi
  echo "kafka: running (pid $pid) but not answering at $CAISSE_KAFKA_BROKERS"
  return 1
}

cmd_create_topics() {
  [ -n "$(broker_pid)" ] || die "the broker is not running (deploy/kafka.sh start)"
  local t out
  for t in "${TOPICS[@]}"; do
    # Kafka's own kafka-topics tool; --if-not-exists makes a second run a no-op.
    if ! out="$(kjava org.apache.kafka.tools.TopicCommand --bootstrap-server "$CAISSE_KAFKA_BROKERS" \
      --command-config "$SEC/admin.client.properties" \
      --create --if-not-exists --topic "$t" \
      --partitions "$CAISSE_KAFKA_PARTITIONS" --replication-factor 1 2>&1)"; then
      printf '%s\n' "$out" >&2
      die "could not create topic $t"
    fi
  done
  # An existing topic keeps its partition count; say so if it differs from what is asked.
  local meta n
  meta="$(kcat -F "$SEC/admin.kcat.conf" -b "$CAISSE_KAFKA_BROKERS" -L -m 10)"
  for t in "${TOPICS[@]}"; do
    n="$(printf '%s\n' "$meta" | sed -n "s/^  topic \"$t\" with \([0-9]*\) partitions.*/\1/p")"
    [ -n "$n" ] || die "topic $t not visible in metadata"
    if [ "$n" != "$CAISSE_KAFKA_PARTITIONS" ]; then
      echo "kafka.sh: topic $t has $n partitions (CAISSE_KAFKA_PARTITIONS=$CAISSE_KAFKA_PARTITIONS); remove $KDIR to recreate" >&2
    fi
  done
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  create-topics) cmd_create_topics ;;
  *)
    echo "usage: $0 fetch|start|stop|status|create-topics" >&2
    exit 2
    ;;
esac
