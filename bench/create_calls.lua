-- wrk's side of bench/create_calls.py (`--client wrk`): every request books its own 30-minute slot,
-- so every one should get a 201, and the run stops after a set number of requests.
--
--   wrk -t T -c C -d 10m -s bench/create_calls.lua URL -- BASE FIRST STRIDE PER_THREAD PRODUCT [AUTHORIZATION]
--
-- BASE is the first slot's start (Unix seconds, UTC); thread t books slots FIRST + t * STRIDE
-- onwards, one per request, and stops after PER_THREAD responses (STRIDE leaves room for the
-- requests still in flight then). `done` prints one line of JSON:
-- the latency percentiles (microseconds) and the statuses counted over every thread.
-- Installed with Debian's `apt-get install wrk` (4.1, LuaJIT).

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  base, first, stride, per_thread = tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  product = args[5]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[6] then
    wrk.headers["Authorization"] = args[6]
  end
  slot = first + index * stride
  answered = 0
  statuses = {}
  failure = ""
end

function request()
  local start = base + slot * 1800
  slot = slot + 1
  local body = string.format(
    '{"title":"bench call %d","mango":"%s","startDate":"%s","fromTime":"%s","timezoneName":"UTC","duration":30}',
    slot, product, os.date("!%Y-%m-%d", start), os.date("!%H:%M", start)
  )
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 201 and failure == "" then
    -- Kept JSON-safe for `done`'s line: no quotes, backslashes or control characters.
    failure = status .. " " .. string.sub(body or "", 1, 300):gsub('["\\%c]', " ")
  end
  answered = answered + 1
  if answered == per_thread then
    -- wrk's main thread sleeps for all of `-d`: bench/create_calls.py interrupts it once every
    -- thread has said so, and `done` then runs.
    io.write("WRK_THREAD_DONE\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counts, failures = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + n
    end
    local failure = thread:get("failure")
    if failure ~= "" then
      table.insert(failures, '"' .. failure .. '"')
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  io.write(string.format(
    'WRK_RESULT {"seconds": %.6f, "requests": %d, "p50": %d, "p95": %d, "p99": %d, "statuses": {%s}, "errors": [%s]}\n',
    summary.duration / 1e6, summary.requests, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), table.concat(parts, ", "), table.concat(failures, ", ")
  ))
end
