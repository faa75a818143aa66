# shellcheck shell=bash
# Helpers of bench/run.sh (sourced): configuration, the bench stack, SQL, load tools,
# medians, the memory sampler. Everything is configured from the environment.

# ---- configuration ---------------------------------------------------------------------
# BENCH_QUICK=1 makes a smoke run (about three minutes): every size below gets a small
# default, and any variable given explicitly still wins.
: "${BENCH_QUICK:=0}"
bench_default() { # NAME FULL QUICK: sets NAME unless already set
  local name=$1 full=$2 quick=$3
  if [ -z "${!name:-}" ]; then
    if [ "$BENCH_QUICK" = 1 ]; then printf -v "$name" '%s' "$quick"; else printf -v "$name" '%s' "$full"; fi
  fi
  export "${name?}"
}
bench_default BENCH_RUNS 3 2                  # runs per HTTP benchmark; the figure is their median
bench_default BENCH_HTTP_S 5 2                # seconds of each wrk / paced run
bench_default BENCH_WARMUP_S 60 2             # seconds of unrecorded creates before the first round
bench_default BENCH_WRK_THREADS 2 2           # the same wrk settings for ceiling, GET and POST
bench_default BENCH_WRK_CONNECTIONS 64 64
bench_default BENCH_LOADGEN_CONNECTIONS 64 64 # connections of the open-loop client
bench_default BENCH_GET_POOL 1000 200         # sessions created before the GET benchmark
bench_default BENCH_PAGE_POOL 200 100         # of them, the sessions whose hosted page the page GET reads
bench_default BENCH_PIPELINE_S 60 10          # sustained creates at the max rate
bench_default BENCH_PIPELINE_WINDOW_S 10 2    # the pipeline figure is the median window
bench_default BENCH_PGBENCH_S 5 2             # seconds of each pgbench run (BENCH_RUNS runs)
bench_default BENCH_PGBENCH_BATCH 500 500     # rows per INSERT (the session worker's CAISSE_BATCH_MAX)
bench_default BENCH_PGBENCH_CLIENTS "$(nproc)" "$(nproc)" # of the inserts (the row fetch: the gateway's threads)
bench_default BENCH_EXPIRY_N 1000000 20000    # due sessions of the expiry burst
bench_default BENCH_EXPIRY_RUNS 1 1           # expiry bursts (1,000,000 rows: one fits the budget)
bench_default BENCH_EXPIRY_POLL_S 0.25 0.25   # how often the burst's end is looked for
bench_default BENCH_EXPIRY_TIMEOUT_S 1800 1800 # the burst fails if not done by then
bench_default BENCH_WEBHOOK_EVENTS 5000 500   # events per webhook round (BENCH_RUNS rounds)
bench_default BENCH_WEBHOOK_ENDPOINTS 4 2     # endpoints subscribed to them (deliveries = product)
# The soak's steady load starts after the quiet benchmarks (pgbench) and the webhooks and
# expiry stages run alongside it; it must outlast them (their time is reported).
bench_default BENCH_SOAK_S 600 60             # the soak's duration
bench_default BENCH_SOAK_SAMPLE_S 10 5        # RSS sampling period of the soak
bench_default BENCH_SOAK_WARMUP_S 60 10       # growth is measured from the first sample after this
bench_default BENCH_SOAK_TOLERANCE_PCT 10 10  # "no growth": end RSS <= warm RSS * (1 + this %) ...
bench_default BENCH_SOAK_TOLERANCE_MB 2 2     # ... or + this many MB, whichever is larger
bench_default BENCH_SOAK_CREATE_PCT 10 10     # soak creates/s, % of the measured max create rate
bench_default BENCH_SOAK_GET_PCT 5 5          # soak GETs/s, % of the measured max GET rate
bench_default BENCH_SOAK_TTL_S 5 5            # soak sessions expire this soon (expiry worker, webhooks)
bench_default BENCH_SOAK_ENDPOINTS "$BENCH_WEBHOOK_ENDPOINTS" "$BENCH_WEBHOOK_ENDPOINTS" # the soak's own endpoints
bench_default BENCH_SETTLE_S 60 30            # max wait for the workers to catch up between stages
bench_default BENCH_MEM_SAMPLE_S 1 1          # RSS sampling period during the benchmarks
bench_default BENCH_IDEMPOTENCY 1 1           # creates carry an Idempotency-Key (0: none)
# BENCH_ONLY=page runs the hosted page's benchmarks alone (its GET against the HTTP ceiling,
# in the same rounds, and each state's weight), with results of their own.
: "${BENCH_ONLY:=}"
case "$BENCH_ONLY" in
  '') ;;
  page)
    : "${BENCH_RESULTS:=$REPO/bench/results/page.json}"
    : "${BENCH_UPDATE_README:=0}"
    ;;
  *) echo "bench: BENCH_ONLY must be empty or page (got \"$BENCH_ONLY\")" >&2; exit 2 ;;
