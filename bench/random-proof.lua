-- wrk script: GET random proof bundles of one dataset. SIZE and DATASET come from the
-- environment (bench/proofs.sh sets them). A fixed seed keeps runs comparable.
local size = tonumber(os.getenv("SIZE") or "1000000")
local dataset = os.getenv("DATASET") or "city/air"
math.randomseed(42)
request = function()
  local seq = math.random(0, size - 1)
  return wrk.format("GET", "/v1/datasets/" .. dataset .. "/records/" .. seq .. "/proof")
end
done = function(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %d errors (status), p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
