#!/usr/bin/env bash
# Resource groups with curl: list paging over 250 groups (nextLink, $top and
# the default page size), case-insensitive ids keeping the creator's casing,
# HEAD, PATCH, request-id headers, DELETE as a long-running operation (Location
# monitor and the Azure-AsyncOperation status resource) that removes the
# group's children, plus locations, provider metadata and tenants.
. "$VMRP_SRC/tests/lib/harness.sh"
start_regions
TOKEN=$(token "$EAST")
RV=api-version=2024-03-01
G=$EAST/subscriptions/$SUB/resourcegroups

# ---- 250 groups, created 50 per curl, 4 curls at a time ----
export G RV CA TOKEN
STATUS=; BODY=
seq -f 'pg-%03g' 0 249 | xargs -n 50 -P 4 bash -c '
  urls=(); for n in "$@"; do urls+=(-o /dev/null "$G/$n?$RV"); done
  curl -s --cacert "$CA" -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    --data "{\"location\":\"eastus\"}" -w "%{http_code}\n" "${urls[@]}"' _ >"$VAR/codes" 2>&1 || true
check test "$(grep -c '^201$' "$VAR/codes")" = 250 "250 resource groups created (201 each)"

# list_all URL → every name on every page in $VAR/names, pages in $PAGES
list_all() {
  local url=$1 i
  : >"$VAR/names"
  PAGES=0
  LINKS_OK=true
  for i in $(seq 60); do
    arm GET "$url"
    [ "$STATUS" = 200 ] || { fail "list page $i"; return; }
    PAGES=$((PAGES + 1))
    echo "$BODY" | jq -r '.value[].name' >>"$VAR/names"
    url=$(echo "$BODY" | jq -r '.nextLink // empty')
    [ -z "$url" ] && return
    case "$url" in "$EAST"/*) ;; *) LINKS_OK=false ;; esac
  done
  fail "list did not end within 60 pages"
}
pg_names_once() {
  [ "$(grep -c '^pg-' "$VAR/names")" = 250 ] && [ "$(grep '^pg-' "$VAR/names" | sort -u | wc -l)" = 250 ] &&
    diff <(grep '^pg-' "$VAR/names" | sort) <(seq -f 'pg-%03g' 0 249) >/dev/null
}
list_all "$G?$RV&\$top=100"
check test "$PAGES" = 3 "\$top=100: 250 groups on 3 pages"
check pg_names_once "\$top=100: every group appears exactly once"
check $LINKS_OK "\$top=100: nextLink is an absolute URL of this region"
list_all "$G?$RV"
check test "$PAGES" = 3 "default page size (100): 3 pages"
check pg_names_once "default page size: every group appears exactly once"
list_all "$G?$RV&\$top=7"
check test "$PAGES" = 36 "\$top=7: 36 pages"
check pg_names_once "\$top=7: every group appears exactly once"
list_all "$G?$RV&\$top=1000"
check test "$PAGES" = 1 "\$top=1000: one page without nextLink"
check pg_names_once "\$top=1000: every group appears exactly once"

# ---- case-insensitive ids ----
arm PUT "$G/MyRG?$RV" '{"location":"eastus","tags":{"k":"v1"}}'
expect 201 "" "PUT MyRG creates it"
check test "$(echo "$BODY" | jq -r .id)" = "/subscriptions/$SUB/resourceGroups/MyRG" "the id uses resourceGroups and the creator's casing"
arm GET "$G/myrg?$RV"
expect 200 "" "GET myrg finds MyRG"
check test "$(echo "$BODY" | jq -r .name)" = MyRG "GET myrg returns name MyRG"
check test "$(echo "$BODY" | jq -r .type)" = Microsoft.Resources/resourceGroups "type Microsoft.Resources/resourceGroups"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "provisioningState Succeeded"
arm GET "$EAST/SUBSCRIPTIONS/$SUB/RESOURCEGROUPS/MYRG?$RV"
expect 200 "" "keywords match case-insensitively"
arm GET "$G/MyRG?API-VERSION=2024-03-01"
expect 200 "" "the api-version parameter name is case-insensitive"
arm PUT "$G/MYRG?$RV" '{"location":"East US","tags":{"k":"v2"}}'
expect 200 "" "PUT MYRG updates the same group (200, not 201)"
check test "$(echo "$BODY" | jq -r .name)" = MyRG "the update keeps the creator's casing"
check test "$(echo "$BODY" | jq -r .location)" = eastus "a display-name location is stored canonically"
check test "$(meta_sql eastus "SELECT count(*) FROM resources WHERE id = '/subscriptions/$SUB/resourceGroups/myrg'")" = 1 "one row for MyRG"
arm GET "$G?$RV&\$top=1000"
check test "$(echo "$BODY" | jq '[.value[] | select(.name | ascii_downcase == "myrg")] | length')" = 1 "the list holds MyRG once"

# ---- HEAD ----
arm HEAD "$G/myrg?$RV"
expect 204 "" "HEAD of an existing group is 204"
arm HEAD "$G/nope?$RV"
expect 404 "" "HEAD of a missing group is 404"

# ---- PATCH ----
arm PATCH "$G/myrg?$RV" '{"tags":{"team":"storage","tier":"gold"}}'
expect 200 "" "PATCH tags"
check test "$(echo "$BODY" | jq -c .tags)" = '{"team":"storage","tier":"gold"}' "PATCH replaces the tags"
check test "$(echo "$BODY" | jq -r .location)" = eastus "PATCH keeps the location"
arm GET "$G/MyRG?$RV"
check test "$(echo "$BODY" | jq -r .tags.tier)" = gold "GET after PATCH shows the new tags"
ETAG=$(header ETag)
check test -n "$ETAG" "GET carries an ETag"
EXTRA_CURL=(-H "If-Match: $ETAG")
arm PATCH "$G/myrg?$RV" '{"managedBy":"/subscriptions/x/providers/y"}'
expect 200 "" "PATCH with the current etag in If-Match"
check test "$(echo "$BODY" | jq -r .managedBy)" = /subscriptions/x/providers/y "PATCH sets managedBy"
check test "$(echo "$BODY" | jq -r .tags.team)" = storage "PATCH without tags keeps them"
EXTRA_CURL=()

# ---- request ids ----
EXTRA_CURL=(-H 'x-ms-correlation-request-id: corr-1234' -H 'x-ms-client-request-id: client-5678')
arm GET "$G/myrg?$RV"
EXTRA_CURL=()
check grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' <<<"$(header x-ms-request-id)" "x-ms-request-id is a GUID"
check test "$(header x-ms-correlation-request-id)" = corr-1234 "x-ms-correlation-request-id is echoed"
check test "$(header x-ms-client-request-id)" = client-5678 "x-ms-client-request-id is echoed"
arm GET "$G/myrg?$RV"
check test -n "$(header x-ms-correlation-request-id)" "a correlation id is minted when none is sent"
check test "$(header Content-Type)" = "application/json; charset=utf-8" "Content-Type application/json; charset=utf-8"

# ---- DELETE: long-running, children removed ----
RG_ID=/subscriptions/$SUB/resourceGroups/MyRG
meta_sql eastus "INSERT INTO resources(id, type, name, parent_id, location, etag, created_us, changed_us)
  VALUES('$RG_ID/providers/Microsoft.Compute/disks/d1', 'Microsoft.Compute/disks', 'd1', '$RG_ID', 'eastus', '\"x\"', 0, 0);
  INSERT INTO resources(id, type, name, parent_id, location, etag, created_us, changed_us)
  VALUES('$RG_ID/providers/Microsoft.Compute/restorePointCollections/c1/restorePoints/p1',
         'Microsoft.Compute/restorePointCollections/restorePoints', 'p1',
         '$RG_ID/providers/Microsoft.Compute/restorePointCollections/c1', NULL, '\"x\"', 0, 0);"
check test "$(meta_sql eastus "SELECT count(*) FROM resources WHERE id LIKE '$RG_ID/%'")" = 2 "two child rows inserted"
arm PUT "$G/MyRG-2?$RV" '{"location":"eastus"}'
expect 201 "" "a sibling group whose name extends MyRG"
arm DELETE "$G/myrg?$RV"
expect 202 "" "DELETE answers 202"
LOC=$(header Location)
check test -n "$LOC" "DELETE carries Location"
check test "$(header Retry-After)" = 1 "DELETE carries Retry-After"
case "$LOC" in "$EAST/subscriptions/$SUB/operationresults/"*) ok "Location is the operationresults monitor URL";;
  *) STATUS=; BODY=$LOC; fail "Location is the operationresults monitor URL";; esac
OP=${LOC##*/operationresults/}; OP=${OP%%\?*}
seen=""
for _ in $(seq 300); do
  arm GET "$LOC"
  seen="$seen $STATUS"
  [ "$STATUS" = 202 ] || break
  [ "$(header Retry-After)" = 1 ] || { fail "202 from the monitor URL carries Retry-After"; break; }
  sleep 0.1
