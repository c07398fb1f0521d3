-- wrk script: GET the proof bundle of every seq of one dataset once, in order, across all
-- threads (then repeat): warms the bundle cache. SIZE and DATASET come from the environment.
local size = tonumber(os.getenv("SIZE") or "100000")
local dataset = os.getenv("DATASET") or "city/air"
local threads = 0
setup = function(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local next_seq = nil
request = function()
  if next_seq == nil then next_seq = id end
  local seq = next_seq % size
  next_seq = next_seq + 2
  return wrk.format("GET", "/v1/datasets/" .. dataset .. "/records/" .. seq .. "/proof")
end
