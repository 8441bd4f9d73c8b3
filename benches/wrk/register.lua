-- wrk script: durable registrations spread over CUSTOMERS customers (default 1,000), all approved.
-- KEY=$(cat data/admin.key) wrk -t2 -c32 -d20s --latency -s benches/wrk/register.lua http://127.0.0.1:8080
-- CUSTOMERS=100000 wrk ... spreads them wider (smaller mypages).
-- With KEY set, every request sends Authorization: Bearer $KEY (paytree's API keys); without
-- it, none (the bare server, a paytree from before keys).
local key = os.getenv("KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local customers = tonumber(os.getenv("CUSTOMERS") or "1000")
-- FIRST=N starts at load-N (several wrk at once on customers of their own).
local first = tonumber(os.getenv("FIRST") or "0")
local cards = { "4242424242424242", "5555555555554444", "378282246310005" }

request = function()
  counter = counter + 1
  local body = string.format(
    '{"customerId":"load-%d","kind":"card","number":"%s"}',
    first + counter % customers, cards[counter % #cards + 1])
  return wrk.format("POST", "/paymethods", nil, body)
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
