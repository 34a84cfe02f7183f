-- GET near-me pages (scenario `near-me`) with the bearer token from $TOKEN, the point
-- taken in turn from a 5 x 5 grid over the seeded city (Jakarta, ~0.4 degrees square):
-- $NEAR_PATH is the path up to `near=`.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local points = {}
for i = 0, 4 do
  for j = 0, 4 do
    points[#points + 1] = string.format("%.3f,%.3f", -6.40 + i * 0.075, 106.70 + j * 0.075)
  end
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", os.getenv("NEAR_PATH") .. points[(n % #points) + 1])
end
