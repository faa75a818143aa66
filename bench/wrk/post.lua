-- POST /checkout-sessions: a valid create per request, with its own amount, order
-- reference and (unless BENCH_IDEMPOTENCY=0) Idempotency-Key, as a merchant's
-- checkout sends them.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

local counter = 0
local nonce
local idempotency = os.getenv("BENCH_IDEMPOTENCY") ~= "0"

function init(args)
  math.randomseed(os.time() + thread_index * 7919)
  nonce = string.format("%08x%02d", math.random(0, 0x7fffffff), thread_index)
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local ref = "wrk-" .. nonce .. "-" .. counter
  local body = string.format(
    '{"amount":%d,"currency_code":"XOF","title":"Bench order %d",' ..
    '"customer_email":"buyer%d@example.com","success_url":"https://shop.example/success",' ..
    '"metadata":{"order_id":"%s"}}',
    math.random(100, 1000000), counter, math.random(1, 100000), ref)
  -- wrk.format takes either its own headers or wrk.headers, never both: merge them.
  local headers = {}
  for k, v in pairs(wrk.headers) do
    headers[k] = v
  end
  if idempotency then
    headers["Idempotency-Key"] = ref
  end
  return wrk.format("POST", "/checkout-sessions", headers, body)
end
