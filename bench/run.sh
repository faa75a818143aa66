#!/usr/bin/env bash
# make bench: measures caisse against this machine's own limits, in one run.
#
# Builds optimized binaries into build/bench, starts a stack of its own (build/bench-stack,
# ports 64xxx: apart from 'make up' and the tests), runs every benchmark, prints the table,
# writes bench/results/latest.json and the table into README.md (between the bench markers).
# Sizes and durations come from BENCH_* variables (bench/lib.sh lists them with their
# defaults; BENCH_QUICK=1 is a three-minute smoke run). Every figure and every limit it is
# compared with is measured here, in this run; nothing is hard-coded.
#
# Order: the latency and ratio benchmarks (HTTP, half rate, read-after-write, pipeline,
# pgbench) run first on a quiet box; then the soak's steady load starts in the background,
# the expiry stage runs alongside it (the report says so), and the soak is
# checked once its time is up.
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
  if [ "$BENCH_KEEP_STACK" != 1 ]; then stack down >/dev/null 2>&1; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Records how long the previous stage took (start_s and end_s: seconds since the start of
# the run) and starts the next one; ALONGSIDE names what runs in the background meanwhile.
stage_timer() { # NAME [ALONGSIDE]
  local t
  t=$(date +%s)
  if [ -n "${STAGE_NAME:-}" ]; then
    record stages "$(jq -nc --arg s "$STAGE_NAME" --argjson t0 $((STAGE_T0 - RUN_STARTED)) \
      --argjson t1 $((t - RUN_STARTED)) --arg a "$STAGE_ALONGSIDE" \
      '{stage: $s, seconds: ($t1 - $t0), start_s: $t0, end_s: $t1} + (if $a == "" then {} else {alongside: $a} end)')"
  fi
  STAGE_NAME=$1
  STAGE_ALONGSIDE=${2:-}
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
  # The soak's creates, expiries and webhooks are its own: the webhooks benchmark's exact
  # counts and the expiry burst's organization never see them.
  SORG=$(new_org "Bench soak")
  SKEY=$(new_key "$SORG")
  if [ -z "$KEY" ] || [ -z "$WKEY" ] || [ -z "$EKEY_ID" ] || [ -z "$SKEY" ]; then die "cannot create the bench tenants"; fi
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
  # No VACUUM ANALYZE: the benchmarks run on a new database, as a new deployment does (issue
  # 17). The gateway's hot statements have plans no statistics change (session.c
  # SESSION_BY_ID and the Idempotency-Key lookup); the workers plan theirs at every call with
  # the tables' current sizes (common/infra/db.h, db_planning).
}

# ---- the GET's second limit: its row fetch alone, in pgbench -----------------------------------
# The gateway's read of one session (common/model/session.c, session_store_get: by id, organization
# and environment, a prepared statement) with the gateway's thread count as clients, over the
# GET pool's ids: pool.txt numbered densely in a small table, one drawn per transaction. It
# runs in the HTTP rounds right after the GET: measured a minute later on a shared box, the
# row fetch alone came out below the GET that does it and more.
row_fetch_prepare() {
  pq <<'SQL'
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.get_pool (n int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id uuid NOT NULL);
SQL
  pq -c "\copy bench.get_pool (id) FROM '$RES/pool.txt'"
  pq -c "ANALYZE bench.get_pool"
  local n found
  n=$(wc -l <"$RES/pool.txt")
  # Every draw 1..n finds its id, and the statement finds exactly one session for each.
  found=$(pqv "SELECT count(*) FROM generate_series(1, :n) AS k
    WHERE (SELECT count(*) FROM checkout_sessions WHERE id = (SELECT id FROM bench.get_pool WHERE n = k)
           AND organization_id = :'org' AND environment = 'test') = 1" -v n="$n" -v org="$ORG")
  if [ "$found" != "$n" ]; then
    warn "the row fetch finds one session for $found of the $n ids of the GET pool"
    echo "pgbench row fetch: one session for $found of $n pool ids" >>"$RES/anomalies.txt"
  fi
  {
    echo "\set n random(1, $n)"
    # The gateway's shape (session.c, SESSION_BY_ID): the row by its primary key, then the
    # tenant checked on it, so both read the same index whatever the statistics.
    echo "SELECT * FROM (SELECT * FROM checkout_sessions WHERE id = (SELECT id FROM bench.get_pool WHERE n = :n) OFFSET 0) s WHERE organization_id = '$ORG' AND environment = 'test';"
  } >"$RES/pgbench-get.sql"
  ROW_FETCH_POOL=$n
}

row_fetch_run() { # RUN
  local r=$1 threads out tps failed
  threads=$((GATEWAY_THREADS < $(nproc) ? GATEWAY_THREADS : $(nproc)))
  out="$RES/raw/pgbench-get-$r.txt"
  pgbench -n -M prepared -c "$GATEWAY_THREADS" -j "$threads" -T "$BENCH_PGBENCH_S" \
    -f "$RES/pgbench-get.sql" "$CAISSE_DATABASE_URL" >"$out" 2>&1 || { cat "$out" >&2; die "pgbench (row fetch) failed"; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -n 1)
  [ -n "$tps" ] || { cat "$out" >&2; die "no tps in pgbench's output (row fetch)"; }
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out" | tail -n 1)
  if [ -n "$failed" ] && [ "$failed" != 0 ]; then
    warn "pgbench row fetch run $r: $failed failed transactions"
    echo "pgbench row fetch run $r: $failed failed transactions" >>"$RES/anomalies.txt"
  fi
  record pgbench_get "$(jq -nc --argjson tps "$tps" --argjson c "$GATEWAY_THREADS" --argjson j "$threads" \
    --argjson s "$BENCH_PGBENCH_S" --argjson n "$ROW_FETCH_POOL" --argjson f "${failed:-null}" \
    '{fetches_per_s: $tps, clients: $c, threads: $j, seconds: $s, pool: $n, failed: $f}')"
}

# ---- HTTP ceiling, GET (and its row fetch alone), POST: interleaved rounds, so drift on a
# shared box hits all of them ---------------------------------------------------------------------
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

# One recorded wrk round: PHASE names it in the sampler, RAW its raw output, SERIES the results
# file it is added to; every answer must be STATUS.
wrk_round() { # PHASE RAW URL SCRIPT SECONDS STATUS SERIES
  local j
  phase "$1"
  j=$(wrk_run "$2" "$3" "$4" "$5")
  check_statuses "$2" "$6" <<<"$j"
  [ -z "$7" ] || record "$7" "$j"
}

stage_http() {
  start_ceiling
  [ "$BENCH_ONLY" = page ] || row_fetch_prepare
  local r
  # Creates warm the stack first (the broker's JIT, every cache), unrecorded: on a cold
  # stack, POST rounds of 5 s rose 298, 530, 614, 640, 733, 776/s with no ANALYZE at all, and
  # as much with one after the third, so a new database's rounds, which come first, were
  # measured colder than the analyzed ones, which come last (issue 17's 69 % "fall").
  if [ "$BENCH_ONLY" != page ]; then
    wrk_round post-warmup post-warmup "$GATEWAY_URL" post.lua "$BENCH_WARMUP_S" 201 ""
    settle webhooks
  fi
  for r in $(seq 1 "$BENCH_RUNS"); do
    wrk_round http-ceiling "ceiling-$r" "$CEILING_URL" get.lua "$BENCH_HTTP_S" 200 http_ceiling
    wrk_round get "get-$r" "$GATEWAY_URL" get.lua "$BENCH_HTTP_S" 200 get
    BENCH_PAGE_PATHS_FILE="$RES/page-paths.txt" \
      wrk_round page "page-$r" "$GATEWAY_URL" page.lua "$BENCH_HTTP_S" 200 page
    [ "$BENCH_ONLY" = page ] && continue
    phase get-row-fetch
    row_fetch_run "$r"
    wrk_round post "post-$r" "$GATEWAY_URL" post.lua "$BENCH_HTTP_S" 201 post
    settle webhooks
  done
  bg_stop "$CEILING_PID"
  [ "$BENCH_ONLY" = page ] && return 0
  stage_analyzed
  MAX_CREATES=$(jq -rs "$JQ_LIB"' map((.status["201"] // 0) / .duration_s) | median' "$RES/post.jsonl")
  MAX_GETS=$(jq -rs "$JQ_LIB"' map((.status["200"] // 0) / .duration_s) | median' "$RES/get.jsonl")
  log "max rates: $MAX_CREATES creates/s, $MAX_GETS GETs/s"
}

# ---- creates on a new database vs the same after VACUUM ANALYZE ----------------------------------
# The rounds above ran on the new database as autovacuum left it (its first ANALYZE comes a
# minute or more into the run); these, the same POST, once PostgreSQL has every statistic.
# A statement whose plan needs statistics shows as a fall between the two (issue 17: 1,200
# creates/s fell to 260/s, and the benchmark used to ANALYZE first to hide it).
stage_analyzed() {
  phase analyze
  PGOPTIONS="-c client_min_messages=error" pq -c "VACUUM ANALYZE"
  local r
  for r in $(seq 1 "$BENCH_RUNS"); do
    wrk_round post-analyzed "post-analyzed-$r" "$GATEWAY_URL" post.lua "$BENCH_HTTP_S" 201 post_analyzed
    settle webhooks
  done
}

# ---- the hosted checkout page ------------------------------------------------------------------
# The page GET's pool: BENCH_PAGE_POOL open sessions of the GET pool, by the path of their
# page (the session id and its page secret, as `url` has them).
page_pool() {
  pq -v org="$ORG" -v n="$BENCH_PAGE_POOL" >"$RES/page-paths.txt" <<'SQL'
SELECT '/checkout/' || id || '/' || page_secret FROM checkout_sessions
 WHERE organization_id = :'org' AND status = 'open' AND page_secret IS NOT NULL
 ORDER BY created_at DESC LIMIT :n
SQL
  local n
  n=$(wc -l <"$RES/page-paths.txt")
  [ "$n" -gt 0 ] || die "no session of the GET pool has a page (page_secret)"
  # Every path answers the open page before it is measured.
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$GATEWAY_URL$(head -n 1 "$RES/page-paths.txt")")
  [ "$code" = 200 ] || die "the hosted page of a pool session answers $code, not 200"
  log "page pool: $n sessions"
}

# A session for the page weights, with every field the page can show (quantity, coupon,
# billing address, the customer's details): prints its url.
page_session() { # [EXTRA_JSON_FIELDS]
  local extra=${1:-} resp
  resp=$(curl -fsS -X POST "$GATEWAY_URL/checkout-sessions" -H "x-api-key: $KEY" \
    -H "Content-Type: application/json" \
    -d "{\"amount\": 5000, \"currency_code\": \"XOF\", \"title\": \"Panier de mangues\",
         \"description\": \"Mangues Kent du Sénégal, 5 kg\", \"customer_email\": \"awa@example.com\",
         \"customer_name\": \"Awa Diop\", \"customer_phone\": \"+221770000000\",
         \"allow_quantity\": true, \"allow_coupon_code\": true, \"require_billing_address\": true,
         \"success_url\": \"https://shop.example/success?id={CHECKOUT_SESSION_ID}\",
         \"cancel_url\": \"https://shop.example/cart\"$extra}") || die "cannot create a session for the page weights"
  jq -r .url <<<"$resp" | sed "s|^[a-z]*://[^/]*|$GATEWAY_URL|"
}

# Pays on the page as a browser without JavaScript would: GET (the CSRF cookie and the
# form's tokens), then POST action=pay with a test provider's number. Prints the status.
page_pay() { # URL ACCOUNT
  local url=$1 account=$2 jar html csrf attempt
  jar=$(mktemp -p "$RES")
  html=$(curl -fsS -c "$jar" -H 'Accept-Language: fr' "$url") || die "GET $url failed"
  csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$html" | head -n 1)
  attempt=$(sed -n 's/.*name="attempt" value="\([^"]*\)".*/\1/p' <<<"$html" | head -n 1)
  [ -n "$csrf" ] && [ -n "$attempt" ] || die "no csrf/attempt in the form of $url"
  curl -s -o /dev/null -w '%{http_code}' -b "$jar" -X POST "$url" \
    --data-urlencode "csrf=$csrf" --data-urlencode "attempt=$attempt" --data-urlencode "lang=fr" \
    --data-urlencode "quantity=2" --data-urlencode "email=awa@example.com" \
    --data-urlencode "name=Awa Diop" --data-urlencode "phone=+221770000000" \
    --data-urlencode "line1=12 avenue Cheikh Anta Diop" --data-urlencode "city=Dakar" \
    --data-urlencode "postal_code=10700" --data-urlencode "country=SN" \
    --data-urlencode "method=mobile_money" --data-urlencode "account=$account" \
    --data-urlencode "action=pay"
  rm -f "$jar"
}

# What a first visit of the page in STATE transfers (headers and bodies, compressed if the
# gateway compresses): the HTML and every stylesheet and script it links, each once.
page_weigh() { # LABEL STATE URL
  local label=$1 state=$2 url=$3 f="$RES/raw/page-$1.html" html_b css_b=0 js_b=0 b asset got
  html_b=$(curl -fsS --compressed -H 'Accept-Language: fr' -o "$f" -w '%{size_download} %{size_header}' "$url" |
    awk '{ print $1 + $2 }') || die "GET of the $label page failed"
  got=$(sed -n 's/.*<main[^>]*data-state="\([a-z]*\)".*/\1/p' "$f" | head -n 1)
  if [ "$got" != "$state" ]; then
    warn "page weight: the $label page shows the state \"$got\", not $state"
    echo "page weight: the $label page shows the state \"$got\", not $state" >>"$RES/anomalies.txt"
  fi
  for asset in $(grep -o -E '(href|src)="/checkout/assets/[^"]*"' "$f" | sed -E 's/^(href|src)="//; s/"$//' | sort -u); do
    b=$(curl -fsS --compressed -o /dev/null -w '%{size_download} %{size_header}' "$GATEWAY_URL$asset" |
      awk '{ print $1 + $2 }') || die "GET $asset failed"
    case $asset in *.css) css_b=$((css_b + b)) ;; *.js) js_b=$((js_b + b)) ;; esac
  done
  record page_weights "$(jq -nc --arg s "$label" --argjson h "$html_b" --argjson c "$css_b" --argjson j "$js_b" \
    '{state: $s, html_bytes: $h, css_bytes: $c, js_bytes: $j, total_bytes: ($h + $c + $j)}')"
}

