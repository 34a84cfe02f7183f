-- GET with the bearer token from $TOKEN (scenarios `session` and `me`).
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
