#!/usr/bin/env bash
# Failpoints end to end (docs/reliability.md "Failpoints"): armed from the
# environment and by the admin call, each makes a real I/O site fail with a
# clean error, and the service recovers once it is cleared:
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
#  - cas.pack.fsync=eio: the capture fails and the store takes no writes
#    until a restart (a failed fsync is never retried), then captures Succeed;
#  - cas.index.write=enospc during a GC: it finishes and captures go on;
#  - cas.gc.unlink=eio: GC fails cleanly, the next one finishes, the packs it
#    could not delete are collected after a restart, the restore points kept
#    read back as taken and the store verifies clean;
#  - repl.record.write=enospc armed in westus: a copy there ends Failed, the
#    next one Succeeds and reads back as the source.
. "$VMRP_SRC/tests/lib/harness.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
NF=("/usr/bin/python3" "$VMRP_SRC/tests/lib/nbd_fault.py")
start_regions
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
FP="$EAST/providers/Microsoft.Vmrp/failpoints?$DV"
RG=$EAST/subscriptions/$SUB/resourceGroups/fp
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/fp
store_op() { # storeGc|storeVerify → its result (or error) in $STATUS, $BODY
  arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/$1?$DV"
  local loc; loc=$(header Location)
  for _ in $(seq 600); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
}
fired() { # SITE → how often it fired (the admin call's GET)
  arm GET "$FP"
  echo "$BODY" | jq -r --arg s "$1" '.failpoints[] | select(.site == $s) | .fired'
}

# 1. Not configured: the path does not exist.
arm GET "$FP"
expect 404 NotFound "without [testing] failpoints = on: GET failpoints is 404"
arm PUT "$FP" '{"spec":"vol.data.write=eio"}'
expect 404 NotFound "... and PUT is 404"

arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
arm PUT "$C/disks/os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/os"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" \
  '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
expect 201 "" "a VM with one disk and its restore point collection"
RPC=$C/restorePointCollections/rpc

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
declare -A SHA # restore point → the SHA-256 of the disk it holds
SPAN=$((16 << 20)) # every write of the test lands in the disk's first 16 MiB: they are compared
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
  arm PUT "$RPC/restorePoints/good$n?$CV" '{}'
  wait_op
  check test "$OP_STATUS" = Succeeded "$spec cleared: the next restore point Succeeds"
  arm GET "$RPC/restorePoints/good$n/diskRestorePoints?$DV"
  drp=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[0].id')")
  SHA[good$n]=$("${NF[@]}" sha "$URI" 0 $SPAN)
  check test "$("${NF[@]}" sha "$drp" 0 $SPAN)" = "${SHA[good$n]}" "... and its disk restore point reads back as the disk"
done

# 5. A failed fsync of a pack: the capture fails and the store takes no more
#    writes until the region starts again (never retried blindly, store.c
#    invariant (1)); then the next capture Succeeds.
take() { # NAME → OP_STATUS; the disk restore point's bytes checked against the disk
  arm PUT "$RPC/restorePoints/$1?$CV" '{}'
  wait_op
  [ "$OP_STATUS" = Succeeded ] || return 0
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  local drp; drp=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[0].id')")
  SHA[$1]=$("${NF[@]}" sha "$URI" 0 $SPAN)
  [ "$("${NF[@]}" sha "$drp" 0 $SPAN)" = "${SHA[$1]}" ] || OP_STATUS="Succeeded, but its bytes differ from the disk's"
}
arm PUT "$FP" '{"spec":"cas.pack.fsync=eiox1"}'
"${NF[@]}" write "$URI" 524288 65536 77 >/dev/null
take fsync1
check test "$OP_STATUS/$(fired cas.pack.fsync)" = Failed/1 "cas.pack.fsync=eiox1: the capture fails"
arm PUT "$FP" '{"spec":""}'
take fsync2
check test "$OP_STATUS" = Failed "cleared: the store still takes no writes (a failed fsync is not retried)"
check grep -q 'fsync of pack .* failed: Input/output error; refusing further writes' "$VAR/eastus/vmrpd.log" \
  "the log says why"
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
URI=$(nbd_uri "$C/disks/os")
take fsync3
check test "$OP_STATUS" = Succeeded "after a restart the next capture Succeeds and reads back as the disk"

