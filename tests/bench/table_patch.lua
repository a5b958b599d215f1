-- table_patch.lua -- PATCH /v1/tables/NAME/{id} spread over random ids of
-- a declared table (bench.py's tspread scenario), as patch_spread.lua does
-- for bids: thread t owns the ids with id % nthreads == t and tracks their
-- versions from the versions file, then from every answer.
-- Arguments after `--`: TOKEN NTHREADS NAME VERSIONS_FILE.
local name
local ids, versions = {}, {}

function scenario_init(args)
   name = args[1]
   for line in io.lines(args[2]) do
      local id, v = string.match(line, "^(%d+)%s+(%d+)")
      id, v = tonumber(id), tonumber(v)
      if id and id % nthreads == tid then
         ids[#ids + 1] = id
         versions[id] = v
      end
   end
end

function scenario_request()
   local id = ids[math.random(#ids)]
   return wrk.format("PATCH", "/v1/tables/" .. name .. "/" .. id, nil,
                     '{"version":' .. versions[id] ..
                     ',"qty":' .. math.random(1, 99999) .. '}')
end

function scenario_response(status, body)
   local id, v
   if status == 200 then
      id, v = string.match(body, '"id":(%d+),"version":(%d+)')
   elseif status == 409 then
      v = string.match(body, '"current_version":(%d+)')
      id = string.match(body, '"current":{"id":(%d+)')
   end
   id, v = tonumber(id), tonumber(v)
   if id and v and versions[id] and v > versions[id] then
      versions[id] = v
   end
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
