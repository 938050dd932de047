-- POST /put with a JSON batch of 1000 items of 100 bytes (API.md Part 2).
-- Argument: queue name. Each answered request stored 1000 items.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/json" }
local fixed

function init(args)
   local item = '{"value":"' .. string.rep("v", 100) .. '"}'
   local items = {}
   for i = 1, 1000 do
      items[i] = item
   end
   local body = '{"name":"' .. args[1] .. '","items":[' .. table.concat(items, ",") .. "]}"
   fixed = wrk.format("POST", "/put", headers, body)
end

function request()
   return fixed
end

setup, response, done = report.setup, report.response, report.done
