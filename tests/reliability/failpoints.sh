#!/usr/bin/env bash
# Failpoints end to end (docs/reliability.md "Failpoints"), part 1: armed
# from the environment and by the admin call, each makes a real I/O site
# fail with a clean error, and the service recovers once it is cleared:
#  - a region without [testing] failpoints = on: the admin call is 404;
#  - VMRP_FAILPOINTS=vol.data.write=enospcx1: an NBD write gets ENOSPC, the
#    next one succeeds and reads back;
#  - the admin call: 403 for a Contributor, 400 for a bad spec, GET lists the
#    points with their hits; vol.data.write=short lands exactly the first
#    half of an NBD write, which fails ENOSPC;
#  - vol.data.flush=eio: an NBD flush gets EIO, the next one succeeds;
#  - a restore point capture with cas.pack.write=enospc, cas.pack.write=short
#    or meta.commit=eio armed ends Failed with a clear error and never
#    Succeeded; the next one Succeeds and its disk restore point reads back
#    byte for byte as the disk;
#  - meta.commit=eio at a template deployment's PUT: a clean 500, nothing
#    recorded; the retry Succeeds.
# Part 2 (failpoints_store.sh): fsync, index, GC, upload and copy failures.
. "$VMRP_SRC/tests/lib/harness.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
. "$VMRP_SRC/tests/lib/failpoints.sh"

# 1. Not configured: the path does not exist.
arm GET "$FP"
expect 404 NotFound "without [testing] failpoints = on: GET failpoints is 404"
arm PUT "$FP" '{"spec":"vol.data.write=eio"}'
expect 404 NotFound "... and PUT is 404"

fp_vm

# 2. Armed from the environment (and the admin call turned on) at a restart.
kill9_region eastus
printf '\n[testing]\nfailpoints = on\n' >> "$EAST_CONF"
VMRP_FAILPOINTS=vol.data.write=enospcx1 restart_region eastus
TOKEN=$(token "$EAST")
URI=$(nbd_uri "$C/disks/os")
check test "$("${NF[@]}" write "$URI" 0 65536 1)" = ENOSPC "VMRP_FAILPOINTS=vol.data.write=enospcx1: an NBD write gets ENOSPC"
check test "$("${NF[@]}" write "$URI" 0 65536 1)" = ok "the next write succeeds"
check test "$("${NF[@]}" sha "$URI" 0 65536)" = "$(head -c 65536 /dev/zero | tr '\0' '\1' | sha256sum | cut -d' ' -f1)" \
  "and reads back"
check grep -q 'failpoint fired site=vol.data.write action=enospc hit=1' "$VAR/eastus/vmrpd.log" \
  "the firing is logged once, with its site and action"

# 3. The admin call: who may, what it takes, what it lists.
contrib=$("$VMRPD" sp create -c "$EAST_CONF" --name fp-contributor --role Contributor)
OWNER_TOKEN=$TOKEN
TOKEN=$(token "$EAST" "$(echo "$contrib" | jq -r .clientId)" "$(echo "$contrib" | jq -r .clientSecret)")
arm GET "$FP"
expect 403 AuthorizationFailed "a Contributor may not read the failpoints"
arm PUT "$FP" '{"spec":"vol.data.write=eio"}'
expect 403 AuthorizationFailed "... nor arm them"
TOKEN=$OWNER_TOKEN
arm PUT "$FP" '{"spec":"vol.data.write=bogus"}'
expect 400 InvalidParameter "a spec that does not parse is 400"
arm PUT "$FP" '{"nospec":1}'
expect 400 InvalidRequestContent "a body without spec is 400"
arm GET "$FP"
expect 200 "" "an Owner reads the failpoints"
check test "$(echo "$BODY" | jq -c '.failpoints[] | select(.site == "vol.data.write") | [.action, .hits, .fired, .armedBy]')" \
  = '["enospcx1",2,1,"environment"]' "the environment's point: 2 hits, fired once (refused specs changed nothing)"

