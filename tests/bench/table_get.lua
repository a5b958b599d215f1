-- table_get.lua -- GET /v1/tables/NAME/{id} with random ids among the
-- seeded rows of a declared table (bench.py's tget scenario).
-- Arguments after `--`: TOKEN NTHREADS NAME LO HI.
local name, lo, hi

function scenario_init(args)
   name, lo, hi = args[1], tonumber(args[2]), tonumber(args[3])
end

function scenario_request()
   return wrk.format("GET", "/v1/tables/" .. name .. "/" .. math.random(lo, hi))
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
