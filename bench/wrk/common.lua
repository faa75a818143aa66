-- Shared by the wrk scripts of make bench (bench/run.sh): the API key header, a count of
-- answers by status in every thread, and a done() that prints one machine-readable line
--   BENCH_JSON {"requests":…,"rps":…,"latency_us":{…},"status":{…},"errors":{…}}
-- Every script counts statuses in response(), so wrk parses every answer in all of
-- them alike (ceiling, GET, POST): the ratios compare like with like.
local threads = {}

wrk.headers["x-api-key"] = os.getenv("BENCH_API_KEY") or ""

function setup(thread)
  thread:set("thread_index", #threads + 1)
  table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- The session ids of the GET pool (one a line), for the scripts that read them.
function bench_load_ids()
  local path = os.getenv("BENCH_IDS_FILE")
  local ids = {}
  if path == nil then
    return ids
  end
  for line in io.lines(path) do
    if #line == 36 then
      ids[#ids + 1] = line
    end
  end
  return ids
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s ~= nil then
      for code, n in pairs(s) do
        total[code] = (total[code] or 0) + n
      end
    end
  end
  local parts = {}
  for code, n in pairs(total) do
    parts[#parts + 1] = string.format('"%d":%d', code, n)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"status":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, table.concat(parts, ","), e.connect, e.read, e.write, e.status, e.timeout))
end
