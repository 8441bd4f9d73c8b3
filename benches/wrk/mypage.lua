-- wrk script: mypage reads of CUSTOMERS customers (default 1,000) in turn, the customers that
-- register.lua registered for.
-- KEY=$(cat data/admin.key) wrk -t2 -c32 -d20s --latency -s benches/wrk/mypage.lua http://127.0.0.1:8080
-- With KEY set, every request sends Authorization: Bearer $KEY (paytree's API keys); without
-- it, none (the bare server, a paytree from before keys).
local key = os.getenv("KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
local counter = 0
local customers = tonumber(os.getenv("CUSTOMERS") or "1000")
-- FIRST=N starts at load-N (several wrk at once on customers of their own).
local first = tonumber(os.getenv("FIRST") or "0")

request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/mypages/load-%d", first + counter % customers))
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
