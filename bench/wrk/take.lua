-- POST /take without a key: the oldest item. Argument: queue name.
-- A 404 ("no item to take") means the queue ran empty; report.lua counts it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local fixed

function init(args)
   fixed = wrk.format("POST", "/take", headers, "name=" .. args[1])
end

function request()
   return fixed
end

setup, response, done = report.setup, report.response, report.done
