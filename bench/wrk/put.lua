-- POST /put with a 100-byte value.
-- Arguments: queue name, [number of keys: 0 = no key], [request limit per thread: 0 = none].
-- With K keys, each thread cycles through k1..kK from its own offset, so every key
-- gets the same number of items (so take_keyed.lua rarely finds a key run dry).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local value = string.rep("v", 100)
local prefix, keys, fixed
local sent = 0

function init(args)
   sent = seed * 7919
   prefix = "name=" .. args[1] .. "&value=" .. value
   keys = tonumber(args[2] or "0")
   report.set_limit(tonumber(args[3] or "0"))
   if keys == 0 then
      fixed = wrk.format("POST", "/put", headers, prefix)
   end
end

function request()
   if fixed then
      return fixed
   end
   sent = sent + 1
   return wrk.format("POST", "/put", headers, prefix .. "&key=k" .. (sent % keys + 1))
end

setup, response, done = report.setup, report.response, report.done
