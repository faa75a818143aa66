-- GET /checkout-sessions/:id over the pool of sessions made before the run
-- (BENCH_IDS_FILE), each thread drawing ids at random. Also the request of the HTTP
-- ceiling (the same bytes, sent to the trivial server).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

local ids

function init(args)
  math.randomseed(os.time() + thread_index * 7919)
  ids = bench_load_ids()
  if #ids == 0 then
    ids = {"00000000-0000-7000-8000-000000000000"}
  end
end

function request()
  return wrk.format("GET", "/checkout-sessions/" .. ids[math.random(#ids)])
end