esac
export BENCH_ONLY
# A smoke run neither overwrites the real results nor touches the README unless told to.
bench_default BENCH_RESULTS "$REPO/bench/results/latest.json" "$REPO/bench/results/quick.json"
bench_default BENCH_UPDATE_README 1 0
bench_default BENCH_BUILD build/bench build/bench
bench_default BENCH_CFLAGS "-O2 -g -DNDEBUG" "-O2 -g -DNDEBUG"
bench_default BENCH_STACK_DIR "$REPO/build/bench-stack" "$REPO/build/bench-stack"
bench_default BENCH_KEEP_STACK 0 0            # 1: the bench stack keeps running afterwards

# Ports and directory of the bench stack: apart from 'make up' and the test suite.
bench_default BENCH_PG_PORT 64432 64432
bench_default BENCH_KAFKA_PORT 64092 64092
bench_default BENCH_KAFKA_CONTROLLER_PORT 64093 64093
bench_default BENCH_GATEWAY_PORT 64180 64180 # +1: the internal API
bench_default BENCH_CEILING_PORT 64182 64182
bench_default BENCH_SINK_PORT 64183 64183
bench_default BENCH_SOAK_SINK_PORT 64184 64184 # the soak's own webhook sink
# The workers' ops listeners (GET /healthz, /readyz, /metrics): the gateway's port + 11, 12,
# 13 unless CAISSE_*_OPS_PORT is given (stack.sh's defaults are 'make up's 8091-8093).
export CAISSE_SESSION_WORKER_OPS_PORT="${CAISSE_SESSION_WORKER_OPS_PORT:-$((BENCH_GATEWAY_PORT + 11))}"
export CAISSE_EXPIRY_WORKER_OPS_PORT="${CAISSE_EXPIRY_WORKER_OPS_PORT:-$((BENCH_GATEWAY_PORT + 12))}"
export CAISSE_WEBHOOK_WORKER_OPS_PORT="${CAISSE_WEBHOOK_WORKER_OPS_PORT:-$((BENCH_GATEWAY_PORT + 13))}"

export CAISSE_STACK_DIR="$BENCH_STACK_DIR"
export CAISSE_PG_PORT="$BENCH_PG_PORT"
export CAISSE_KAFKA_PORT="$BENCH_KAFKA_PORT"
export CAISSE_KAFKA_CONTROLLER_PORT="$BENCH_KAFKA_CONTROLLER_PORT"
export CAISSE_GATEWAY_PORT="$BENCH_GATEWAY_PORT"
export CAISSE_GATEWAY_INTERNAL_PORT=$((BENCH_GATEWAY_PORT + 1))
export CAISSE_PUBLIC_BASE_URL="http://localhost:$BENCH_GATEWAY_PORT"
export CAISSE_BIN_DIR="$REPO/$BENCH_BUILD/bin"
# The sink listens on loopback, which only this operator allowlist lets webhooks reach.
export CAISSE_WEBHOOK_ALLOWLIST="${CAISSE_WEBHOOK_ALLOWLIST:-127.0.0.1/32}"
# The soak's sessions live BENCH_SOAK_TTL_S seconds, so the gateway must accept that.
export CAISSE_SESSION_MIN_TTL="${CAISSE_SESSION_MIN_TTL:-1}"
# One API key at the machine's maximum rate: its limit must never bite, but the limiter
# runs on every request, so its cost is in every figure.
export CAISSE_RATE_LIMIT_KEY_PER_S="${CAISSE_RATE_LIMIT_KEY_PER_S:-1000000}"
export CAISSE_RATE_LIMIT_KEY_BURST="${CAISSE_RATE_LIMIT_KEY_BURST:-1000000}"
# The hosted page has no API key: its requests are limited per client address, and wrk is
# one address. The same reasoning: limits that run on every request but never bite.
export CAISSE_RATE_LIMIT_CLIENT_PER_S="${CAISSE_RATE_LIMIT_CLIENT_PER_S:-1000000}"
export CAISSE_RATE_LIMIT_CLIENT_BURST="${CAISSE_RATE_LIMIT_CLIENT_BURST:-1000000}"
export CAISSE_RATE_LIMIT_PAGE_POSTS_PER_MIN="${CAISSE_RATE_LIMIT_PAGE_POSTS_PER_MIN:-1000000}"
export CAISSE_RATE_LIMIT_PAGE_POSTS_BURST="${CAISSE_RATE_LIMIT_PAGE_POSTS_BURST:-1000000}"
# Everything else (log level, threads, batch sizes...) is the product's default unless
# the caller exports a CAISSE_* variable: it reaches every service of the bench stack.
# shellcheck source=../deploy/env.sh source-path=SCRIPTDIR
. "$REPO/deploy/env.sh"

