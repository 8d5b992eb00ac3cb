-- wrk script: authenticated GET of one resource group.
-- Environment: VMRP_TOKEN, VMRP_PATH.
wrk.method = "GET"
wrk.path = os.getenv("VMRP_PATH")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("VMRP_TOKEN")
