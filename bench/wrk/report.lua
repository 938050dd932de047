-- Shared by every script: count responses by class in each thread, stop a thread
-- after an optional request limit, and print one JSON line from done().
--
-- A script loads this with dofile() and installs report.setup, report.response
-- and report.done as wrk's setup/response/done hooks.

local report = {}

local threads = {}

-- Per-thread counters (globals, so the main state can read them via thread:get).
non2xx = 0
not_found = 0
answered = 0
limit = 0
first_error = ""

function report.setup(thread)
   table.insert(threads, thread)
   thread:set("seed", #threads)
end

-- Seed math.random differently in each thread (call from init).
function report.seed()
   math.randomseed(seed * 7919 + os.time())
end

-- Stop this thread after `n` answered requests (0: run for the whole duration).
-- run.py sends wrk SIGINT once every thread has printed its STOPPED line.
function report.set_limit(n)
   limit = n
end

function report.response(status, headers, body)
   answered = answered + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if status == 404 then
         not_found = not_found + 1
      end
      if first_error == "" then
         first_error = status .. " " .. body
      end
   end
   if answered == limit then
      io.write("STOPPED\n")
      io.flush()
      wrk.thread:stop()
   end
end

local function json_string(s)
   s = s:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
   end)
   return '"' .. s .. '"'
end

function report.done(summary, latency, requests)
   local bad, empty, example = 0, 0, ""
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
      empty = empty + thread:get("not_found")
      if example == "" then
         example = thread:get("first_error")
      end
   end
   local e = summary.errors
   local fields = {
      '"requests":' .. summary.requests,
      '"duration_us":' .. summary.duration,
      '"p50_us":' .. latency:percentile(50),
      '"p99_us":' .. latency:percentile(99),
      '"non2xx":' .. bad,
      '"not_found":' .. empty,
      '"socket_errors":' .. (e.connect + e.read + e.write + e.timeout),
      '"first_error":' .. json_string(example),
   }
   io.write("RESULT {" .. table.concat(fields, ",") .. "}\n")
end

return report
