#!/usr/bin/env bash
# make bench: measures caisse against this machine's own limits, in one run.
#
# Builds optimized binaries into build/bench, starts a stack of its own (build/bench-stack,
# ports 64xxx: apart from 'make up' and the tests), runs every benchmark, prints the table,
# writes bench/results/latest.json and the table into README.md (between the bench markers).
# Sizes and durations come from BENCH_* variables (bench/lib.sh lists them with their
# defaults; BENCH_QUICK=1 is a two-minute smoke run). Every figure and every limit it is
# compared with is measured here, in this run; nothing is hard-coded.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$REPO/bench/lib.sh"

RUN_STARTED=$(date +%s)

cleanup() {
  local rc=$?
  set +e
  rm -f "$RES/sampling" 2>/dev/null
  for pid in "${BG_PIDS[@]}"; do bg_stop "$pid"; done
  if [ $rc -ne 0 ]; then
    echo "--- make bench failed; last service log lines ---" >&2
    for f in "$CAISSE_STACK_DIR"/logs/*.log; do
      [ -f "$f" ] || continue
      echo "== $f" >&2
      tail -n 10 "$f" >&2
    done
  fi
  if [ "${BENCH_KEEP_STACK:-0}" != 1 ]; then stack down >/dev/null 2>&1; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stage_timer() { # NAME: records how long the previous stage took
  local t
  t=$(date +%s)
  if [ -n "${STAGE_NAME:-}" ]; then
    record stages "$(jq -nc --arg s "$STAGE_NAME" --argjson d $((t - STAGE_T0)) '{stage: $s, seconds: $d}')"
  fi
  STAGE_NAME=$1
  STAGE_T0=$t
}

# ---- preparation: packages, optimized build, a fresh stack -------------------------------
prepare() {
  bash "$REPO/deploy/install-deps.sh"
  command -v wrk >/dev/null || die "wrk is missing (deploy/install-deps.sh installs it)"
  command -v pgbench >/dev/null || die "pgbench is missing (Debian package postgresql-client)"
  log "building optimized binaries into $BENCH_BUILD (CFLAGS=$BENCH_CFLAGS)"
  make --no-print-directory -j"$(nproc)" BUILD="$BENCH_BUILD" CFLAGS="$BENCH_CFLAGS" all bench-tools >/dev/null
  stack down >/dev/null 2>&1 || true
  rm -rf "$BENCH_STACK_DIR"
  mkdir -p "$RES/raw"
  log "starting the bench stack in $BENCH_STACK_DIR (gateway :$BENCH_GATEWAY_PORT, PostgreSQL :$BENCH_PG_PORT, Kafka :$BENCH_KAFKA_PORT)"
  stack up >"$RES/stack-up.log" 2>&1 || { cat "$RES/stack-up.log" >&2; die "the bench stack did not start"; }
  GATEWAY_THREADS=$(gateway_threads)
  if [ -z "$GATEWAY_THREADS" ] || [ "$GATEWAY_THREADS" = null ]; then
    die "cannot read the gateway's thread count from its log"
  fi
}

tenants() {
  ORG=$(new_org "Bench merchant")
  KEY=$(new_key "$ORG")
  WORG=$(new_org "Bench webhooks")
  WKEY=$(new_key "$WORG")
  WKEY_ID=$(key_id_of_org "$WORG")
  EORG=$(new_org "Bench expiry")
  new_key "$EORG" >/dev/null
  EKEY_ID=$(key_id_of_org "$EORG")
  if [ -z "$KEY" ] || [ -z "$WKEY" ] || [ -z "$EKEY_ID" ]; then die "cannot create the bench tenants"; fi
  export BENCH_API_KEY="$KEY" BENCH_IDS_FILE="$RES/pool.txt"
}

start_sampler() {
  : >"$RES/sampling"
  mem_sampler &
  bg_track $!
}

# ---- the GET pool ----------------------------------------------------------------------------
stage_pool() {
  phase warm-up
  # Right after start the session worker may still be joining its consumer group: creates
  # wait (and answer 202) until it has its partitions. No benchmark starts before a create
  # answers 201 again.
  local j n deadline=$(($(date +%s) + 120))
  while :; do
    j=$(loadgen warm-up --mode post --rate 20 --count 20 --connections 4)
    [ "$(jq -r '.status["201"] // 0' <<<"$j")" = 20 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "creates still do not answer 201 after 120 s: $j"
  done
  phase pool
  j=$(loadgen pool --mode post --rate 500 --count "$BENCH_GET_POOL" --connections 16 --ids-out "$RES/pool.txt")
  check_statuses pool 201 <<<"$j"
  n=$(wc -l <"$RES/pool.txt")
  [ "$n" -gt 0 ] || die "no session was created for the GET pool"
  log "GET pool: $n sessions"
  settle webhooks
}

# ---- HTTP ceiling, GET, POST: interleaved rounds, so drift on a shared box hits all three ----
start_ceiling() {
  # The gateway's configuration: same variables, and the thread count the gateway logged.
  CAISSE_GATEWAY_PORT=$BENCH_CEILING_PORT CAISSE_GATEWAY_THREADS=$GATEWAY_THREADS \
    setsid "$BIN/bench-http-ceiling" >>"$CAISSE_STACK_DIR/logs/http-ceiling.log" 2>&1 </dev/null &
  CEILING_PID=$!
  bg_track $CEILING_PID
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "$CEILING_URL/" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the HTTP ceiling server did not start"
}

stage_http() {
  start_ceiling
  local r j
  for r in $(seq 1 "$BENCH_RUNS"); do
    phase http-ceiling
    j=$(wrk_run "ceiling-$r" "$CEILING_URL" get.lua "$BENCH_HTTP_S")
    check_statuses "ceiling run $r" 200 <<<"$j"
    record http_ceiling "$j"
    phase get
    j=$(wrk_run "get-$r" "$GATEWAY_URL" get.lua "$BENCH_HTTP_S")
    check_statuses "GET run $r" 200 <<<"$j"
    record get "$j"
    phase post
    j=$(wrk_run "post-$r" "$GATEWAY_URL" post.lua "$BENCH_HTTP_S")
    check_statuses "POST run $r" 201 <<<"$j"
    record post "$j"
    settle webhooks
  done
  bg_stop "$CEILING_PID"
  MAX_CREATES=$(jq -rs "$JQ_LIB"' map((.status["201"] // 0) / .duration_s) | median' "$RES/post.jsonl")
  MAX_GETS=$(jq -rs "$JQ_LIB"' map((.status["200"] // 0) / .duration_s) | median' "$RES/get.jsonl")
  log "max rates: $MAX_CREATES creates/s, $MAX_GETS GETs/s"
}

# ---- creates and read-after-write at half the max create rate (open loop) -----------------
stage_paced() {
  HALF_RATE=$(jq -rn --argjson m "$MAX_CREATES" '[($m / 2), 1] | max')
  local r j idem=()
  [ "$BENCH_IDEMPOTENCY" = 1 ] || idem=(--no-idempotency)
  for r in $(seq 1 "$BENCH_RUNS"); do
    phase post-half-rate
    j=$(loadgen "post-half-$r" --mode post --rate "$HALF_RATE" --duration "$BENCH_HTTP_S" \
      --connections "$BENCH_LOADGEN_CONNECTIONS" "${idem[@]}")
    check_statuses "POST at half rate, run $r" 201 <<<"$j"
    record post_half "$j"
    settle webhooks
    phase read-after-write
    j=$(loadgen "raw-$r" --mode raw --rate "$HALF_RATE" --duration "$BENCH_HTTP_S" \
      --connections "$BENCH_LOADGEN_CONNECTIONS" "${idem[@]}")
    check_statuses "read-after-write run $r" 201 <<<"$j"
    record read_after_write "$j"
    settle webhooks
  done
}

# ---- pipeline: creates at the max rate for BENCH_PIPELINE_S, counted in the database --------
stage_pipeline() {
  phase pipeline
  local windows=$((BENCH_PIPELINE_S / BENCH_PIPELINE_WINDOW_S)) w t0 t prev_t prev_c c wrk_pid
  [ "$windows" -ge 1 ] || die "BENCH_PIPELINE_S must be at least BENCH_PIPELINE_WINDOW_S"
  prev_c=$(pq -c "SELECT count(*) FROM checkout_sessions")
  t0=$(now_ms)
  prev_t=$t0
  wrk_run pipeline "$GATEWAY_URL" post.lua "$BENCH_PIPELINE_S" >"$RES/pipeline-wrk.json" &
  wrk_pid=$!
  bg_track $wrk_pid
  for w in $(seq 1 "$windows"); do
    t=$((t0 + w * BENCH_PIPELINE_WINDOW_S * 1000))
    while [ "$(now_ms)" -lt "$t" ]; do sleep 0.05; done
    c=$(pq -c "SELECT count(*) FROM checkout_sessions")
    t=$(now_ms)
    record pipeline_windows "$(jq -nc --argjson w "$w" --argjson n $((c - prev_c)) --argjson ms $((t - prev_t)) \
      '{window: $w, sessions: $n, seconds: ($ms / 1000), rate: ($n / ($ms / 1000))}')"
    prev_c=$c
    prev_t=$t
  done
  wait "$wrk_pid" || die "the pipeline's wrk failed"
  check_statuses "pipeline" 201 <"$RES/pipeline-wrk.json"
  record pipeline "$(cat "$RES/pipeline-wrk.json")"
  settle webhooks
}

# ---- the pipeline's limit: pgbench inserting the same rows, batched ---------------------------
# Same-schema copies (LIKE ... INCLUDING ALL: the same columns, checks, defaults and indexes)
# of checkout_sessions and outbox in a schema of their own, so nothing of the product sees
# them; each transaction inserts BENCH_PGBENCH_BATCH sessions and their created events in
# two multi-row INSERTs, with the column values of a session the worker wrote in this run.
stage_pgbench() {
  phase pgbench
  pq <<'SQL'
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.checkout_sessions (LIKE public.checkout_sessions INCLUDING ALL);
CREATE TABLE bench.outbox (LIKE public.outbox INCLUDING ALL);
CREATE SEQUENCE bench.outbox_seq OWNED BY bench.outbox.seq;
ALTER TABLE bench.outbox ALTER COLUMN seq SET DEFAULT nextval('bench.outbox_seq');
-- LIKE copies no trigger: the relay's queue and its statement trigger, as in migration 0004.
CREATE TABLE bench.outbox_pending (LIKE public.outbox_pending INCLUDING ALL);
CREATE FUNCTION bench.outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench.outbox_pending (seq) SELECT seq FROM new_rows;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_enqueue AFTER INSERT ON bench.outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bench.outbox_enqueue();
-- UUIDv7 as the gateway makes them (time-ordered: B-tree friendly), as in webhook_dispatch.c.
CREATE FUNCTION bench.uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
         substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
         FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid $$;
SQL
  # The copies must do all the product's tables do on insert: a trigger added to either
  # table since this was written would be missing here, so say so.
  local triggers
  triggers=$(pq -c "SELECT string_agg(tgrelid::regclass || '.' || tgname, ', ') FROM pg_trigger
    WHERE NOT tgisinternal AND tgrelid IN ('public.checkout_sessions'::regclass, 'public.outbox'::regclass)
      AND NOT (tgrelid = 'public.outbox'::regclass AND tgname = 'outbox_enqueue')")
  [ -z "$triggers" ] || warn "pgbench's table copies lack the trigger(s) $triggers: the limit is optimistic"
  # One session and its created event, as the worker wrote them in this run, into the
  # literal tuples of the INSERTs (ids and idempotency keys fresh per row).
  local tuples
  tuples=$(pq -v org="$ORG" <<'SQL'
SELECT format('(bench.uuid7(), %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %s, %L)',
         s.organization_id, s.environment, s.amount, s.currency_code, s.status, s.title,
         s.description, s.customer_id, s.customer_email, s.customer_name, s.customer_phone,
         s.product_id, s.price_id, s.subscription_id, s.allow_quantity, s.quantity, s.success_url,
         s.cancel_url, s.allow_coupon_code, s.require_billing_address, s.payment_link_id, s.is_spi,
         s.is_pos, s.expires_at, s.metadata, s.created_at, s.created_by, s.updated_at,
         CASE WHEN s.idempotency_key IS NULL THEN 'NULL' ELSE '''pgb-'' || gen_random_uuid()' END,
         s.request_hash)
       || E'\t' ||
       format('(bench.uuid7(), bench.uuid7(), %L, %L, %L, %L)', o.organization_id, o.environment,
         o.type, o.payload)
       || E'\t' || o.id
FROM checkout_sessions s JOIN outbox o ON o.session_id = s.id AND o.type = 'checkout.session.created'
WHERE s.organization_id = :'org'
ORDER BY s.created_at DESC, s.id DESC LIMIT 1
SQL
)
  [ -n "$tuples" ] || die "no session of the pipeline to copy for pgbench"
  local session_tuple event_tuple template_event script="$RES/pgbench-insert.sql" i
  IFS=$'\t' read -r session_tuple event_tuple template_event <<<"$tuples"
  {
    echo "BEGIN;"
    echo "INSERT INTO bench.checkout_sessions (id, organization_id, environment, amount, currency_code, status, title, description, customer_id, customer_email, customer_name, customer_phone, product_id, price_id, subscription_id, allow_quantity, quantity, success_url, cancel_url, allow_coupon_code, require_billing_address, payment_link_id, is_spi, is_pos, expires_at, metadata, created_at, created_by, updated_at, idempotency_key, request_hash) VALUES"
    for ((i = 1; i < BENCH_PGBENCH_BATCH; i++)); do echo "$session_tuple,"; done
    echo "$session_tuple;"
    echo "INSERT INTO bench.outbox (id, session_id, organization_id, environment, type, payload) VALUES"
    for ((i = 1; i < BENCH_PGBENCH_BATCH; i++)); do echo "$event_tuple,"; done
    echo "$event_tuple;"
    echo "COMMIT;"
  } >"$script"
  local r out tps rows
  for r in $(seq 1 "$BENCH_RUNS"); do
    pq -c "TRUNCATE bench.checkout_sessions, bench.outbox, bench.outbox_pending"
    pq -c "CHECKPOINT" >/dev/null 2>&1 || true
    out="$RES/raw/pgbench-$r.txt"
    pgbench -n -c "$BENCH_PGBENCH_CLIENTS" -j "$BENCH_PGBENCH_CLIENTS" -T "$BENCH_PGBENCH_S" \
      -f "$script" "$CAISSE_DATABASE_URL" >"$out" 2>&1 || { cat "$out" >&2; die "pgbench failed"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -n 1)
    rows=$(pq -c "SELECT count(*) FROM bench.checkout_sessions")
    [ -n "$tps" ] || { cat "$out" >&2; die "no tps in pgbench's output"; }
    record pgbench "$(jq -nc --argjson tps "$tps" --argjson b "$BENCH_PGBENCH_BATCH" --argjson rows "$rows" \
      --argjson s "$BENCH_PGBENCH_S" --argjson c "$BENCH_PGBENCH_CLIENTS" \
      '{transactions_per_s: $tps, batch: $b, clients: $c, rows_per_s: ($tps * $b), rows: $rows, seconds: $s}')"
  done
  # The copies are the same as the worker's rows, byte for byte (pgbench substitutes no
  # :variable inside them: none is defined).
  local same
  same=$(pqv "SELECT count(*) FROM (SELECT payload FROM bench.outbox LIMIT 1) b, outbox o WHERE o.id = :'ev' AND b.payload = o.payload" -v ev="$template_event")
  [ "$same" = 1 ] || warn "pgbench's rows differ from the worker's (payload mismatch)"
  pq -c "DROP SCHEMA bench CASCADE" >/dev/null
}

# ---- webhooks: a backlog of N events x E endpoints delivered to the local sink ---------------
stage_webhooks() {
  phase webhooks
  local k resp secret
  : >"$RES/webhook-secrets.txt"
  for k in $(seq 1 "$BENCH_WEBHOOK_ENDPOINTS"); do
    resp=$(curl -fsS -X POST "$GATEWAY_URL/webhook-endpoints" -H "x-api-key: $WKEY" \
      -H "Content-Type: application/json" \
      -d "{\"url\": \"$SINK_URL/e/$k\", \"enabled_events\": [\"*\"], \"description\": \"make bench sink $k\"}") ||
      die "cannot register webhook endpoint $k"
    secret=$(jq -r .secret <<<"$resp")
    printf '/e/%s %s\n' "$k" "$secret" >>"$RES/webhook-secrets.txt"
  done
  setsid "$BIN/bench-webhook-sink" --port "$BENCH_SINK_PORT" --threads 2 --secrets "$RES/webhook-secrets.txt" \
    >>"$CAISSE_STACK_DIR/logs/webhook-sink.log" 2>&1 </dev/null &
  SINK_PID=$!
  bg_track $SINK_PID
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "$SINK_URL/_stats" 2>/dev/null && break
    sleep 0.1
  done
  local n=$BENCH_WEBHOOK_EVENTS e=$BENCH_WEBHOOK_ENDPOINTS r expected stats unique last_unique stall t_start
  expected=$((n * e))
  for r in $(seq 1 "$BENCH_RUNS"); do
    # The worker restarts on a backlog of exactly this round's events: it must have
    # consumed every earlier one before it stops.
    settle webhooks
    stack stop-service webhook-worker
    insert_due_sessions "$WORG" "$WKEY_ID" "$n"
    # The expiry worker expires them and the relay publishes their events.
    local deadline=$(($(date +%s) + 300))
    while :; do
      [ "$(pqv "SELECT count(*) FROM checkout_sessions WHERE organization_id = :'org' AND status = 'open' AND expires_at <= now()" -v org="$WORG")" = 0 ] &&
        [ "$(outbox_pending)" = 0 ] && break
      [ "$(date +%s)" -lt "$deadline" ] || die "the webhook round's events were not published within 300 s"
      sleep 0.5
    done
    curl -fsS -X POST -o /dev/null "$SINK_URL/_reset"
    t_start=$(now_ms)
    stack start-service webhook-worker
    last_unique=-1
    stall=0
    while :; do
      sleep 0.5
      stats=$(curl -fsS "$SINK_URL/_stats")
      unique=$(jq -r .unique <<<"$stats")
      [ "$unique" -ge "$expected" ] && break
      if [ "$unique" = "$last_unique" ]; then stall=$((stall + 1)); else stall=0; fi
      last_unique=$unique
      if [ "$stall" -ge 60 ]; then
        warn "webhooks round $r: no delivery for 30 s at $unique of $expected"
        break
      fi
    done
    sleep 1 # a duplicate arriving late still counts
    stats=$(curl -fsS "$SINK_URL/_stats")
    record webhooks "$(jq -c --argjson n "$n" --argjson e "$e" --argjson t0 "$t_start" '. + {
        events: $n, endpoints: $e, expected: ($n * $e),
        seconds: ((.last_ms - .first_ms) / 1000),
        start_to_first_s: ((.first_ms - $t0) / 1000),
        deliveries_per_s: (if .last_ms > .first_ms then .unique / ((.last_ms - .first_ms) / 1000) else null end)}' <<<"$stats")"
    jq -e --argjson x "$expected" '.unique == $x and .duplicates == 0 and .bad_signatures == 0 and .unknown_endpoint == 0' \
      <<<"$stats" >/dev/null || {
      warn "webhooks round $r: $(jq -c . <<<"$stats") (expected $expected unique deliveries, each once, signed)"
      echo "webhooks round $r: $(jq -c . <<<"$stats"), expected $expected" >>"$RES/anomalies.txt"
    }
  done
  # The deliveries table agrees: every delivery of the rounds succeeded.
  record webhooks_db "$(pqv "SELECT json_build_object('deliveries', count(*), 'succeeded', count(*) FILTER (WHERE status = 'succeeded')) FROM webhook_deliveries WHERE organization_id = :'org'" -v org="$WORG")"
}

# ---- expiry burst: N due sessions, one UPDATE vs the expiry worker (+ relay) -------------------
stage_expiry() {
  local r
  for r in $(seq 1 "$BENCH_EXPIRY_RUNS"); do expiry_run "$r"; done
}

expiry_run() { # RUN
  local n=$BENCH_EXPIRY_N t0 t1
  phase expiry-insert
  stack stop-service expiry-worker
  t0=$(now_ms)
  insert_due_sessions "$EORG" "$EKEY_ID" "$n"
  t1=$(now_ms)
  # Hint bits, visibility map and statistics settled for both contenders alike.
  pq -c "VACUUM ANALYZE checkout_sessions"
  phase expiry-update
  # The limit: the worker's own predicate and SET in one statement, timed by the server's
  # session (\timing), in a transaction rolled back so the worker finds the same rows.
  local out update_ms updated
  out=$(psql -X -v ON_ERROR_STOP=1 "$CAISSE_DATABASE_URL" 2>&1 <<'SQL'
BEGIN;
\timing on
UPDATE checkout_sessions SET status = 'expired', updated_at = date_trunc('second', now())
 WHERE status = 'open' AND expires_at <= now();
\timing off
ROLLBACK;
SQL
) || { echo "$out" >&2; die "the single UPDATE failed"; }
  update_ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | head -n 1)
  updated=$(sed -n 's/^UPDATE \([0-9]*\)$/\1/p' <<<"$out" | head -n 1)
  [ -n "$update_ms" ] || { echo "$out" >&2; die "no timing for the single UPDATE"; }
  [ "$updated" = "$n" ] || warn "the single UPDATE changed $updated rows, not $n"
  # The rolled-back versions out of the way, so the worker starts on the same table.
  pq -c "VACUUM checkout_sessions"
  phase expiry-worker
  local start done_json
  start=$(pq -c "SELECT extract(epoch FROM clock_timestamp())")
  stack start-service expiry-worker
  local deadline=$(($(date +%s) + ${BENCH_EXPIRY_TIMEOUT_S:-1800})) poll done_at=""
  # Done when the relay's queue (outbox_pending) is empty and no session of the burst is
  # still due, as seen by the database's clock; polled every BENCH_EXPIRY_POLL_S (the
  # figure's resolution). The due-sessions check walks an index the worker is emptying,
  # so it only runs once the queue is empty.
  while :; do
    sleep "$BENCH_EXPIRY_POLL_S"
    poll=$(pq -v org="$EORG" <<'SQL'
SELECT CASE WHEN p THEN 'busy' WHEN EXISTS (SELECT 1 FROM checkout_sessions WHERE status = 'open'
         AND expires_at <= now() AND organization_id = :'org') THEN 'busy'
       ELSE extract(epoch FROM clock_timestamp())::text END
FROM (SELECT EXISTS (SELECT 1 FROM outbox_pending) AS p) q
SQL
)
    if [ "$poll" != busy ]; then
      done_at=$poll
      break
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "the expiry burst did not finish within ${BENCH_EXPIRY_TIMEOUT_S:-1800} s"
  done
  # Every event of the burst: written (outbox), and published (off the relay's queue).
  done_json=$(pq -v org="$EORG" -v start="$start" -v done_at="$done_at" <<'SQL'
SELECT json_build_object(
  'events', count(*),
  'published', count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM outbox_pending p WHERE p.seq = o.seq)),
  'expired_s', extract(epoch FROM max(created_at)) - :start,
  'published_s', :done_at - :start)
FROM outbox o WHERE organization_id = :'org' AND type = 'checkout.session.expired'
  AND created_at >= to_timestamp(:start)
SQL
)
  # The organization's sessions are all this stage's: n per run so far, all expired.
  local expired
  expired=$(pqv "SELECT count(*) FROM checkout_sessions WHERE organization_id = :'org' AND status = 'expired'" -v org="$EORG")
  expired=$((expired - n * ($1 - 1)))
  record expiry "$(jq -c --argjson run "$1" --argjson n "$n" --argjson ins $((t1 - t0)) --argjson u "$update_ms" --argjson x "$expired" '. + {
      run: $run, sessions: $n, insert_s: ($ins / 1000), update_s: ($u / 1000), sessions_expired: $x,
      poll_s: '"$BENCH_EXPIRY_POLL_S"', worker_s: .published_s, ratio: (.published_s / ($u / 1000))}' <<<"$done_json")"
  if ! jq -e --argjson n "$n" '.events == $n and .published == $n' <<<"$done_json" >/dev/null ||
    [ "$expired" != "$n" ]; then
    warn "expiry burst: $done_json, $expired expired (expected $n, each with one published event)"
    echo "expiry burst: $done_json, $expired expired, expected $n" >>"$RES/anomalies.txt"
  fi
}

# ---- soak: steady mixed load, RSS every BENCH_SOAK_SAMPLE_S ------------------------------------
stage_soak() {
  phase soak-settle
  local t0 settle_started
  settle_started=$(date +%s)
  settle webhooks
  record soak_settle "$(jq -nc --argjson s $(($(date +%s) - settle_started)) '{seconds: $s}')"
  phase soak
  local create_rate get_rate post_pid get_pid
  create_rate=$(jq -rn --argjson m "$MAX_CREATES" --argjson p "$BENCH_SOAK_CREATE_PCT" '[($m * $p / 100), 1] | max')
  get_rate=$(jq -rn --argjson m "$MAX_GETS" --argjson p "$BENCH_SOAK_GET_PCT" '[($m * $p / 100), 1] | max')
  log "soak: ${BENCH_SOAK_S}s of $create_rate creates/s (expiring after ${BENCH_SOAK_TTL_S}s, with webhooks) and $get_rate GETs/s"
  curl -fsS -X POST -o /dev/null "$SINK_URL/_reset"
  BENCH_API_KEY=$WKEY "$BIN/bench-loadgen" --url "$GATEWAY_URL" --mode post --rate "$create_rate" \
    --duration "$BENCH_SOAK_S" --expires-in "$BENCH_SOAK_TTL_S" --connections 16 \
    >"$RES/raw/soak-post.json" 2>"$RES/raw/soak-post.err" &
  post_pid=$!
  bg_track $post_pid
  "$BIN/bench-loadgen" --url "$GATEWAY_URL" --mode get --ids "$RES/pool.txt" --rate "$get_rate" \
    --duration "$BENCH_SOAK_S" --connections 16 >"$RES/raw/soak-get.json" 2>"$RES/raw/soak-get.err" &
  get_pid=$!
  bg_track $get_pid
  t0=$(date +%s)
  local k=0 s pid m
  : >"$RES/soak.tsv"
  while :; do
    for s in "${SERVICES[@]}"; do
      pid=$(service_pid "$s") || continue
      m=$(proc_mem "$pid")
      [ -n "$m" ] && printf '%s\t%s\t%s\t%s\n' $((k * BENCH_SOAK_SAMPLE_S)) "$s" "$pid" "${m// /$'\t'}" >>"$RES/soak.tsv"
    done
    [ $((k * BENCH_SOAK_SAMPLE_S)) -ge "$BENCH_SOAK_S" ] && break
    k=$((k + 1))
    while [ "$(date +%s)" -lt $((t0 + k * BENCH_SOAK_SAMPLE_S)) ]; do sleep 0.2; done
  done
  wait "$post_pid" || die "the soak's create load failed: $(cat "$RES/raw/soak-post.err")"
  wait "$get_pid" || die "the soak's read load failed: $(cat "$RES/raw/soak-get.err")"
  check_statuses "soak creates" 201 <"$RES/raw/soak-post.json"
  check_statuses "soak GETs" 200 <"$RES/raw/soak-get.json"
  # Every soak session is created, then expired: two events, each to every endpoint.
  local created expected unique deadline
  created=$(jq -r '(.status["201"] // 0) + (.status["202"] // 0)' "$RES/raw/soak-post.json")
  expected=$((created * 2 * BENCH_WEBHOOK_ENDPOINTS))
  deadline=$(($(date +%s) + BENCH_SOAK_TTL_S + BENCH_SETTLE_S))
  while :; do
    unique=$(curl -fsS "$SINK_URL/_stats" | jq -r .unique)
    [ "$unique" -ge "$expected" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      warn "soak: $unique of $expected webhook deliveries arrived"
      echo "soak: $unique of $expected webhook deliveries arrived" >>"$RES/anomalies.txt"
      break
    fi
    sleep 1
  done
  record soak "$(jq -nc --slurpfile p "$RES/raw/soak-post.json" --slurpfile g "$RES/raw/soak-get.json" \
    --argjson sink "$(curl -fsS "$SINK_URL/_stats")" --argjson cr "$create_rate" --argjson gr "$get_rate" \
    --argjson x "$expected" \
    '{create_rate: $cr, get_rate: $gr, creates: $p[0], gets: $g[0], webhooks: ($sink + {expected: $x})}')"
}

# ---- memory: the sampler's and the soak's samples, per service ------------------------------------
memory_json() {
  touch "$RES/mem.tsv" "$RES/soak.tsv"
  # peaks: max VmRSS sampled and max VmHWM (the kernel's own peak, between samples too),
  # over every benchmark, per service and per stage.
  awk -F'\t' '{ print "{\"t\":" $1 ",\"phase\":\"" $2 "\",\"service\":\"" $3 "\",\"pid\":" $4 ",\"rss_kb\":" $5 ",\"hwm_kb\":" $6 "}" }' \
    "$RES/mem.tsv" >"$RES/mem.jsonl"
  awk -F'\t' '{ print "{\"t\":" $1 ",\"service\":\"" $2 "\",\"pid\":" $3 ",\"rss_kb\":" $4 ",\"hwm_kb\":" $5 "}" }' \
    "$RES/soak.tsv" >"$RES/soak-mem.jsonl"
}

# ---- main ------------------------------------------------------------------------------------------
stage_timer build-and-stack
prepare
tenants
start_sampler
stage_timer pool
stage_pool
stage_timer http
stage_http
stage_timer half-rate
stage_paced
stage_timer pipeline
stage_pipeline
stage_timer pgbench
stage_pgbench
stage_timer webhooks
stage_webhooks
stage_timer expiry
stage_expiry
stage_timer soak
stage_soak
stage_timer "done"
rm -f "$RES/sampling"
sleep "$BENCH_MEM_SAMPLE_S"
memory_json
touch "$RES/anomalies.txt"

export GATEWAY_THREADS RUN_STARTED
mkdir -p "$(dirname "$BENCH_RESULTS")"
bash "$REPO/bench/report.sh" "$RES" "$BENCH_RESULTS"