# 6. An index file that cannot be written (a full disk) stops nothing: GC
#    finishes, captures go on, the next start writes it (invariant (3)).
arm PUT "$FP" '{"spec":"cas.index.write=enospcx1"}'
store_op storeGc
check test "$STATUS/$(fired cas.index.write)" = 200/1 "storeGc with cas.index.write=enospcx1 finishes"
arm PUT "$FP" '{"spec":""}'
"${NF[@]}" write "$URI" 589824 65536 78 >/dev/null
take idx1
check test "$OP_STATUS" = Succeeded "and the next capture Succeeds and reads back"
check grep -q 'its index file could not be written (No space left on device); it is rebuilt at the next open' \
  "$VAR/eastus/vmrpd.log" "the log says the index is rebuilt at the next open"
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
URI=$(nbd_uri "$C/disks/os")

# 7. GC whose deletions fail (cas.gc.unlink) fails cleanly and deletes
#    nothing live; the next GC finishes (invariant (6)).
for rp in good1 good2 fsync3; do arm DELETE "$RPC/restorePoints/$rp?$CV"; wait_op; done
arm PUT "$FP" '{"spec":"cas.gc.unlink=eiox1"}'
store_op storeGc
check test "$STATUS/$(echo "$BODY" | jq -r .error.code)/$(fired cas.gc.unlink)" = 409/StoreGcFailed/1 \
  "storeGc with cas.gc.unlink=eiox1 fails ($(echo "$BODY" | jq -r .error.message))"
arm PUT "$FP" '{"spec":""}'
store_op storeGc
check test "$STATUS" = 200 "the next storeGc finishes"
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
store_op storeGc
check test "$STATUS/$(echo "$BODY" | jq -r '.packsDeleted + .packsRewritten > 0')" = 200/true \
  "the packs it could not delete are found again at the next start and collected ($(echo "$BODY" | jq -c '{packsDeleted,packsRewritten,bytesFreed}'))"
bad=0
for rp in good3 idx1; do
  arm GET "$RPC/restorePoints/$rp/diskRestorePoints?$DV"
  drp=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[0].id')")
  [ "$("${NF[@]}" sha "$drp" 0 $SPAN)" = "${SHA[$rp]}" ] || { bad=$((bad + 1)); echo "$rp reads back wrong"; }
done
check test "$bad" = 0 "the restore points kept read back as when they were taken"
store_op storeVerify
check test "$STATUS/$(echo "$BODY" | jq -r .clean)" = 200/true \
  "the store verifies clean ($(echo "$BODY" | jq -c '{objectsChecked,badRecords,damagedObjects}'))"

# 8. A copy to westus whose received records cannot be stored there
#    (repl.record.write, armed in westus): it ends Failed; the next copy
#    Succeeds and reads back as the source.
kill9_region westus
printf '\n[testing]\nfailpoints = on\n' >> "$WEST_CONF"
restart_region westus
WFP="$WEST/providers/Microsoft.Vmrp/failpoints?$DV"
EAST_TOKEN=$(token "$EAST")
TOKEN=$(token "$WEST")
arm PUT "$WFP" '{"spec":"repl.record.write=enospc"}'
expect 200 "" "westus arms repl.record.write=enospc (its own process: the call is not forwarded)"
WEST_TOKEN=$TOKEN TOKEN=$EAST_TOKEN
arm PUT "$C/restorePointCollections/dst?$CV" \
  '{"location":"westus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/restorePointCollections/rpc"}}}'
expect 201 "" "a westus collection copying from the eastus one"
copy() { # NAME: a copy of idx1 into dst; OP_STATUS
  arm PUT "$C/restorePointCollections/dst/restorePoints/$1?$CV" \
    '{"properties":{"sourceRestorePoint":{"id":"'$RGID'/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/idx1"}}}'
  wait_op 3000
}
copy c1
err=$(echo "$BODY" | jq -r '.error | select(.) | .code + ": " + .message')
TOKEN=$WEST_TOKEN
w_fired=$(arm GET "$WFP"; echo "$BODY" | jq -r '.failpoints[] | select(.site == "repl.record.write") | .fired')
arm PUT "$WFP" '{"spec":""}'
TOKEN=$EAST_TOKEN
check test "$OP_STATUS/$([ "${w_fired:-0}" -gt 0 ] && echo fired)" = Failed/fired "the copy fails ($err)"
copy c2
check test "$OP_STATUS" = Succeeded "cleared: the next copy Succeeds"
arm GET "$C/restorePointCollections/dst/restorePoints/c2/diskRestorePoints?$DV"
drp=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[0].id')")
check test "$("${NF[@]}" sha "$drp" 0 $SPAN)" = "${SHA[idx1]}" "... and reads back in westus as the source restore point"
finish
