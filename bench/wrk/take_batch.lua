-- POST /take with count=1000: a batch take (API.md Part 2). Argument: queue name.
-- [request limit per thread: 0 = none]. Each answered request took up to 1000 items:
-- run.py fills the queue with exactly as many full batches as the limit allows.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local fixed

function init(args)
   fixed = wrk.format("POST", "/take", headers, "name=" .. args[1] .. "&count=1000")
   report.set_limit(tonumber(args[2] or "0"))
end

function request()
   return fixed
end

setup, response, done = report.setup, report.response, report.done
