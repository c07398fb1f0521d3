-- wrk script: GET random full level-0 tiles (C2SP tlog-tiles) of one dataset of SIZE entries.
-- SIZE and DATASET come from the environment (bench/tiles.sh sets them). Fixed seed.
local size = tonumber(os.getenv("SIZE") or "1000000")
local dataset = os.getenv("DATASET") or "city/air"
local full = math.floor(size / 256)
math.randomseed(42)
-- 1234067 → x001/x234/067
local function index_path(n)
  local groups = {}
  repeat
    table.insert(groups, 1, string.format("%03d", n % 1000))
    n = math.floor(n / 1000)
  until n == 0
  for i = 1, #groups - 1 do groups[i] = "x" .. groups[i] end
  return table.concat(groups, "/")
end
request = function()
  return wrk.format("GET", "/v1/datasets/" .. dataset .. "/tile/0/" .. index_path(math.random(0, full - 1)))
end
done = function(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %d errors (status), p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