stage_page_weights() {
  phase page-weights
  local url code deadline expires
  url=$(page_session)
  page_weigh open open "$url"
  url=$(page_session)
  code=$(page_pay "$url" +221700000002)
  [ "$code" = 303 ] || warn "page weight: a declined payment answered $code, not 303"
  page_weigh declined open "$url"
  url=$(page_session)
  code=$(page_pay "$url" +221700000003)
  [ "$code" = 303 ] || warn "page weight: a pending payment answered $code, not 303"
  page_weigh processing processing "$url"
  url=$(page_session)
  code=$(page_pay "$url" +221700000001)
  [ "$code" = 303 ] || warn "page weight: a paid payment answered $code, not 303"
  page_weigh complete complete "$url"
  expires=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
  url=$(page_session ", \"expires_at\": \"$expires\"")
  deadline=$(($(date +%s) + 30))
  until [ "$(curl -fsS "$GATEWAY_URL/checkout-sessions/$(basename "$(dirname "$url")")" -H "x-api-key: $KEY" | jq -r .status)" = expired ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "the page weights' session did not expire"
    sleep 0.5
  done
  page_weigh expired expired "$url"
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
# Runs alongside the soak's load, whose events go to its own endpoints on its own sink: this
# sink counts the benchmark's deliveries only.
stage_webhooks() {
  phase webhooks
  : >"$RES/webhook-secrets.txt"
  register_endpoints "$WKEY" "$SINK_URL" e/ "$BENCH_WEBHOOK_ENDPOINTS" "$RES/webhook-secrets.txt"
  start_sink "$BENCH_SINK_PORT" "$RES/webhook-secrets.txt" "$CAISSE_STACK_DIR/logs/webhook-sink.log"
  local n=$BENCH_WEBHOOK_EVENTS e=$BENCH_WEBHOOK_ENDPOINTS r expected stats unique last_unique stall t_start
  local soak_before soak_after round_started
  expected=$((n * e))
  for r in $(seq 1 "$BENCH_RUNS"); do
    round_started=$(date +%s)
    # The worker restarts on a backlog of this round's events (and what the soak wrote
    # meanwhile): it must have consumed every earlier one before it stops.
    settle webhooks
    stack stop-service webhook-worker
    insert_due_sessions "$WORG" "$WKEY_ID" "$n"
    # The expiry worker expires them and the relay publishes their events.
    local deadline=$(($(date +%s) + 300))
    while :; do
      [ "$(pqv "SELECT count(*) FROM checkout_sessions WHERE organization_id = :'org' AND status = 'open' AND expires_at <= now()" -v org="$WORG")" = 0 ] &&
        [ "$(org_events_pending "$WORG")" = 0 ] && break
      [ "$(date +%s)" -lt "$deadline" ] || die "the webhook round's events were not published within 300 s"
      sleep 0.5
    done
    curl -fsS -X POST -o /dev/null "$SINK_URL/_reset"
    soak_before=$(soak_sink_unique)
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
    soak_after=$(soak_sink_unique)
    # The soak's deliveries the worker made meanwhile (its backlog of the stop, and its
    # steady flow), from the start to the end of the round: they share the worker with it.
    record webhooks "$(jq -c --argjson n "$n" --argjson e "$e" --argjson t0 "$t_start" \
      --argjson soak "$(soak_overlap "$round_started")" --argjson sb "$soak_before" --argjson sa "$soak_after" '. + {
        events: $n, endpoints: $e, expected: ($n * $e), alongside_soak: $soak,
        soak_deliveries_meanwhile: (if $sb == null or $sa == null then null else $sa - $sb end),
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
# Runs alongside the soak's load, the single UPDATE as much as the worker: both also meet the
# soak's sessions that fall due meanwhile (the worker's predicate takes them with the burst).
stage_expiry() {
  local r
  for r in $(seq 1 "$BENCH_EXPIRY_RUNS"); do expiry_run "$r"; done
}

expiry_run() { # RUN
  local n=$BENCH_EXPIRY_N t0 t1 run_started
  run_started=$(date +%s)
  phase expiry-insert
  stack stop-service expiry-worker
  t0=$(now_ms)
  insert_due_sessions "$EORG" "$EKEY_ID" "$n"
  t1=$(now_ms)
  # Hint bits, visibility map and statistics settled for both contenders alike.
  pq -c "VACUUM ANALYZE checkout_sessions"
  phase expiry-update
  # The limit: the worker's own predicate and SET in one statement, timed by the server's
  # session (\timing), in a transaction rolled back so the worker finds the same rows (with
  # the soak's sessions due by then: the worker has those to expire too).
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
  if [ -z "$updated" ] || [ "$updated" -lt "$n" ]; then
    warn "the single UPDATE changed ${updated:-no} rows, not $n"
    echo "expiry burst: the single UPDATE changed ${updated:-no} rows, fewer than the $n due" >>"$RES/anomalies.txt"
  fi
  # The rolled-back versions out of the way, so the worker starts on the same table.
  pq -c "VACUUM checkout_sessions"
  phase expiry-worker
  local start done_json
  start=$(pq -c "SELECT extract(epoch FROM clock_timestamp())")
  stack start-service expiry-worker
  # Done when no event of the burst's organization waits in the relay's queue
  # (outbox_pending; the soak's keep coming and do not count) and no session of the burst
  # is still due, as seen by the database's clock; polled every BENCH_EXPIRY_POLL_S (the
  # figure's resolution). The queue is read row by row (the organization of each event
  # looked up by its seq), so the poll stops at the burst's first event; the due-sessions
  # check walks an index the worker is emptying, so it only runs once none is queued.
  # One psql for the whole poll, fed a query at a time: a psql started every poll cost
  # some 6 % of the box (profiled), taken from the worker being measured. (A poll looping
  # inside one server function would hold one snapshot throughout, keeping the burst's
  # dead tuples from being pruned, and slow the worker down far more.)
  local poll done_at="" deadline=$(($(date +%s) + BENCH_EXPIRY_TIMEOUT_S))
  coproc POLLER { psql -X -q -At -v ON_ERROR_STOP=1 "$CAISSE_DATABASE_URL" 2>&1; }
  # shellcheck disable=SC2153 # POLLER_PID and POLLER are set by coproc
  local poller_pid=$POLLER_PID poller_in=${POLLER[1]} poller_out=${POLLER[0]}
  while :; do
    sleep "$BENCH_EXPIRY_POLL_S"
    printf '%s\n' "SELECT CASE WHEN EXISTS (SELECT 1 FROM outbox_pending e
        WHERE (SELECT o.organization_id FROM outbox o WHERE o.seq = e.seq) = '$EORG') THEN 'busy'
      WHEN EXISTS (SELECT 1 FROM checkout_sessions WHERE status = 'open'
        AND expires_at <= now() AND organization_id = '$EORG') THEN 'busy'
      ELSE extract(epoch FROM clock_timestamp())::text END;" >&"$poller_in"
    IFS= read -r poll <&"$poller_out" || die "the expiry burst's poller (psql) ended"
    if [ "$poll" != busy ]; then
      done_at=$poll
      break
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "the expiry burst did not finish within $BENCH_EXPIRY_TIMEOUT_S s"
  done
  exec {poller_in}>&-
  wait "$poller_pid" 2>/dev/null || true
  # Every event of the burst: written (outbox), and published (off the relay's queue). The
  # queue is read whole first (its live rows are few by now), never probed once per event:
  # its index still holds the burst's million dead entries, and a probe per outbox row ran
  # for more than ten minutes on a fresh stack (issue 17).
  done_json=$(pq -v org="$EORG" -v start="$start" -v done_at="$done_at" <<'SQL'
SELECT json_build_object(
  'events', count(*),
  'published', count(*) - (WITH queued AS MATERIALIZED (SELECT seq FROM outbox_pending)
      SELECT count(*) FROM queued JOIN outbox q ON q.seq = queued.seq
      WHERE q.organization_id = :'org' AND q.type = 'checkout.session.expired'
        AND q.created_at >= to_timestamp(:start)),
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
  record expiry "$(jq -c --argjson run "$1" --argjson n "$n" --argjson ins $((t1 - t0)) --argjson u "$update_ms" --argjson x "$expired" \
    --argjson rows "${updated:-null}" --argjson soak "$(soak_overlap "$run_started")" '. + {
      run: $run, sessions: $n, insert_s: ($ins / 1000), update_s: ($u / 1000), update_rows: $rows,
      other_due_rows: (if $rows == null then null else $rows - $n end), alongside_soak: $soak, sessions_expired: $x,
      poll_s: '"$BENCH_EXPIRY_POLL_S"', worker_s: .published_s, ratio: (.published_s / ($u / 1000))}' <<<"$done_json")"
  if ! jq -e --argjson n "$n" '.events == $n and .published == $n' <<<"$done_json" >/dev/null ||
    [ "$expired" != "$n" ]; then
    warn "expiry burst: $done_json, $expired expired (expected $n, each with one published event)"
    echo "expiry burst: $done_json, $expired expired, expected $n" >>"$RES/anomalies.txt"
  fi
}

# ---- soak: steady mixed load for BENCH_SOAK_S, RSS every BENCH_SOAK_SAMPLE_S -----------------
# Started right after the quiet benchmarks; the expiry stage runs while it
# does, then soak_finish waits for the rest of its time and checks it. Its creates are the
# "Bench soak" organization's, with endpoints of their own on a sink of their own.
SOAK_T0=""
# How much of a measurement from START (epoch seconds) to now ran alongside the soak's
# load, as a JSON string: "whole", "partly" (the load ended meanwhile) or "none".
soak_overlap() { # START
  local now
  now=$(date +%s)
  if [ -z "$SOAK_T0" ] || [ "$1" -ge $((SOAK_T0 + BENCH_SOAK_S)) ]; then echo '"none"'
  elif [ "$1" -ge "$SOAK_T0" ] && [ "$now" -lt $((SOAK_T0 + BENCH_SOAK_S)) ]; then echo '"whole"'
  else echo '"partly"'; fi
}

soak_sink_unique() { # the soak sink's unique deliveries so far; null without the soak
  if [ -n "$SOAK_T0" ]; then curl -fsS "$SOAK_SINK_URL/_stats" | jq -r .unique; else echo null; fi
}

soak_start() {
  phase soak-settle
  local settle_started
  settle_started=$(date +%s)
  settle webhooks
  record soak_settle "$(jq -nc --argjson s $(($(date +%s) - settle_started)) '{seconds: $s}')"
  : >"$RES/soak-secrets.txt"
  register_endpoints "$SKEY" "$SOAK_SINK_URL" s/ "$BENCH_SOAK_ENDPOINTS" "$RES/soak-secrets.txt"
  start_sink "$BENCH_SOAK_SINK_PORT" "$RES/soak-secrets.txt" "$CAISSE_STACK_DIR/logs/soak-sink.log"
  SOAK_CREATE_RATE=$(jq -rn --argjson m "$MAX_CREATES" --argjson p "$BENCH_SOAK_CREATE_PCT" '[($m * $p / 100), 1] | max')
  SOAK_GET_RATE=$(jq -rn --argjson m "$MAX_GETS" --argjson p "$BENCH_SOAK_GET_PCT" '[($m * $p / 100), 1] | max')
  log "soak: ${BENCH_SOAK_S}s of $SOAK_CREATE_RATE creates/s (expiring after ${BENCH_SOAK_TTL_S}s, with webhooks to $BENCH_SOAK_ENDPOINTS endpoints) and $SOAK_GET_RATE GETs/s, in the background of the expiry stage"
  BENCH_API_KEY=$SKEY "$BIN/bench-loadgen" --url "$GATEWAY_URL" --mode post --rate "$SOAK_CREATE_RATE" \
    --duration "$BENCH_SOAK_S" --expires-in "$BENCH_SOAK_TTL_S" --connections 16 \
    >"$RES/raw/soak-post.json" 2>"$RES/raw/soak-post.err" &
  SOAK_POST_PID=$!
  bg_track $SOAK_POST_PID
  "$BIN/bench-loadgen" --url "$GATEWAY_URL" --mode get --ids "$RES/pool.txt" --rate "$SOAK_GET_RATE" \
    --duration "$BENCH_SOAK_S" --connections 16 >"$RES/raw/soak-get.json" 2>"$RES/raw/soak-get.err" &
  SOAK_GET_PID=$!
  bg_track $SOAK_GET_PID
  SOAK_T0=$(date +%s)
  : >"$RES/soak.tsv"
  soak_sampler "$SOAK_T0" &
  SOAK_SAMPLER_PID=$!
  bg_track $SOAK_SAMPLER_PID
  PHASE_SUFFIX=+soak
}

# RSS of every service at soak time 0, S, 2S... up to BENCH_SOAK_S into soak.tsv:
#   soak_s  service  pid  rss_kb  hwm_kb
soak_sampler() { # T0 (epoch seconds)
  local t0=$1 k=0 s pid m
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
}

soak_finish() {
  # The stages run alongside end here: the growth check starts after them (report.sh), as
  # a burst's working set is no leak. Rounded up: a sample at this soak time follows them.
  local overlap_end=$((($(now_ms) - SOAK_T0 * 1000 + 999) / 1000))
  PHASE_SUFFIX=""
  if [ "$overlap_end" -ge "$BENCH_SOAK_S" ]; then
    warn "the stages alongside the soak took ${overlap_end}s, longer than the ${BENCH_SOAK_S}s soak: part of them ran without its load, and no soak sample follows them"
    echo "soak: the stages alongside it took ${overlap_end} s of a ${BENCH_SOAK_S} s soak (raise BENCH_SOAK_S)" >>"$RES/anomalies.txt"
  fi
  phase soak
  wait "$SOAK_SAMPLER_PID" || true
  wait "$SOAK_POST_PID" || die "the soak's create load failed: $(cat "$RES/raw/soak-post.err")"
  wait "$SOAK_GET_PID" || die "the soak's read load failed: $(cat "$RES/raw/soak-get.err")"
  # The load's own end: its clients' elapsed time from their start (they are waited for only
  # now, after the stages that ran alongside, which may have outlasted them).
  local load_end
  load_end=$(jq -s --argjson t0 "$SOAK_T0" 'map(.elapsed_s) | max | $t0 + ceil' \
    "$RES/raw/soak-post.json" "$RES/raw/soak-get.json")
  check_statuses "soak creates" 201 <"$RES/raw/soak-post.json"
  check_statuses "soak GETs" 200 <"$RES/raw/soak-get.json"
  # Every soak session is created, then expired: two events, each to every soak endpoint.
  local created expected unique deadline
  created=$(jq -r '(.status["201"] // 0) + (.status["202"] // 0)' "$RES/raw/soak-post.json")
  expected=$((created * 2 * BENCH_SOAK_ENDPOINTS))
  deadline=$(($(date +%s) + BENCH_SOAK_TTL_S + BENCH_SETTLE_S))
  while :; do
    unique=$(curl -fsS "$SOAK_SINK_URL/_stats" | jq -r .unique)
    [ "$unique" -ge "$expected" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      warn "soak: $unique of $expected webhook deliveries arrived"
      echo "soak: $unique of $expected webhook deliveries arrived" >>"$RES/anomalies.txt"
      break
    fi
    sleep 1
  done
  record soak "$(jq -nc --slurpfile p "$RES/raw/soak-post.json" --slurpfile g "$RES/raw/soak-get.json" \
    --argjson sink "$(curl -fsS "$SOAK_SINK_URL/_stats")" --argjson cr "$SOAK_CREATE_RATE" --argjson gr "$SOAK_GET_RATE" \
    --argjson x "$expected" --argjson e "$BENCH_SOAK_ENDPOINTS" --argjson o "$overlap_end" \
    '{create_rate: $cr, get_rate: $gr, endpoints: $e, creates: $p[0], gets: $g[0],
      webhooks: ($sink + {expected: $x}),
      overlapped: {stages: ["webhooks", "expiry"], from_s: 0, until_s: $o}}')"
  # The soak in the stage timeline: from its load's start to its end, in the background of
  # the stages named.
  record stages "$(jq -nc --argjson t0 $((SOAK_T0 - RUN_STARTED)) --argjson t1 $((load_end - RUN_STARTED)) \
    '{stage: "soak", seconds: ($t1 - $t0), start_s: $t0, end_s: $t1, background: true,
      overlapped: ["webhooks", "expiry"]}')"
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
page_pool
stage_timer http
stage_http
if [ "$BENCH_ONLY" = page ]; then
  stage_timer page-weights
  stage_page_weights
  stage_timer "done"
  rm -f "$RES/sampling"
  sleep "$BENCH_MEM_SAMPLE_S"
  memory_json
  touch "$RES/anomalies.txt"
  export GATEWAY_THREADS RUN_STARTED
  mkdir -p "$(dirname "$BENCH_RESULTS")"
  bash "$REPO/bench/report.sh" "$RES" "$BENCH_RESULTS"
  exit 0
fi
stage_timer page-weights
stage_page_weights
stage_timer half-rate
stage_paced
stage_timer pipeline
stage_pipeline
stage_timer pgbench
stage_pgbench
# Webhooks still on a quiet box: the soak's own webhooks, piling up while a round holds the
# worker stopped, would be delivered inside the round and tax an absolute figure.
stage_timer webhooks
stage_webhooks
stage_timer soak-start
soak_start
stage_timer expiry soak
stage_expiry
stage_timer soak-rest
soak_finish
stage_timer "done"
rm -f "$RES/sampling"
sleep "$BENCH_MEM_SAMPLE_S"
memory_json
touch "$RES/anomalies.txt"

export GATEWAY_THREADS RUN_STARTED
mkdir -p "$(dirname "$BENCH_RESULTS")"
bash "$REPO/bench/report.sh" "$RES" "$BENCH_RESULTS"
