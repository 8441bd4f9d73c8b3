-- wrk script: mypage reads of CUSTOMERS customers (default 1,000) in turn, the customers that
-- register.lua registered for.
-- wrk -t2 -c32 -d20s --latency -s benches/wrk/mypage.lua http://127.0.0.1:8080
local counter = 0
local customers = tonumber(os.getenv("CUSTOMERS") or "1000")

request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/mypages/load-%d", counter % customers))
end
