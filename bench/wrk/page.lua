-- GET of the hosted checkout page (/checkout/<id>/<secret>) over a pool of open sessions
-- made before the run (BENCH_PAGE_PATHS_FILE: one path a line), each thread drawing paths
-- at random. Answers are counted by status as in every script (common.lua).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

local paths

function init(args)
  math.randomseed(os.time() + thread_index * 7919)
  paths = {}
  local file = os.getenv("BENCH_PAGE_PATHS_FILE")
  if file ~= nil then
    for line in io.lines(file) do
      if line:sub(1, 10) == "/checkout/" then
        paths[#paths + 1] = line
      end
    end
  end
  if #paths == 0 then
    paths = {"/checkout/00000000-0000-7000-8000-000000000000"}
  end
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], {["Accept-Language"] = "fr-FR,fr;q=0.9,en;q=0.5"})
end
