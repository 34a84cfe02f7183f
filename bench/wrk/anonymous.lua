-- POST /api/shared/auth/anonymous from a different client address each time, so the
-- per-IP limit is exercised (one upsert per sign-in) without refusing anyone.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
local n = 0
request = function()
  n = n + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = string.format("172.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256),
  }
  return wrk.format("POST", "/api/shared/auth/anonymous", headers, "{}")
end
