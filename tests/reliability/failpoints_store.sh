#!/usr/bin/env bash
# Failpoints end to end (docs/reliability.md "Failpoints"), part 2: the
# chunk store, uploads and copies through failures armed by the admin call
# (both regions say [testing] failpoints = on), and the service recovering:
#  - cas.pack.fsync=eio: the capture fails and the store takes no writes
#    until a restart (a failed fsync is never retried), then captures Succeed;
#  - cas.index.write=enospc during a GC: it finishes and captures go on;
#  - cas.gc.unlink=eio: GC fails cleanly, the next one finishes, the packs it
#    could not delete are collected after a restart, the restore points kept
#    read back as taken and the store verifies clean;
#  - blob.page.write=eio: Put Page is a clean 500, the retry lands;
#  - repl.record.write=enospc armed in westus: a copy there ends Failed, the
#    next one Succeeds and reads back as the source.
. "$VMRP_SRC/tests/lib/harness.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
export VMRP_CONFIG_EXTRA="[testing]\nfailpoints = on"
start_regions
TOKEN=$(token "$EAST")
. "$VMRP_SRC/tests/lib/failpoints.sh"
fp_vm
URI=$(nbd_uri "$C/disks/os")
for i in $(seq 0 7); do "${NF[@]}" write "$URI" $((i * 1048576 + 4096)) 200000 $((i + 10)) >/dev/null; done
for k in 1 2 3; do
  "${NF[@]}" write "$URI" $((k * 65536)) 65536 $((k + 40)) >/dev/null
  take "base$k"
  check test "$OP_STATUS" = Succeeded "restore point base$k Succeeds and reads back as the disk"
done

# 1. A failed fsync of a pack: the capture fails and the store takes no more
#    writes until the region starts again (never retried blindly, store.c
#    invariant (1)); then the next capture Succeeds.
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

# 2. An index file that cannot be written (a full disk) stops nothing: GC
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

# 3. GC whose deletions fail (cas.gc.unlink) fails cleanly and deletes
#    nothing live; the next GC finishes (invariant (6)).
for rp in base1 base2 fsync3; do arm DELETE "$RPC/restorePoints/$rp?$CV"; wait_op; done
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
for rp in base3 idx1; do
  arm GET "$RPC/restorePoints/$rp/diskRestorePoints?$DV"
  drp=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[0].id')")
  [ "$("${NF[@]}" sha "$drp" 0 $SPAN)" = "${SHA[$rp]}" ] || { bad=$((bad + 1)); echo "$rp reads back wrong"; }
done
check test "$bad" = 0 "the restore points kept read back as when they were taken"
store_op storeVerify
check test "$STATUS/$(echo "$BODY" | jq -r .clean)" = 200/true \
  "the store verifies clean ($(echo "$BODY" | jq -c '{objectsChecked,badRecords,damagedObjects}'))"

# 4. An upload (Put Page through a Write grant) with blob.page.write=eio: a
#    clean 500 with its x-ms-error-code, nothing written; the retry is 201 and
#    the disk reads back with exactly that page.
MIB=$((1 << 20))
arm PUT "$C/disks/up?$DV" \
  '{"location":"eastus","properties":{"creationData":{"createOption":"Upload","uploadSizeBytes":'$((32 * MIB + 512))'}}}'
wait_op
arm POST "$C/disks/up/beginGetAccess?$DV" '{"access":"Write","durationInSeconds":600}'
loc=$(header Location); wait_op; arm GET "$loc"
WSAS=$(echo "$BODY" | jq -r .accessSAS)
put_page() {
  curl -s --cacert "$CA" -o "$VAR/page.out" -D "$VAR/page.h" -w '%{http_code}' -X PUT -H 'x-ms-page-write: update' \
    -H "x-ms-range: bytes=$MIB-$((MIB + 65535))" --data-binary @<(head -c 65536 /dev/zero | tr '\0' '\132') "$WSAS&comp=page"
}
arm PUT "$FP" '{"spec":"blob.page.write=eiox1"}'
code=$(put_page)
check test "$code/$(grep -i '^x-ms-error-code:' "$VAR/page.h" | tr -d '\r' | cut -d' ' -f2)/$(fired blob.page.write)" \
  = 500/InternalError/1 "blob.page.write=eiox1: Put Page is a clean 500 InternalError"
check test "$(put_page)" = 201 "the retry is 201"
arm POST "$C/disks/up/endGetAccess?$DV"; wait_op
UP=$(nbd_uri "$C/disks/up")
check test "$("${NF[@]}" sha "$UP" 0 $((2 * MIB)))" = \
  "$({ head -c $MIB /dev/zero; head -c 65536 /dev/zero | tr '\0' '\132'; head -c $((MIB - 65536)) /dev/zero; } | sha256sum | cut -d' ' -f1)" \
  "the uploaded disk holds exactly the page written"

# 5. A copy to westus whose received records cannot be stored there
#    (repl.record.write, armed in westus): it ends Failed; the next copy
#    Succeeds and reads back as the source.
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
