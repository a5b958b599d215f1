-- chat.lua -- POST /v1/reports/{id}/chat, one message a call, each with a
-- message id no other call uses (run nonce, thread, counter), so every
-- call appends. A report's chat holds at most 10,000 messages (then 409
-- chat_full), so each thread appends to its own reports in turn, moving
-- to the next after PER_REPORT messages.
-- Arguments after `--`: TOKEN NTHREADS NONCE REPORT_IDS (comma-separated;
-- thread t takes those at positions t, t + NTHREADS, ...).
local PER_REPORT = 9000
local nonce
local reports = {}
local n = 0

function scenario_init(args)
   nonce = args[1]
   local i = 0
   for id in string.gmatch(args[2], "%d+") do
      if i % nthreads == tid then reports[#reports + 1] = id end
      i = i + 1
   end
end

function scenario_request()
   n = n + 1
   local report = reports[math.min(#reports, 1 + math.floor((n - 1) / PER_REPORT))]
   return wrk.format("POST", "/v1/reports/" .. report .. "/chat", nil,
                     '{"messages":[{"id":"' .. nonce .. "-" .. tid .. "-" .. n ..
                     '","role":"user","content":"bench message ' .. n .. '"}]}')
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
