-- The HTTP lease+ack round trip: POST /take with a lease, then POST /ack of the item.
-- Argument: queue name. Each thread keeps the ids it leased and acks them on the
-- following requests; acked counts the items that went round (a 404 on take means
-- the queue ran empty; report.lua counts it).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local queue, take
local pending = {}
acked = 0

function init(args)
   queue = args[1]
   take = wrk.format("POST", "/take", headers, "name=" .. queue .. "&lease=30")
end

function request()
   local id = table.remove(pending)
   if id then
      return wrk.format("POST", "/ack", headers, "name=" .. queue .. "&id=" .. id)
   end
   return take
end

function response(status, headers, body)
   local id = body:match('"lease_expires"') and body:match('"id":"([^"]+)"')
   if status == 200 and id then
      table.insert(pending, id)
   elseif status == 200 then
      acked = acked + 1
   end
   report.response(status, headers, body)
end

setup, done = report.setup, report.done
