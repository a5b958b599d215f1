-- patch_hot.lua -- PATCH /v1/bids/{id} on one hot bid. Each thread is a
-- client that sends the last version it saw and learns the current one
-- from the answer (200: "version"; 409: "current_version"); with many
-- connections nearly every answer is a 409, and each 409 carries the
-- whole current bid.
-- Arguments after `--`: TOKEN NTHREADS HOT_ID VERSION.
local hot, seen

function scenario_init(args)
   hot, seen = tonumber(args[1]), tonumber(args[2])
end

function scenario_request()
   return wrk.format("PATCH", "/v1/bids/" .. hot, nil,
                     '{"version":' .. seen ..
                     ',"data":{"price":' .. math.random(1, 99999) .. '}}')
end

function scenario_response(status, body)
   local v
   if status == 200 then
      v = string.match(body, '"version":(%d+)')
   elseif status == 409 then
      v = string.match(body, '"current_version":(%d+)')
   end
   v = tonumber(v)
   if v and v > seen then seen = v end
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