arm PUT "$FP" '{"spec":"vol.data.write=shortx1"}'
expect 200 "" "arm vol.data.write=shortx1 by the admin call"
check test "$("${NF[@]}" write "$URI" 0 65536 2)" = ENOSPC "a short write fails ENOSPC"
half() { head -c "$1" /dev/zero | tr '\0' "\\$2" | sha256sum | cut -d' ' -f1; }
check test "$("${NF[@]}" sha "$URI" 0 32768)/$("${NF[@]}" sha "$URI" 32768 32768)" = "$(half 32768 2)/$(half 32768 1)" \
  "exactly its first half reached the disk"
check test "$("${NF[@]}" write "$URI" 0 65536 2)" = ok "the next write succeeds"
arm PUT "$FP" '{"spec":"vol.data.flush=eiox1"}'
check test "$("${NF[@]}" flush "$URI")/$("${NF[@]}" flush "$URI")" = EIO/ok "vol.data.flush=eiox1: an NBD flush gets EIO, the next one succeeds"
arm PUT "$FP" '{"spec":""}'
arm GET "$FP"
check test "$(echo "$BODY" | jq -c '[.failpoints[].armedBy]')" = '["environment"]' \
  "{\"spec\":\"\"} clears the admin's points, the environment's stay"

# 4. Captures: each failure is Failed with a reason; the next one Succeeds
#    and reads back byte for byte.
for i in $(seq 0 7); do "${NF[@]}" write "$URI" $((i * 1048576 + 4096)) 200000 $((i + 10)) >/dev/null; done
n=0
for spec in cas.pack.write=enospcx1 cas.pack.write=shortx1 meta.commit=eiox1; do
  n=$((n + 1))
  arm PUT "$FP" "{\"spec\":\"$spec\"}"
  "${NF[@]}" write "$URI" $((n * 65536)) 65536 $((n + 40)) >/dev/null
  arm PUT "$RPC/restorePoints/bad$n?$CV" '{}'
  put=$STATUS err=$(echo "$BODY" | jq -r '.error | select(.) | .code + ": " + .message')
  if [ "$put" = 201 ]; then wait_op; err=$OP_STATUS$(echo "$BODY" | jq -r '.error | select(.) | ", " + .code + ": " + .message'); fi
  arm GET "$RPC/restorePoints/bad$n?$CV"
  state=$STATUS/$(echo "$BODY" | jq -r '.properties.provisioningState // "-"')
  fired=$(fired "${spec%%=*}")
  arm PUT "$FP" '{"spec":""}'
  case $state in 200/Failed | 404/-) ;; *) fired="$fired, $state" ;; esac
  check test "$fired" = 1 "$spec: the restore point fails, never Succeeded ($put $err; then GET $state)"
  take "good$n"
  check test "$OP_STATUS" = Succeeded "$spec cleared: the next restore point Succeeds and reads back as the disk"
done

# 5. meta.commit at a template deployment's PUT (deploy/engine.c invariant (1)):
# a clean 500 and no deployment; the retry is 201 and Succeeds.
DEP="$RG/providers/Microsoft.Resources/deployments/dep1?api-version=2021-04-01"
DEPBODY='{"properties":{"mode":"Incremental","template":{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[]}}}'
arm PUT "$FP" '{"spec":"meta.commit=eiox1"}'
arm PUT "$DEP" "$DEPBODY"
put=$STATUS
arm GET "$DEP"
check test "$put/$STATUS/$(fired meta.commit)" = 500/404/1 "meta.commit=eiox1: a deployment's PUT is a clean 500, no deployment recorded"
arm PUT "$FP" '{"spec":""}'
arm PUT "$DEP" "$DEPBODY"
put=$STATUS
wait_op
check test "$put/$OP_STATUS" = 201/Succeeded "the retry is 201 and Succeeds"

store_op storeVerify
check test "$STATUS/$(echo "$BODY" | jq -r .clean)" = 200/true \
  "the store verifies clean ($(echo "$BODY" | jq -c '{objectsChecked,badRecords,damagedObjects}'))"
finish
