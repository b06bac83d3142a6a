-- wrk script: optional token rotation (cold bearer rung) and a one-line JSON summary.
local tokens = nil
local i = 0
function init(args)
    if args[1] ~= nil then
        tokens = {}
        for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
    end
end
function request()
    if tokens ~= nil then
        i = i + 1
        local t = tokens[((i - 1) % #tokens) + 1]
        return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. t })
    end
    return wrk.format(nil, nil)
end
function done(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
    io.write(string.format("BENCH {\"requests\":%d,\"seconds\":%f,\"p50\":%f,\"p99\":%f,\"p999\":%f,\"errors\":%d}\n",
        summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        latency:percentile(99.9) / 1000, errors))
end
