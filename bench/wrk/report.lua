-- Shared by the wrk scenarios: one summary line the harness parses.
-- Usage: wrk -s bench/wrk/<scenario>.lua … ; the scenario sets `scenario_name`.
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("%s rps=%.1f p50=%.2fms p99=%.2fms errors=%d\n",
    os.getenv("SCENARIO") or "wrk",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
