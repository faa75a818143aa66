#!/usr/bin/env bash
# The results of one make bench run: bench/report.sh RAW_DIR RESULTS_JSON
#
# Reads the raw outputs bench/run.sh left in RAW_DIR (one JSON line per run of each
# benchmark, the memory samples), computes medians, ratios and targets, writes RESULTS_JSON
# (every run's raw figures included), prints the table and, with BENCH_UPDATE_README=1,
# rewrites the block between <!-- bench:begin --> and <!-- bench:end --> of README.md.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RES=${1:?raw results directory}
OUT=${2:?results file}

# A .jsonl of RES for jq's --slurpfile (an array of its lines; [] if absent). Files, not
# arguments: the memory samples of a full run are far beyond the kernel's argument limit.
slurp() {
  if [ -s "$RES/$1.jsonl" ]; then echo "$RES/$1.jsonl"; else echo /dev/null; fi
}

machine=$(jq -n \
  --argjson cores "$(nproc)" \
  --argjson mem_kb "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)" \
  --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
  --arg kernel "$(uname -r)" \
  --arg postgres "$(psql -X -At "$CAISSE_DATABASE_URL" -c 'SHOW server_version' 2>/dev/null || echo unknown)" \
  --arg kafka "${CAISSE_KAFKA_VERSION:-unknown}" \
  --arg wrk "$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')" \
  '{cores: $cores, memory_mb: ($mem_kb / 1024 | floor), cpu: $cpu, kernel: $kernel,
    postgres: $postgres, kafka: $kafka, wrk: $wrk}')
git_json=$(jq -n --arg c "$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)" \
  --arg d "$(git -C "$REPO" status --porcelain --untracked-files=no -- . ':!README.md' ':!bench/results' 2>/dev/null | head -c 1)" \
  '{commit: $c, dirty: ($d != "")}')
# Every BENCH_* setting of the run (never the API key), and CAISSE_* the caller overrode.
config=$(env | grep -E '^(BENCH_|CAISSE_)' | grep -v -E '^(BENCH_API_KEY|BENCH_IDS_FILE|CAISSE_INTERNAL_TOKEN|CAISSE_IDEMPOTENCY_SECRET|CAISSE_SECRETS_KEY|CAISSE_SECRETS_KEY_PREVIOUS|CAISSE_COMMAND_MAC_KEY|CAISSE_COMMAND_MAC_KEY_PREVIOUS)=' |
  jq -R 'capture("^(?<k>[^=]+)=(?<v>.*)$")' |
  jq -S -s --arg repo "$REPO/" 'map({(.k): (.v | if startswith($repo) then .[($repo | length):] else . end)}) | add')
anomalies=$(jq -R . "$RES/anomalies.txt" 2>/dev/null | jq -s . || echo '[]')

jq -n \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --argjson quick "$([ "${BENCH_QUICK:-0}" = 1 ] && echo true || echo false)" \
  --argjson elapsed $(($(date +%s) - ${RUN_STARTED:-$(date +%s)})) \
  --argjson machine "$machine" --argjson git "$git_json" --argjson config "$config" \
  --argjson anomalies "$anomalies" \
  --argjson gateway_threads "${GATEWAY_THREADS:-null}" \
  --slurpfile ceiling "$(slurp http_ceiling)" --slurpfile get "$(slurp get)" --slurpfile post "$(slurp post)" \
  --slurpfile post_analyzed "$(slurp post_analyzed)" \
  --slurpfile post_half "$(slurp post_half)" --slurpfile raw "$(slurp read_after_write)" \
  --slurpfile windows "$(slurp pipeline_windows)" --slurpfile pipeline "$(slurp pipeline)" \
  --slurpfile pgbench "$(slurp pgbench)" --slurpfile pgbench_get "$(slurp pgbench_get)" \
  --slurpfile webhooks "$(slurp webhooks)" \
  --slurpfile webhooks_db "$(slurp webhooks_db)" --slurpfile expiry "$(slurp expiry)" \
  --slurpfile soak "$(slurp soak)" --slurpfile soak_settle "$(slurp soak_settle)" \
  --slurpfile stages "$(slurp stages)" \
  --slurpfile page "$(slurp page)" --slurpfile page_weights "$(slurp page_weights)" \
  --arg only "${BENCH_ONLY:-}" \
  --slurpfile mem "$(slurp mem)" --slurpfile soak_mem "$(slurp soak-mem)" \
  --argjson warmup "${BENCH_SOAK_WARMUP_S:-60}" --argjson tol_pct "${BENCH_SOAK_TOLERANCE_PCT:-10}" \
  --argjson tol_mb "${BENCH_SOAK_TOLERANCE_MB:-2}" --argjson ttl "${BENCH_SOAK_TTL_S:-5}" \
  '