done
check grep -Eq '^( 202)* (200|204)$' <<<"$seen" "the monitor URL answers 202 while running, then 200/204 (saw:$seen)"
STATUS_URL=$EAST/subscriptions/$SUB/providers/Microsoft.Resources/locations/eastus/operations/$OP?$RV
arm GET "$STATUS_URL"
expect 200 "" "the operation status resource answers 200"
check test "$(echo "$BODY" | jq -r .status)" = Succeeded "operation status Succeeded"
check test "$(echo "$BODY" | jq -r .name)" = "$OP" "operation status names the operation"
check test "$(echo "$BODY" | jq -r '.startTime != null and .endTime != null')" = true "operation status has startTime and endTime"
check test "$(echo "$BODY" | jq -r .percentComplete)" = 100 "operation status percentComplete 100"
arm GET "$EAST/subscriptions/$SUB/providers/microsoft.resources/locations/EASTUS/operations/$OP?$RV"
expect 200 "" "the status URL matches case-insensitively"
arm GET "$G/myrg?$RV"
expect 404 ResourceGroupNotFound "GET after delete is 404"
arm HEAD "$G/myrg?$RV"
expect 404 "" "HEAD after delete is 404"
check test "$(meta_sql eastus "SELECT count(*) FROM resources WHERE id LIKE '$RG_ID/%'")" = 0 "the group's children are gone"
arm GET "$G/MyRG-2?$RV"
expect 200 "" "the sibling group MyRG-2 is untouched"

