-- common.lua -- what every wrk script of `make bench` shares: the token,
-- per-thread status counts, and the one result line done() prints.
--
-- A scenario script sets `scenario_init(args)`, `scenario_request()` and,
-- if it learns from answers, `scenario_response(status, body)`, then
-- dofile()s this file (BENCH_LUA_DIR names the folder). The arguments
-- after wrk's `--` are: TOKEN, NTHREADS (wrk's -t), then the scenario's
-- own. (wrk runs setup() and init() of thread 0 before thread 1 exists,
-- so a thread cannot count its siblings itself.)
--
-- wrk gives each thread its own Lua state: counts are per thread, and
-- done() (in the main state) adds them up through the thread objects kept
-- by setup().

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

c200, c409, cother = 0, 0, 0
first_other = ""

function init(args)
   wrk.headers["Authorization"] = "Bearer " .. args[1]
   wrk.headers["Content-Type"] = "application/json"
   nthreads = tonumber(args[2])
   math.randomseed(os.time() + 7919 * (tid or 0))
   local rest = {}
   for i = 3, #args do rest[#rest + 1] = args[i] end
   scenario_init(rest)
end

function request()
   return scenario_request()
end

function response(status, headers, body)
   if status == 200 then
      c200 = c200 + 1
   elseif status == 409 then
      c409 = c409 + 1
   else
      cother = cother + 1
      if first_other == "" then
         first_other = tostring(status) .. " " .. string.sub(body or "", 1, 160)
      end
   end
   if scenario_response then
      scenario_response(status, body)
   end
end

local function json_safe(s)
   return (string.gsub(s, '[%c"\\]', " "))
end

function done(summary, latency, requests)
   local n200, n409, nother, other = 0, 0, 0, ""
   for _, t in ipairs(threads) do
      n200 = n200 + t:get("c200")
      n409 = n409 + t:get("c409")
      nother = nother + t:get("cother")
      if other == "" then other = t:get("first_other") end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
      '"c200": %d, "c409": %d, "cother": %d, "errors": %d, "first_other": "%s"}\n',
      summary.requests, summary.duration, latency:percentile(50),
      latency:percentile(99), n200, n409, nother,
      e.connect + e.read + e.write + e.timeout, json_safe(other)))
end
