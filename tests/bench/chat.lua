-- chat.lua -- POST /v1/reports/{id}/chat, one message a call, each with a
-- message id no other call uses (run nonce, thread, counter), so every
-- call appends.
-- Arguments after `--`: TOKEN NTHREADS REPORT_ID NONCE.
local report, nonce
local n = 0

function scenario_init(args)
   report, nonce = args[1], args[2]
end

function scenario_request()
   n = n + 1
   return wrk.format("POST", "/v1/reports/" .. report .. "/chat", nil,
                     '{"messages":[{"id":"' .. nonce .. "-" .. tid .. "-" .. n ..
                     '","role":"user","content":"bench message ' .. n .. '"}]}')
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
