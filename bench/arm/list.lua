-- wrk script: the pages of a resource-group list, round robin (one full list
-- of 1,000 groups = 10 pages of 100).  Environment: VMRP_TOKEN, VMRP_PAGES
-- (a file with one page path per line, from following nextLink).
local pages = {}
for line in io.lines(os.getenv("VMRP_PAGES")) do pages[#pages + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("VMRP_TOKEN")
request = function()
  i = i % #pages + 1
  return wrk.format("GET", pages[i])
end
