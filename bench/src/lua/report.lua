-- Appended to every scenario: numbers the threads, seeds each one's random numbers, and
-- prints one machine-readable summary line that the bench binary parses.
local threads = {}
orders, failed, busy = 0, 0, 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(1000 + tid)
  if start then start() end
end

function done(summary, latency, requests)
  local o, f, b = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + (t:get("orders") or 0)
    f = f + (t:get("failed") or 0)
    b = b + (t:get("busy") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"orders":%d,"failed":%d,"busy":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, o, f, b))
end