# ---- subscriptions, locations, providers, tenants ----
arm GET "$EAST/subscriptions?api-version=2022-12-01"
expect 200 "" "GET /subscriptions"
check test "$(echo "$BODY" | jq -r '.value[0].subscriptionId')" = "$SUB" "the subscription is listed"
arm GET "$EAST/subscriptions/$SUB?api-version=2022-12-01"
check test "$(echo "$BODY" | jq -r '.state + " " + .tenantId')" = "Enabled $TENANT" "GET /subscriptions/{id}"
arm GET "$EAST/subscriptions/$SUB/locations?api-version=2022-12-01"
expect 200 "" "GET locations"
check test "$(echo "$BODY" | jq -r '[.value[].name] | sort | join(",")')" = eastus,westus "locations lists eastus and westus"
check test "$(echo "$BODY" | jq -r '.value[] | select(.name=="westus") | .displayName')" = "West US" "locations carry display names"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute?$RV"
expect 200 "" "GET provider Microsoft.Compute"
check test "$(echo "$BODY" | jq -r .registrationState)" = Registered "provider is Registered"
check test "$(echo "$BODY" | jq '[.resourceTypes[] | select(.resourceType=="restorePointCollections") | .apiVersions[]] | length > 0')" = true "restorePointCollections is listed with api-versions"
check test "$(echo "$BODY" | jq '[.resourceTypes[] | select(.resourceType=="restorePointCollections") | .apiVersions[]] | index("2024-07-01") != null')" = true "restorePointCollections api-versions include 2024-07-01"
arm GET "$EAST/subscriptions/$SUB/providers/microsoft.compute?$RV"
check test "$(echo "$BODY" | jq -r .namespace)" = Microsoft.Compute "the namespace matches case-insensitively and is returned canonically"
arm GET "$EAST/tenants?api-version=2022-12-01"
expect 200 "" "GET /tenants"
check test "$(echo "$BODY" | jq -r '.value[0].tenantId')" = "$TENANT" "tenants lists the tenant"
finish