BIN="$CAISSE_BIN_DIR"
ADMIN="$BIN/caisse-admin"
STACK="$REPO/deploy/stack.sh"
# shellcheck disable=SC2034 # used by run.sh
RES="$BENCH_STACK_DIR/results" # raw outputs of this run
GATEWAY_URL="http://127.0.0.1:$BENCH_GATEWAY_PORT"
# shellcheck disable=SC2034 # used by run.sh
CEILING_URL="http://127.0.0.1:$BENCH_CEILING_PORT"
# shellcheck disable=SC2034 # used by run.sh
SINK_URL="http://127.0.0.1:$BENCH_SINK_PORT"
# shellcheck disable=SC2034 # used by run.sh
SOAK_SINK_URL="http://127.0.0.1:$BENCH_SOAK_SINK_PORT"

# ---- small helpers ------------------------------------------------------------------------
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
warn() { printf '[bench %s] WARNING: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[bench] FAILED: %s\n' "$*" >&2
  exit 1
}
now_ms() { date +%s%3N; }
# psql on the bench database: unaligned, tuples only, stop at the first error.
pq() { psql -X -q -At -v ON_ERROR_STOP=1 "$CAISSE_DATABASE_URL" "$@"; }
# One statement with psql variables (-v name=value ...): psql interpolates :'name' only in
# what it reads, never in -c.
pqv() { # SQL [-v name=value]...
  local sql=$1
  shift
  pq "$@" <<<"$sql"
}

# jq helpers shared by every computation: median of an array (null if empty).
# shellcheck disable=SC2034 # used by run.sh
JQ_LIB='def median: map(select(. != null)) | sort | if length == 0 then null
  elif length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;'

# Appends one JSON value (a line) to the results of a stage.
record() { # STAGE JSON
  printf '%s\n' "$2" >>"$RES/$1.jsonl"
}

# Names the stage the memory sampler attributes its samples to; while the soak's load runs
# in the background, PHASE_SUFFIX (+soak) says so in the name.
PHASE_SUFFIX=""
phase() {
  printf '%s%s\n' "$1" "$PHASE_SUFFIX" >"$RES/phase"
  log "== $1$PHASE_SUFFIX"
}

