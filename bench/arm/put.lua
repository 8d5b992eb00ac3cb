-- wrk script: PUT of resource groups (creates, then updates as names recur).
-- Environment: VMRP_TOKEN, VMRP_PREFIX (…/resourcegroups/), VMRP_QUERY.
local n = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("VMRP_TOKEN")
wrk.headers["Content-Type"] = "application/json"
local prefix, query = os.getenv("VMRP_PREFIX"), os.getenv("VMRP_QUERY")
request = function()
  n = n + 1
  return wrk.format("PUT", prefix .. "bench-put-" .. (n % 500) .. query, nil,
                    '{"location":"eastus","tags":{"bench":"' .. n .. '"}}')
end
