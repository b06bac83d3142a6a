-- wrk script for `make soak`: counts answers by kind in every thread, and prints one JSON line.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok, unavailable, other = 0, 0, 0
end

function response(status, headers, body)
    if status >= 200 and status < 300 then
        ok = ok + 1
    elseif status == 503 then
        unavailable = unavailable + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local a, b, c = 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("ok")
        b = b + t:get("unavailable")
        c = c + t:get("other")
    end
    local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    io.write(string.format("SOAK {\"requests\":%d,\"ok\":%d,\"unavailable\":%d,\"other\":%d,\"socket_errors\":%d,\"p99\":%f,\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d}\n",
        summary.requests, a, b, c, socket, latency:percentile(99) / 1000, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
