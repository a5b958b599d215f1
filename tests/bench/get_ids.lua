-- get_ids.lua -- GET /v1/bids/{id} with random ids from a file ("id ..."
-- lines): for a Galera cluster, whose auto-increment ids are not
-- contiguous (each node hands out its own residue), so get.lua's LO..HI
-- range would mostly miss.
-- Arguments after `--`: TOKEN NTHREADS IDS_FILE.
local ids = {}

function scenario_init(args)
   for line in io.lines(args[1]) do
      local id = tonumber(string.match(line, "^(%d+)"))
      if id then ids[#ids + 1] = id end
   end
end

function scenario_request()
   return wrk.format("GET", "/v1/bids/" .. ids[math.random(#ids)])
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
