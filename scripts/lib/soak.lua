-- wrk script of scripts/soak: authenticated GETs of a list of ARM paths,
-- round robin, paced (a soak measures latency under a steady load, not the
-- ceiling: bench/arm does that).  The bearer token is re-read from a file
-- every 5 s, so the soak's token refresher keeps a run of any length
-- authenticated.  At the end, one JSON line with the counts, the errors by
-- kind, the HTTP statuses seen and the latency percentiles (µs) goes to
-- VMRP_REPORT.
-- Environment: VMRP_PATHS (a file, one path per line), VMRP_TOKEN_FILE,
-- VMRP_DELAY_MS (pause before each request of a connection), VMRP_REPORT.
local paths = {}
for line in io.lines(os.getenv("VMRP_PATHS")) do paths[#paths + 1] = line end
local token_file = os.getenv("VMRP_TOKEN_FILE")
local pause = tonumber(os.getenv("VMRP_DELAY_MS") or "0")
local token, next_read, i = nil, 0, 0
statuses = {} -- a global: done() reads each thread's with thread:get
local threads = {}

local function fresh_token()
  if os.time() >= next_read then
    local f = io.open(token_file)
    if f then
      local t = f:read("*l")
      f:close()
      if t and #t > 0 then token = t end
    end
    next_read = os.time() + 5
  end
  return token
end

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  i = math.random(#paths) - 1
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer " .. fresh_token() })
end

function delay()
  return pause
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local by_status = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do by_status[k] = (by_status[k] or 0) + v end
  end
  local st = {}
  for k, v in pairs(by_status) do st[#st + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  local f = io.open(os.getenv("VMRP_REPORT"), "w")
  f:write(string.format('{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"statuses":{%s},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, table.concat(st, ","),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
  f:close()
end
