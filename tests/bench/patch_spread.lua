-- patch_spread.lua -- PATCH /v1/bids/{id} spread over random ids. Thread
-- t owns the ids with id % nthreads == t and tracks their versions as a
-- client would: from the versions file (what its last GETs said), then
-- from every answer (200: "version"; 409: "current_version"). Two
-- connections of one thread rarely pick the same id at once, so nearly
-- every answer is 200.
-- Arguments after `--`: TOKEN NTHREADS VERSIONS_FILE ("id version" lines).
local ids, versions = {}, {}
local n = 0

function scenario_init(args)
   for line in io.lines(args[1]) do
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
   n = n + 1
   return wrk.format("PATCH", "/v1/bids/" .. id, nil,
                     '{"version":' .. versions[id] ..
                     ',"data":{"price":' .. math.random(1, 99999) .. '}}')
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
