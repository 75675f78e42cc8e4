-- wrk script: POST signed Twilio webhook bodies from a pool file ("signature<TAB>body" lines).
-- Usage: wrk ... -s post.lua URL -- POOL_FILE THREADS [RATE]
-- Each thread takes every THREADS-th line, so no MessageSid is sent twice in a run. With RATE
-- (requests/s in all) each thread paces itself to a fixed schedule through wrk's delay() hook.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *spec);
]]
local spec = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, spec) -- CLOCK_MONOTONIC
  return tonumber(spec.tv_sec) * 1000 + tonumber(spec.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local pool, count, position = {}, 0, 0
local interval, next_at = 0, nil
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local function paced_delay()
  local now = now_ms()
  if next_at == nil or next_at < now - 50 then
    next_at = now -- fell far behind: do not burst to catch up
  end
  local slot = next_at
  next_at = next_at + interval
  local wait = slot - now
  if wait < 0 then
    return 0
  end
  return math.floor(wait)
end

function init(args)
  local file, nthreads, rate = args[1], tonumber(args[2]), tonumber(args[3] or "0")
  local line_number = 0
  for line in io.lines(file) do
    if line_number % nthreads == thread_index then
      local tab = line:find("\t", 1, true)
      count = count + 1
      pool[count] = { line:sub(1, tab - 1), line:sub(tab + 1) }
    end
    line_number = line_number + 1
  end
  if rate > 0 then
    interval = 1000.0 * nthreads / rate
    delay = paced_delay
  end
end

function request()
  position = position + 1
  if position > count then
    position = 1
  end
  local item = pool[position]
  headers["X-Twilio-Signature"] = item[1]
  return wrk.format("POST", "/twilio/messages", headers, item[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end
