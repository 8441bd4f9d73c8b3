-- wrk script: changes of random payment methods among ids 1..IDS (default 1,000,000), each to
-- a new number, so that most land on a passivated aggregate that must be loaded first.
-- KEY=$(cat data/admin.key) IDS=1000000 wrk -t2 -c32 -d20s --latency -s benches/wrk/change.lua http://127.0.0.1:8080
-- With KEY set, every request sends Authorization: Bearer $KEY (paytree's API keys); without
-- it, none (the bare server, a paytree from before keys).
local key = os.getenv("KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
wrk.headers["Content-Type"] = "application/json"
local ids = tonumber(os.getenv("IDS") or "1000000")
local cards = { "4242424242424242", "5555555555554444", "378282246310005" }
local counter = 0

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

request = function()
  counter = counter + 1
  local body = string.format('{"number":"%s"}', cards[counter % #cards + 1])
  local path = string.format("/paymethods/%d", math.random(1, ids))
  return wrk.format("PATCH", path, nil, body)
end
