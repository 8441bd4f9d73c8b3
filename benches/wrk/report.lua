-- Shared by the wrk scripts (each loads it last): with REPORT=FILE set, done() writes the run's
-- counts and its latency distribution to FILE, so that several wrk running at once (one per
-- replica, benches/replicas.sh) can be added up and their p99 taken over all their requests.
-- FILE's lines: "requests N", "duration_us N", "errors CONNECT READ WRITE STATUS TIMEOUT"
-- (STATUS: answers not 2xx or 3xx), then "quantile P MICROSECONDS" at every 1% up to 90%, then
-- every 0.01% up to 99.99% (wrk's percentile() on its µs histogram), and 100% (the maximum).
local report = os.getenv("REPORT")
if report and report ~= "" then
  done = function(summary, latency, requests)
    local f = assert(io.open(report, "w"))
    local e = summary.errors
    f:write(string.format("requests %d\nduration_us %d\nerrors %d %d %d %d %d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
    local function q(p) f:write(string.format("quantile %.2f %d\n", p, latency:percentile(p))) end
    for p = 1, 89 do q(p) end
    for i = 9000, 9999 do q(i / 100) end
    f:write(string.format("quantile 100.00 %d\n", latency.max))
    f:close()
  end
end
