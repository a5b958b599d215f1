-- chat_read.lua -- GET /v1/reports/{id}/chat?after=LENGTH-100&limit=100:
-- the last 100 messages of one long history (chatread: 1,000,000
-- messages, seeded by SQL).
-- Arguments after `--`: TOKEN NTHREADS REPORT_ID LENGTH.
local path

function scenario_init(args)
   path = "/v1/reports/" .. args[1] .. "/chat?after=" ..
      (tonumber(args[2]) - 100) .. "&limit=100"
end

function scenario_request()
   return wrk.format("GET", path)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
