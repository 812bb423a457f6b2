-- wrk: POST one JSON body, each request with the next key of a file (one key a line); counts statuses.
-- usage: wrk -t2 -c64 -d10s -s bench/lua/keys.lua URL -- BODY_FILE KEYS_FILE
-- Prints one line: WRKJSON {"requests":…, "statuses":{"200":…, "429":…}, …} (statuses summed over threads).
local threads = {}
local keys, body, n = {}, nil, 0
statuses = {}

function setup(thread)
   thread:set("offset", #threads * 7919)  -- threads start at different keys
   table.insert(threads, thread)
end

function init(args)
   local f = assert(io.open(args[1], "rb"))
   body = f:read("*a")
   f:close()
   for line in io.lines(args[2]) do
      if #line > 0 then table.insert(keys, line) end
   end
   n = offset or 0
end

function request()
   n = n + 1
   local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. keys[(n % #keys) + 1]}
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts, parts = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do counts[status] = (counts[status] or 0) + count end
   end
   for status, count in pairs(counts) do table.insert(parts, string.format('"%d":%d', status, count)) end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d,' ..
      '"p50_us":%d,"p99_us":%d,"statuses":{%s}}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), table.concat(parts, ",")))
end
