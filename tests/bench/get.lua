-- get.lua -- GET /v1/bids/{id} with random ids among the seeded ones.
-- Arguments after `--`: TOKEN NTHREADS LO HI.
local lo, hi

function scenario_init(args)
   lo, hi = tonumber(args[1]), tonumber(args[2])
end

function scenario_request()
   return wrk.format("GET", "/v1/bids/" .. math.random(lo, hi))
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
