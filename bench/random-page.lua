-- wrk script: GET random feed pages of 100 records from PAGES distinct pages of one dataset
-- (bench/cache.sh sets PAGES and DATASET). A fixed seed keeps runs comparable.
local pages = tonumber(os.getenv("PAGES") or "1000")
local dataset = os.getenv("DATASET") or "city/air"
math.randomseed(7)
request = function()
  local after = math.random(0, pages - 1) * 100
  return wrk.format("GET", "/v1/datasets/" .. dataset .. "/records?limit=100&after=" .. after)
end
done = function(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %d errors (status), p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
