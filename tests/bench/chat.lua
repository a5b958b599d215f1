-- chat.lua -- POST /v1/reports/{id}/chat, one message a call, each with a
-- message id no other call uses (run nonce, thread, counter), so every
-- call appends, to a report picked at random among the thread's: appends
-- spread over reports, as many clients of many reports make them (calls
-- to one report take turns on its row lock). The scenarios chat (fresh
-- reports) and chat100k (reports seeded with 100,000 messages) differ
-- only in the reports they are given.
-- Arguments after `--`: TOKEN NTHREADS NONCE REPORT_IDS (comma-separated;
-- thread t takes those at positions t, t + NTHREADS, ...).
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
   local report = reports[math.random(#reports)]
   return wrk.format("POST", "/v1/reports/" .. report .. "/chat", nil,
                     '{"messages":[{"id":"' .. nonce .. "-" .. tid .. "-" .. n ..
                     '","role":"user","content":"bench message ' .. n .. '"}]}')
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