def median: map(select(. != null)) | sort | if length == 0 then null
  elif length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
def met($ok): if $ok == null then null else $ok end;
# How the runs of a benchmark overlapped the soak\u0027s load: whole, partly or none.
def alongside: map(.alongside_soak) | if length == 0 or all(. == "none") then "none"
  elif all(. == "whole") then "whole" else "partly" end;
def wrk_run: {rps: .rps, requests: .requests, duration_s: .duration_s,
  p50_ms: (.latency_us.p50 / 1000), p90_ms: (.latency_us.p90 / 1000), p99_ms: (.latency_us.p99 / 1000),
  max_ms: (.latency_us.max / 1000), status: .status, socket_errors: .errors};
def wrk_bench($ok): map(wrk_run + {ok_per_s: ((.status[$ok] // 0) / .duration_s)}) as $runs
  | {runs: $runs, median: {requests_per_s: ($runs | map(.rps) | median),
      ok_per_s: ($runs | map(.ok_per_s) | median),
      p50_ms: ($runs | map(.p50_ms) | median), p99_ms: ($runs | map(.p99_ms) | median)}};
def lg_bench: {runs: ., median: {rate: (map(.rate_target) | median),
      achieved_per_s: (map(.rate_achieved) | median),
      p50_ms: (map(.latency_ms.p50) | median), p99_ms: (map(.latency_ms.p99) | median)}};
# least-squares slope of y over t (per minute)
def slope: if length < 2 then null else
  (map(.t) | add / length) as $mt | (map(.y) | add / length) as $my
  | (map((.t - $mt) * (.y - $my)) | add) as $num | (map((.t - $mt) * (.t - $mt)) | add) as $den
  | if $den == 0 then null else $num / $den * 60 end end;

($ceiling | wrk_bench("200")) as $c
| ($get | wrk_bench("200")) as $g
| ($post | wrk_bench("201")) as $p
| ($post_analyzed | wrk_bench("201")) as $pa
| ($page | wrk_bench("200")) as $pg
| ($post_half | lg_bench) as $ph
| ($raw | lg_bench) as $rw
| ($windows | map(.rate) | median) as $pipe_rate
| ($pgbench | map(.rows_per_s) | median) as $pg_rate
| ($pgbench_get | map(.fetches_per_s) | median) as $fetch_rate
# The soak load the stages marked alongside it ran with (none if they did not).
| (if ($soak | length) == 0 then null else {create_rate: $soak[0].create_rate, get_rate: $soak[0].get_rate,
      endpoints: $soak[0].endpoints, until_s: $soak[0].overlapped.until_s} end) as $soak_load
| (if $soak_load == null then null
   else "alongside the soak\u0027s steady load (\($soak_load.create_rate | round) creates/s expiring after \($ttl) s, with webhooks to \($soak_load.endpoints) endpoints of its own, and \($soak_load.get_rate | round) GETs/s)" end) as $soak_text
# The soak growth is judged after the warm-up and after the stages run alongside it: a
# burst leaves a working set behind, which is no leak.
| ([$warmup, ($soak[0].overlapped.until_s // 0)] | max) as $judged_from
| (if ($expiry | length) == 0 then null else {runs: $expiry, sessions: $expiry[0].sessions,
      update_s: ($expiry | map(.update_s) | median), worker_s: ($expiry | map(.worker_s) | median),
      update_rows: ($expiry | map(.update_rows) | median),
      alongside_soak: ($expiry | alongside),
      expired_s: ($expiry | map(.expired_s) | median), insert_s: ($expiry | map(.insert_s) | median),
      all_expired_and_published: ($expiry | all(.events == .sessions and .published == .sessions
        and .sessions_expired == .sessions))}
    | . + {ratio: ratio(.worker_s; .update_s)} end) as $ex
| ($webhooks | map(.deliveries_per_s) | median) as $wh_rate
| ($webhooks | all(.unique == .expected and .duplicates == 0 and .bad_signatures == 0 and .unknown_endpoint == 0)) as $wh_exact
| ($webhooks | alongside) as $wh_soak
| ([$mem[], $soak_mem[]] | group_by(.service) | map({key: .[0].service, value: {
      peak_rss_mb: (map(.rss_kb) | max / 1024), peak_hwm_mb: (map(.hwm_kb) | max / 1024)}}) | from_entries) as $peaks
| ($mem | group_by(.phase) | map({key: .[0].phase, value: (group_by(.service)
      | map({key: .[0].service, value: (map(.rss_kb) | max / 1024)}) | from_entries)}) | from_entries) as $by_phase
| ($soak_mem | group_by(.service) | map(
      (sort_by(.t)) as $s
      | ($s | map(select(.t >= $judged_from))) as $after
      | (if ($after | length) < 2 then null else $after[0].rss_kb end) as $warm
      | ($s[-1].rss_kb) as $last
      | {key: $s[0].service, value: {
          start_mb: ($s[0].rss_kb / 1024),
          warm_mb: (if $warm == null then null else $warm / 1024 end),
          end_mb: ($last / 1024), peak_mb: ($s | map(.rss_kb) | max / 1024),
          slope_kb_per_min: ($after | map({t: .t, y: .rss_kb}) | slope),
          restarted: ($after | map(.pid) | unique | length > 1),
          restarted_by_stages_alongside: ($s | map(select(.t < $judged_from) | .pid) | unique | length > 1),
          growth_mb: (if $warm == null then null else ($last - $warm) / 1024 end),
          allowed_growth_mb: (if $warm == null then null else ([($warm / 1024) * $tol_pct / 100, $tol_mb] | max) end),
          samples: ($s | map([.t, (.rss_kb / 1024 * 10 | round / 10)]))}})
    | from_entries
    | map_values(. + {no_growth: (if .growth_mb == null then null
        else (.growth_mb <= .allowed_growth_mb and (.restarted | not)) end)})) as $soak_by_service
| {
  schema: 1, date: $date, quick: $quick, only: (if $only == "" then null else $only end),
  elapsed_s: $elapsed, machine: $machine, git: $git,
  config: ($config + {gateway_threads: $gateway_threads}),
  anomalies: $anomalies, stages: ($stages | sort_by(.start_s // 0)),
  benchmarks: {
    http_ceiling: $c,
    get: ($g + {limit: "http_ceiling", ratio: ratio($g.median.ok_per_s; $c.median.requests_per_s),
      row_fetch: {name: "pgbench -M prepared: the gateway\u0027s row fetch alone (by id, organization and environment) over the GET pool, as many clients as gateway threads",
        runs: $pgbench_get, median: {fetches_per_s: $fetch_rate},
        ratio: ratio($g.median.ok_per_s; $fetch_rate)},
      target: {text: ">= 60 % of the row fetch alone",
        met: met(ratio($g.median.ok_per_s; $fetch_rate) | if . == null then null else . >= 0.6 end)}}),
    page: (if ($page | length) == 0 then null else ($pg + {limit: "http_ceiling",
      name: "GET /checkout/:id/:secret, the hosted checkout page of an open session (Accept-Language fr)",
      ratio: ratio($pg.median.ok_per_s; $c.median.requests_per_s),
      weights: {states: $page_weights,
        target: {text: "<= 30 KB transferred each (HTML + CSS + JS, headers included, first visit)",
          met: (if ($page_weights | length) == 0 then null else ($page_weights | all(.total_bytes <= 30720)) end)}}}) end),
    post: ($p + {limit: "http_ceiling", ratio: ratio($p.median.ok_per_s; $c.median.requests_per_s),
      target: {text: ">= 25 % of the HTTP ceiling",
        met: met(ratio($p.median.ok_per_s; $c.median.requests_per_s) | if . == null then null else . >= 0.25 end)}}),
    new_database: (if ($post_analyzed | length) == 0 then null else {
      name: "POST on the new database (the HTTP rounds, statistics as autovacuum left them) vs the same POST after VACUUM ANALYZE",
      new_database: $p.median, analyzed: $pa, ratio: ratio($p.median.ok_per_s; $pa.median.ok_per_s),
      target: {text: "no fall: >= 90 % of the rate after ANALYZE",
        met: met(ratio($p.median.ok_per_s; $pa.median.ok_per_s) | if . == null then null else . >= 0.9 end)}} end),
    post_half_rate: ($ph + {target: {text: "p99 < 25 ms at half the max create rate",
      met: (if $ph.median.p99_ms == null then null else $ph.median.p99_ms < 25 end)}}),
    read_after_write: ($rw + {target: {text: "p99 < 50 ms at half the max create rate",
      met: (if $rw.median.p99_ms == null then null else $rw.median.p99_ms < 50 end)}}),
    pipeline: {windows: $windows, wrk: ($pipeline[0] // null), median: {sessions_per_s: $pipe_rate},
      limit: {name: "pgbench: the same rows, batched, same indexes", runs: $pgbench,
        median: {rows_per_s: $pg_rate}},
      ratio: ratio($pipe_rate; $pg_rate),
      target: {text: ">= 35 % of the insert ceiling",
        met: (ratio($pipe_rate; $pg_rate) | if . == null then null else . >= 0.35 end)}},
    expiry_burst: ($ex + {limit: "one UPDATE of the same rows (rolled back)",
      conditions: (if $ex == null or $ex.alongside_soak == "none" then "quiet box"
        else "both the worker and the single UPDATE ran \(if $ex.alongside_soak == "partly" then "partly (the soak ended meanwhile) " else "" end)\($soak_text); the UPDATE also took the soak sessions due by then, as the worker does" end),
      target: {text: "<= 3x the single UPDATE, every session expired and its event published",
      met: (if $ex == null or $ex.ratio == null then null
            else ($ex.ratio <= 3 and $ex.all_expired_and_published) end)}}),
    webhooks: {runs: $webhooks, database: ($webhooks_db[0] // null),
      alongside_soak: $wh_soak,
      conditions: (if $wh_soak == "none" then "quiet box"
        else "measured \(if $wh_soak == "partly" then "partly (the soak ended meanwhile) " else "" end)\($soak_text); an absolute figure" end),
      median: {deliveries_per_s: $wh_rate,
        soak_deliveries_meanwhile: ($webhooks | map(.soak_deliveries_meanwhile) | median)},
      all_delivered_once_signed: $wh_exact,
      target: {text: ">= 10,000 deliveries/s, each (event, endpoint) once",
        met: (if $wh_rate == null then null else ($wh_rate >= 10000 and $wh_exact) end)}},
    memory: {peak: $peaks, peak_by_stage_rss_mb: $by_phase,
      target: {text: "< 100 MB peak RSS each",
        met: (if ($peaks | length) == 0 then null else ($peaks | all(.peak_hwm_mb < 100)) end)},
      soak: {settle: ($soak_settle[0] // null), load: ($soak[0] // null), services: $soak_by_service,
        warmup_s: $warmup, overlapped_until_s: ($soak[0].overlapped.until_s // null), judged_from_s: $judged_from,
        tolerance: {percent: $tol_pct, mb: $tol_mb},
        target: {text: "no growth: end RSS within max(\($tol_pct) %, \($tol_mb) MB) of the RSS after the warm-up and the stages run alongside the soak",
          met: (if ($soak_by_service | length) == 0 then null else ($soak_by_service | all(.no_growth == true)) end)}}}
  }
}' >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"

# ---- the table ---------------------------------------------------------------------------------
out_rel=${OUT#"$REPO"/}
table=$(jq -r --arg out "$out_rel" '
def thou: (round | tostring) as $s | ($s | length) as $n
  | [range(0; $n) | . as $i | (if $i > 0 and (($n - $i) % 3 == 0) then "," else "" end) + $s[$i:$i + 1]] | join("");
def ms: if . == null then "n/a" elif . < 10 then ((. * 100 | round) / 100 | tostring) + " ms"
  else ((. * 10 | round) / 10 | tostring) + " ms" end;
def pct: if . == null then "n/a" else ((. * 1000 | round) / 10 | tostring) + " %" end;
def num: if . == null then "n/a" else thou end;
def mb: if . == null then "n/a" else ((. * 10 | round) / 10 | tostring) + " MB" end;
def ok: if . == true then "yes" elif . == false then "**no**" else "n/a" end;
def secs: if . == null then "n/a" else ((. * 100 | round) / 100 | tostring) + " s" end;
def along: if . == "whole" then ", alongside the soak" elif . == "partly" then ", partly alongside the soak" else "" end;
.benchmarks as $b
| "Measured \(.date[0:16] | sub("T"; " ")) UTC on \(.machine.cores) cores, \(.machine.memory_mb / 1024 * 10 | round / 10) GiB RAM (\(.machine.cpu)), PostgreSQL \(.machine.postgres), Kafka \(.machine.kafka); commit \(.git.commit[0:10])\(if .git.dirty then " (with local changes)" else "" end)\(if .quick then "; **quick smoke run (BENCH_QUICK=1): sizes too small to be representative**" else "" end)\(if .only == "page" then "; **BENCH_ONLY=page: the HTTP ceiling, the GET and the hosted page alone**" else "" end). Medians of \(.config.BENCH_RUNS) runs; wrk -t\(.config.BENCH_WRK_THREADS) -c\(.config.BENCH_WRK_CONNECTIONS); gateway \(.config.gateway_threads) threads. All figures: `\($out)`.",
  "",
  "| benchmark | figure | limit measured in the same run | ratio | target | met |",
  "|---|---|---|---|---|---|",
  "| HTTP ceiling | \($b.http_ceiling.median.requests_per_s | num) req/s (p50 \($b.http_ceiling.median.p50_ms | ms), p99 \($b.http_ceiling.median.p99_ms | ms)) | — | — | — | — |",
  "| GET /checkout-sessions/:id | \($b.get.median.ok_per_s | num) req/s, p50 \($b.get.median.p50_ms | ms), p99 \($b.get.median.p99_ms | ms) | HTTP ceiling \($b.http_ceiling.median.requests_per_s | num) req/s; second limit, the row fetch alone in pgbench: \($b.get.row_fetch.median.fetches_per_s | num)/s (GET reaches \($b.get.row_fetch.ratio | pct) of it) | \($b.get.row_fetch.ratio | pct) of the row fetch (\($b.get.ratio | pct) of the ceiling) | ≥ 60 % of the row fetch | \($b.get.target.met | ok) |",
  (if $b.page == null then empty else
  "| GET /checkout/:id/:secret (the hosted page) | \($b.page.median.ok_per_s | num) req/s, p50 \($b.page.median.p50_ms | ms), p99 \($b.page.median.p99_ms | ms) | HTTP ceiling \($b.http_ceiling.median.requests_per_s | num) req/s | \($b.page.ratio | pct) of the ceiling | — | — |",
  "| hosted page weight, first visit (HTML + CSS + JS) | \($b.page.weights.states | map("\(.state) \(.total_bytes / 1024 * 10 | round / 10) KB") | join(", ")) | — | — | ≤ 30 KB each | \($b.page.weights.target.met | ok) |" end),
  (if .only == "page" then empty else
  "| POST /checkout-sessions (201) | \($b.post.median.ok_per_s | num) creates/s, p50 \($b.post.median.p50_ms | ms), p99 \($b.post.median.p99_ms | ms) | HTTP ceiling \($b.http_ceiling.median.requests_per_s | num) req/s | \($b.post.ratio | pct) | ≥ 25 % | \($b.post.target.met | ok) |",
  (if $b.new_database == null then empty else
  "| POST on a new database (no VACUUM ANALYZE before it) | \($b.new_database.new_database.ok_per_s | num) creates/s | the same POST after VACUUM ANALYZE: \($b.new_database.analyzed.median.ok_per_s | num) creates/s | \($b.new_database.ratio | pct) | no fall (≥ 90 %) | \($b.new_database.target.met | ok) |" end),
  "| POST at half the max rate | p50 \($b.post_half_rate.median.p50_ms | ms), p99 \($b.post_half_rate.median.p99_ms | ms) at \($b.post_half_rate.median.rate | num)/s | — | — | p99 < 25 ms | \($b.post_half_rate.target.met | ok) |",
  "| pipeline (\(.config.BENCH_PIPELINE_S) s sustained) | \($b.pipeline.median.sessions_per_s | num) sessions/s | pgbench, same rows batched: \($b.pipeline.limit.median.rows_per_s | num) rows/s | \($b.pipeline.ratio | pct) | ≥ 35 % | \($b.pipeline.target.met | ok) |",
  "| read-after-write | p50 \($b.read_after_write.median.p50_ms | ms), p99 \($b.read_after_write.median.p99_ms | ms) at \($b.read_after_write.median.rate | num)/s | — | — | p99 < 50 ms | \($b.read_after_write.target.met | ok) |",
  "| expiry burst (\($b.expiry_burst.sessions | num) due)\($b.expiry_burst.alongside_soak | along) | \($b.expiry_burst.worker_s | secs) to all expired and published (expired after \($b.expiry_burst.expired_s | secs))\(if ($b.expiry_burst.alongside_soak // "none") != "none" then "; worker and UPDATE both ran \(if $b.expiry_burst.alongside_soak == "partly" then "partly " else "" end)alongside the soak\u0027s \($b.memory.soak.load.create_rate | num) creates/s + \($b.memory.soak.load.get_rate | num) GETs/s" else "" end) | one UPDATE of the same rows\(if ($b.expiry_burst.update_rows // $b.expiry_burst.sessions) > $b.expiry_burst.sessions then " (+ \($b.expiry_burst.update_rows - $b.expiry_burst.sessions | num) soak sessions due)" else "" end): \($b.expiry_burst.update_s | secs) | \(if $b.expiry_burst.ratio == null then "n/a" else ($b.expiry_burst.ratio * 100 | round / 100 | tostring) + "×" end) | ≤ 3× | \($b.expiry_burst.target.met | ok) |",
  "| webhooks\($b.webhooks.alongside_soak | along) | \($b.webhooks.median.deliveries_per_s | num) deliveries/s (\($b.webhooks.runs[0].events // 0 | num) events × \($b.webhooks.runs[0].endpoints // 0) endpoints, signed; each once: \($b.webhooks.all_delivered_once_signed | ok))\(if $b.webhooks.alongside_soak != "none" then "; measured \(if $b.webhooks.alongside_soak == "partly" then "partly " else "" end)with the soak\u0027s \($b.memory.soak.load.create_rate | num) creates/s + \($b.memory.soak.load.get_rate | num) GETs/s in the background, the worker delivering \($b.webhooks.median.soak_deliveries_meanwhile | num) of the soak\u0027s webhooks per round meanwhile" else "" end) | — | — | ≥ 10,000/s | \($b.webhooks.target.met | ok) |",
  "| memory: peak RSS | \($b.memory.peak | to_entries | map("\(.key) \(.value.peak_hwm_mb | mb)") | join(", ")) | — | — | < 100 MB each | \($b.memory.target.met | ok) |",
  "| memory: \(.config.BENCH_SOAK_S) s soak (\($b.memory.soak.load.create_rate | num) creates/s, \($b.memory.soak.load.get_rate | num) GETs/s; overlapped the \(.stages | map(select(.alongside == "soak") | .stage) | join(" and ")) stage(s) for its first \($b.memory.soak.overlapped_until_s | num) s) | \($b.memory.soak.services | to_entries | map("\(.key) \(.value.warm_mb | mb) → \(.value.end_mb | mb)") | join(", ")) (at \($b.memory.soak.judged_from_s | num) s, after the warm-up and those stages → end) | — | — | no growth (± \($b.memory.soak.tolerance.percent) %) | \($b.memory.soak.target.met | ok) |" end),
  (if (.anomalies | length) > 0 then "", "Anomalies in this run:", (.anomalies[] | "- \(.)") else empty end)
' "$OUT")

printf '\n%s\n\n' "$table"
echo "results: $OUT"

if [ "${BENCH_UPDATE_README:-0}" = 1 ]; then
  readme="$REPO/README.md"
  if grep -q '^<!-- bench:begin -->$' "$readme" && grep -q '^<!-- bench:end -->$' "$readme"; then
    printf '%s\n' "$table" >"$RES/table.md"
    awk -v table="$RES/table.md" '
      /^<!-- bench:begin -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
      /^<!-- bench:end -->$/ { skip = 0 }
      !skip { print }' "$readme" >"$readme.tmp"
    mv "$readme.tmp" "$readme"
    echo "README.md: table updated"
  else
    echo "README.md has no <!-- bench:begin --> / <!-- bench:end --> block: not updated" >&2
  fi
fi