# ---- background processes started by this script -------------------------------------------
BG_PIDS=()
bg_track() { BG_PIDS+=("$1"); }
bg_stop() { # PID: TERM (and its direct children: a subshell's wrk), then wait up to 10 s
  local pid=$1
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# ---- memory sampler -----------------------------------------------------------------------
SERVICES=(gateway session-worker expiry-worker webhook-worker)
service_pid() {
  local f="$CAISSE_STACK_DIR/run/$1.pid" pid
  # The samplers run while stages stop and start services: the file may go at any time.
  pid=$(cat "$f" 2>/dev/null) || return 1
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
# VmRSS and VmHWM (kB) of a process: "rss hwm", or nothing if it is gone.
proc_mem() {
  awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { if (r != "") print r, h }' "/proc/$1/status" 2>/dev/null || true
}
# Every BENCH_MEM_SAMPLE_S: one line per running service into mem.tsv
#   epoch_ms  phase  service  pid  rss_kb  hwm_kb
mem_sampler() {
  while [ -f "$RES/sampling" ]; do
    local t ph s pid m
    t=$(now_ms)
    ph=$(cat "$RES/phase" 2>/dev/null || echo none)
    for s in "${SERVICES[@]}"; do
      pid=$(service_pid "$s") || continue
      m=$(proc_mem "$pid")
      [ -n "$m" ] || continue
      printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$ph" "$s" "$pid" "${m// /$'\t'}" >>"$RES/mem.tsv"
    done
    sleep "$BENCH_MEM_SAMPLE_S"
  done
}

# ---- the stack ------------------------------------------------------------------------------
stack() { bash "$STACK" "$@"; }

gateway_threads() { # the thread count the running gateway logged at start
  grep '"gateway listening"' "$CAISSE_STACK_DIR/logs/gateway.log" | tail -n 1 | jq -r .threads
}

# Whether an event of ORG still waits for the relay (its queue, outbox_pending, is small and
# read row by row, so the soak's events in it cost nothing): 1 or 0.
org_events_pending() { # ORG
  pqv "SELECT count(*) FROM (SELECT 1 FROM outbox_pending p
         WHERE (SELECT o.organization_id FROM outbox o WHERE o.seq = p.seq) = :'org' LIMIT 1) x" -v org="$1"
}

# The webhook worker's committed offset and the end offset of each partition of the events
# topic (the Kafka probe's JSON; the worker commits a few seconds after storing).
webhook_offsets() {
  # As the stack's Kafka admin (deploy/kafka.sh): reading a group's offsets needs Describe on it.
  # shellcheck disable=SC2046 # NAME=VALUE words, no spaces in them
  env $(caisse_kafka_login admin) "$BIN/bench-kafka-lag" "$CAISSE_KAFKA_BROKERS" "${CAISSE_WEBHOOK_WORKER_GROUP:-caisse-webhook-worker}" \
    checkout.session.events 2>/dev/null
}

# Waits (at most BENCH_SETTLE_S) until every event written before the call is published by
# the relay and, with "webhooks", consumed by the webhook worker (its committed offsets reach
# each partition's end offset of the moment the relay was done). On a quiet box that is "all
# caught up"; with the soak's steady load in the background, what it keeps writing meanwhile
# is not waited for. The next measurement then starts without an earlier stage's backlog.
settle() { # [webhooks]
  local deadline=$(($(date +%s) + BENCH_SETTLE_S)) max_seq pending=unknown ends="" offsets behind=0
  max_seq=$(pq -c "SELECT coalesce(max(seq), 0) FROM outbox")
  while :; do
    if [ "$pending" != 0 ]; then
      pending=$(pqv "SELECT count(*) FROM outbox_pending WHERE seq <= :'s'" -v s="$max_seq")
    fi
    if [ "$pending" = 0 ] && [ "${1:-}" = webhooks ]; then
      behind=unknown
      if offsets=$(webhook_offsets) && [ -n "$offsets" ]; then
        [ -n "$ends" ] || ends=$(jq -c '[.offsets[][1]]' <<<"$offsets")
        behind=$(jq --argjson e "$ends" '[.offsets as $o | range(0; $e | length)
          | [$e[.] - $o[.][0], 0] | max] | add // 0' <<<"$offsets")
      fi
    fi
    [ "$pending" = 0 ] && [ "$behind" = 0 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      warn "workers still busy after ${BENCH_SETTLE_S}s (outbox pending $pending, webhook worker behind by $behind); going on"
      return 0
    fi
    sleep 1
  done
}

# ---- tenants ----------------------------------------------------------------------------------
new_org() { "$ADMIN" create-org --name "$1" --currency XOF 2>/dev/null; }
new_key() { "$ADMIN" create-key --org "$1" --env test --description "make bench" 2>/dev/null; }
key_id_of_org() { pq -c "SELECT id FROM api_keys WHERE organization_id = '$1' ORDER BY created_at LIMIT 1"; }

# N open sessions of ORG, already due (expires_at in the past, 1,000 a second), written
# straight into the table as the session worker would have: the expiry benchmarks start
# from a backlog without waiting an hour. Ids are UUIDv7 like the gateway's.
insert_due_sessions() { # ORG CREATED_BY N
  pq -v org="$1" -v by="$2" -v n="$3" <<'SQL'
INSERT INTO checkout_sessions (id, organization_id, environment, amount, currency_code, status,
    title, customer_email, quantity, success_url, expires_at, metadata, created_at, created_by,
    updated_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
         substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
         FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
       :'org', 'test', 100 + (g::bigint * 7919) % 1000000, 'XOF', 'open',
       'Bench order ' || g, 'buyer' || (g % 100000) || '@example.com', 1,
       'https://shop.example/success',
       t.due, jsonb_build_object('order_id', 'due-' || g), t.due - interval '1 hour', :'by',
       t.due - interval '1 hour'
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT date_trunc('second', now()) - interval '1 minute'
                     - ((:n - g) / 1000) * interval '1 second' AS due) AS t;
SQL
}

# A bench-webhook-sink on PORT for the endpoints of SECRETS_FILE ("<path> whsec_..." lines),
# logging to LOG; waits until it answers. Sets SINK_STARTED_PID (tracked for the cleanup).
start_sink() { # PORT SECRETS_FILE LOG
  setsid "$BIN/bench-webhook-sink" --port "$1" --threads 2 --secrets "$2" >>"$3" 2>&1 </dev/null &
  SINK_STARTED_PID=$!
  bg_track "$SINK_STARTED_PID"
  for _ in $(seq 1 50); do
    # Answering is not enough: a sink left over on the port would answer for this one.
    if curl -fsS -o /dev/null "http://127.0.0.1:$1/_stats" 2>/dev/null; then
      kill -0 "$SINK_STARTED_PID" 2>/dev/null || die "port $1 is taken by another process (see $3)"
      return 0
    fi
    sleep 0.1
  done
  die "the webhook sink on port $1 did not start"
}

# Registers N endpoints of the API key KEY (all events) at BASE_URL/<prefix><k>, appending
# their "<path> <secret>" lines to SECRETS_FILE for the sink.
register_endpoints() { # KEY BASE_URL PREFIX N SECRETS_FILE
  local key=$1 base=$2 prefix=$3 n=$4 file=$5 k resp
  for k in $(seq 1 "$n"); do
    resp=$(curl -fsS -X POST "$GATEWAY_URL/webhook-endpoints" -H "x-api-key: $key" \
      -H "Content-Type: application/json" \
      -d "{\"url\": \"$base/$prefix$k\", \"enabled_events\": [\"*\"], \"description\": \"make bench sink $prefix$k\"}") ||
      die "cannot register webhook endpoint $prefix$k"
    printf '/%s%s %s\n' "$prefix" "$k" "$(jq -r .secret <<<"$resp")" >>"$file"
  done
}

# ---- load tools -------------------------------------------------------------------------------
# wrk with the shared settings; prints the BENCH_JSON object of its done() (raw output kept).
wrk_run() { # NAME URL SCRIPT SECONDS
  local name=$1 url=$2 script=$3 secs=$4 out
  out="$RES/raw/$name.txt"
  wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_WRK_CONNECTIONS" -d"${secs}s" --timeout 10s \
    -s "$REPO/bench/wrk/$script" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "wrk $name failed"; }
  sed -n 's/^BENCH_JSON //p' "$out" | tail -n 1 | grep . || { cat "$out" >&2; die "wrk $name printed no result"; }
}

loadgen() { # NAME ARGS...: the open-loop client; prints its JSON (raw output kept)
  local name=$1
  shift
  "$BIN/bench-loadgen" --url "$GATEWAY_URL" "$@" >"$RES/raw/$name.json" 2>"$RES/raw/$name.err" ||
    { cat "$RES/raw/$name.err" >&2; die "loadgen $name failed"; }
  cat "$RES/raw/$name.json"
}

# Loudly reports answers other than the expected ones (wrk or loadgen JSON on stdin).
check_statuses() { # NAME EXPECTED_STATUS...
  local name=$1 json bad
  shift
  json=$(cat)
  bad=$(jq -r --arg ok "$*" '($ok | split(" ")) as $ok
    | [(.status // {}) | to_entries[] | select(.key as $k | $ok | index($k) | not) | "\(.value) × \(.key)"]
      + (if (.errors | type) == "object" then [.errors | to_entries[] | select(.value > 0) | "\(.value) \(.key) errors"]
         elif (.errors // 0) > 0 then ["\(.errors) errors"] else [] end)
      + (if (.timeouts // 0) > 0 then ["\(.timeouts) unanswered"] else [] end)
    | join(", ")' <<<"$json")
  if [ -n "$bad" ]; then
    warn "$name: unexpected answers: $bad"
    printf '%s\n' "$name: $bad" >>"$RES/anomalies.txt"
  fi
}
