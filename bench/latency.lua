-- wrk script: every request's own latency, as the client saw it (bench/token-lib.sh's `run`).
--
-- wrk 4 (Debian's 4.1.0 here) does not report the latencies it measured: before printing, its
-- `stats_correct` adds, for every response slower than the mean interval between requests of a
-- connection, synthetic samples at that latency minus one interval, minus two, and so on (a
-- "coordinated omission" correction: what an open-loop client arriving at the mean rate would
-- have seen). One 500 ms pause at ~2,000 req/s over 8 connections becomes ~120 samples, so wrk's
-- p99 is set by the few longest pauses of a run, and its mean latency times its rate comes to
-- 2-5x its connections where Little's law gives 1x (bench/README.md, "The tail").
--
-- Run wrk with one connection per thread (-t N -c N): each thread's requests and responses then
-- alternate, so this thread's `request` and `response` pair up exactly. Each thread appends
-- "start_ms latency_ms" per response to PREFIX-<thread number> (PREFIX: the argument after `--`).
-- A connection's first request is left out: it waits for the connection (wrk starts its clock
-- after connecting). The files are flushed when wrk exits (C stdio).
--
--   wrk -t8 -c8 -d8s -s bench/latency.lua URL -- /tmp/lat
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } tg_timespec;
  int clock_gettime(int clock, tg_timespec *ts);
]]
local ts = ffi.new("tg_timespec")
local CLOCK_MONOTONIC = 1
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local out, req, started
local first = true
function init(args)
  out = assert(io.open(string.format("%s-%d", assert(args[1], "usage: -- PREFIX"), thread_number), "w"))
  req = wrk.format()
end

function request()
  started = now_ms()
  return req
end

function response()
  local t = now_ms()
  if first then
    first = false
  else
    out:write(string.format("%.3f %.3f\n", started, t - started))
  end
end
