-- POST /take with a random key out of K (default 10,000), as put.lua writes them.
-- Arguments: queue name, [number of keys].
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local prefix, keys

function init(args)
   report.seed()
   prefix = "name=" .. args[1] .. "&key=k"
   keys = tonumber(args[2] or "10000")
end

function request()
   return wrk.format("POST", "/take", headers, prefix .. math.random(keys))
end

setup, response, done = report.setup, report.response, report.done
