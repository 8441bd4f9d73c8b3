-- wrk script: durable registrations spread over 1,000 customers, all approved.
-- wrk -t2 -c32 -d20s --latency -s benches/wrk/register.lua http://127.0.0.1:8080
local counter = 0
local cards = { "4242424242424242", "5555555555554444", "378282246310005" }

request = function()
  counter = counter + 1
  local body = string.format(
    '{"customerId":"load-%d","kind":"card","number":"%s"}',
    counter % 1000, cards[counter % #cards + 1])
  return wrk.format("POST", "/paymethods", { ["Content-Type"] = "application/json" }, body)
end
