#!/usr/bin/env bash
# Deployments that would take the daemon's memory: a template whose
# variables double a string sixty times (2^64 bytes from 3 KB) is refused
# with DeploymentJobSizeExceeded, nothing recorded, the daemon's memory
# barely moved; and deployments of large templates running at once are
# bounded: past what the engine may hold (DEPLOY_MAX_HELD, 32 MB of
# requests) a PUT answers 429 TooManyRequests with Retry-After, records
# nothing, and is taken again once the others have ended.  Each job is
# slowed (a failpoint, the region restarted with it) so that the large
# deployments are still running.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
start_regions
TOKEN=$(token "$EAST")
R=api-version=2021-04-01
G=$EAST/subscriptions/$SUB/resourcegroups
X=$G/limrg/providers/Microsoft.Resources/deployments
arm PUT "$G/limrg?$R" '{"location":"eastus"}'
expect 201 "" "resource group"
PID=$(region_pid eastus)
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
ndeployments() { sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM deployments"; }

# ---- 2^64 bytes from a few: refused at once
V='"v0": "xxxxxxxxxxxxxxxx"'
for i in $(seq 1 60); do V="$V, \"v$i\": \"[concat(variables('v$((i - 1))'), variables('v$((i - 1))'))]\""; done
BEFORE=$(rss_kb)
arm PUT "$X/double?$R" "{\"properties\": {\"mode\": \"Incremental\", \"template\": {$DEP_SCHEMA, \"variables\": {$V}, \"resources\": []}}}"
expect 400 DeploymentJobSizeExceeded "a string doubled 60 times: DeploymentJobSizeExceeded"
check test "$(echo "$BODY" | jq -r .error.additionalInfo[0].info.path)" = properties.template.variables.v17 \
  "naming the variable that passes 4 MB"
check test $(($(rss_kb) - BEFORE)) -lt 65536 "the daemon's memory grew by less than 64 MB"
check test "$(ndeployments)" = 0 "nothing recorded"

# ---- large deployments at once: 8 of 3.8 MB fit in 32 MB, the 9th waits
kill9_region eastus
VMRP_FAILPOINTS=jobs.run.delay_ms=10000 restart_region eastus
TOKEN=$(token "$EAST")
python3 - "$VAR/big.json" <<'EOF'
import json, sys
S = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
disk = {"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "[concat('d', uniqueString(deployment().name))]",
        "location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}
open(sys.argv[1], "w").write(json.dumps({"properties": {"mode": "Incremental", "template": {
    "$schema": S, "variables": {"ballast": "x" * (3800 << 10)}, "resources": [disk]}}}))
EOF
put_big() { # NAME: PUT of the 3.8 MB deployment, $STATUS and $BODY set
  local code
  code=$(curl -s --cacert "$CA" -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$VAR/big.json" -D "$HEADERS" -o "$VAR/body" -w '%{http_code}' "$X/$1?$R")
  STATUS=$code
  BODY=$(cat "$VAR/body")
}
for i in 1 2 3 4 5 6 7 8; do
  put_big "big$i"
  expect 201 "" "large deployment $i of 8 starts"
done
put_big big9
expect 429 TooManyRequests "the 9th while they run: 429 TooManyRequests"
check test -n "$(header Retry-After)" "with Retry-After"
arm GET "$X/big9?$R"
expect 404 DeploymentNotFound "and nothing recorded"
for i in 1 2 3 4 5 6 7 8; do
  for _ in $(seq 600); do
    arm GET "$X/big$i?$R"
    [ "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded ] && break
    sleep 0.1
  done
done
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM deployments WHERE state = 'Succeeded'")" = 8 "the 8 succeed"
put_big big9
expect 201 "" "then the 9th is taken"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "and succeeds"
check test "$(curl -s --cacert "$CA" "$EAST/metadata/endpoints" -o /dev/null -w '%{http_code}')" = 200 "the daemon serves on"
finish
