-- The same requests as put.lua or take.lua, sent to the reference app (any POST
-- path parses the form and answers a small JSON object).
-- Arguments: "put" (name + 100-byte value, the default) or "take" (name only).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local queue = "0b9a6f1e-3c2d-4e5f-8a7b-1c2d3e4f5a6b"
local fixed

function init(args)
   local shape = args[1] or "put"
   local body = "name=" .. queue
   if shape == "put" then
      body = body .. "&value=" .. string.rep("v", 100)
   end
   fixed = wrk.format("POST", "/" .. shape, headers, body)
end

function request()
   return fixed
end

setup, response, done = report.setup, report.response, report.done
