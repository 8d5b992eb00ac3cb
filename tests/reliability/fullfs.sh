#!/usr/bin/env bash
# Full disk (docs/reliability.md "Full disk"): eastus's whole data directory
# (meta.db, stores, volumes) on a 96 MiB ext4 file system of its own (a loop
# mount: needs root, as CI runs), filled by filler files.
#  - 3 MiB left, less than they need: a restore point is accepted, then its
#    operation Failed with DiskFull saying the file system is full, the
#    restore point Failed (never Succeeded, never left Creating); a copy of
#    a westus restore point into eastus Failed, its replicationStatus saying
#    the store is full, westus untouched.
#  - Not a block left: NBD writes needing new blocks get ENOSPC and every
#    acknowledged write reads back byte for byte; a restore point and a copy
#    fail cleanly (500 DiskFull when their records cannot be written, else
#    Failed as above); ARM reads work; meta.db passes integrity_check.
#  - The fillers deleted, same daemon: NBD writes, a new restore point and
#    the failed copy retried succeed; GC and verify clean in both regions;
#    the disk, the restore points before and after, the copy and its source
#    read back byte for byte.
. "$VMRP_SRC/tests/lib/harness.sh"
[ "$(id -u)" = 0 ] || { echo "fullfs.sh mounts a file system: run as root"; exit 1; }
for t in mkfs.ext4 sqlite3 fallocate; do command -v "$t" >/dev/null || { echo "$t missing"; exit 1; }; done
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
start_regions
DATA=$VAR/eastus
pid=$(region_pid eastus)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
# eastus's state onto its own small file system; its log stays outside
mv "$DATA" "$VAR/eastus.before"
mkdir -p "$DATA" "$VAR/eastus-log"
mv "$VAR/eastus.before/vmrpd.log" "$VAR/eastus-log/vmrpd.log"
truncate -s 96M "$VAR/eastus.fs"
mkfs.ext4 -q -F -m 0 "$VAR/eastus.fs"
mount -o loop "$VAR/eastus.fs" "$DATA"
cleanup() {
  local rc=$?
  set +e
  VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null 2>&1
  umount "$DATA" 2>/dev/null || umount -l "$DATA"
  (exit $rc)
  harness_cleanup
}
trap cleanup EXIT
chmod 0700 "$DATA"
cp -a "$VAR/eastus.before/." "$DATA/"
rm -rf "$VAR/eastus.before"
ln -s "$VAR/eastus-log/vmrpd.log" "$DATA/vmrpd.log"
printf '\n[disks]\novercommit = 100\n' >>"$EAST_CONF"
restart_region eastus
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
G=/subscriptions/$SUB/resourceGroups/full
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
MIB=1048576
arm PUT "$EAST$G?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group"

mkdisk() { # NAME LOCATION
  arm PUT "$C/disks/$1?$DV" '{"location":"'"$2"'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
}
mkvm() { # NAME DISK LOCATION
  arm PUT "$C/virtualMachines/$1?$CV" '{"location":"'"$3"'","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/'$2'"}}}}}'
  wait_op
}
# nbdio URI OP...: python3-libnbd on the disk at URI; each OP is
# write:MODEL:OFF_MIB:N:SEED (FUA writes of N random 1 MiB blocks, each put
# in the model file once acknowledged, until one fails: prints "acked K
# ERRNO"; the failed block's range is unspecified — NBD's rule — so the
# model takes what the disk holds there) or read:MODEL ("same", or "differs
# at OFFSET": the first 128 MiB, where every write went, against the model)
nbdio() {
  /usr/bin/python3 - "$@" <<'PY'
import errno, random, sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
MIB = 1 << 20
for op in sys.argv[2:]:
    kind, model, *a = op.split(":")
    if kind == "write":
        off, n, seed = (int(x) for x in a)
        r = random.Random(seed)
        acked, err = 0, "none"
        with open(model, "r+b") as f:
            for i in range(n):
                block, at = r.randbytes(MIB), (off + i) * MIB
                try:
                    h.pwrite(block, at, nbd.CMD_FLAG_FUA)
                except nbd.Error as e:
                    err = errno.errorcode.get(e.errno, str(e.errno))
                    block = h.pread(MIB, at)
                f.seek(at); f.write(block)
                if err != "none":
                    break
                acked += 1
        print("acked", acked, err)
    else:
        with open(model, "rb") as f:
            bad = next((o for o in range(0, 128 * MIB, 4 * MIB) if h.pread(4 * MIB, o) != f.read(4 * MIB)), None)
        print("same" if bad is None else "differs at %d" % bad)
h.shutdown()
PY
}
model() { truncate -s 1G "$VAR/$1.model"; }
# rp COLL NAME [BODY]: PUT a restore point and wait for its operation, if
# it started one: $RP_STATUS, $RP_BODY (the PUT's answer), $OP_STATUS and
# the operation in $BODY
rp() {
  arm PUT "$C/restorePointCollections/$1/restorePoints/$2?$CV" "${3:-{\}}"
  RP_STATUS=$STATUS RP_BODY=$BODY OP_STATUS=none
  if grep -qi '^Azure-AsyncOperation:' "$HEADERS"; then wait_op 3000; fi
}
copy() { rp copies "$1" '{"properties":{"sourceRestorePoint":{"id":"'$P'/restorePointCollections/wrpc/restorePoints/wrp1"}}}'; }
state() { # COLL NAME: provisioningState of the restore point, or its HTTP status
  arm GET "$C/restorePointCollections/$1/restorePoints/$2?$CV"
  [ "$STATUS" = 200 ] && echo "$BODY" | jq -r .properties.provisioningState || echo "$STATUS"
}
drp() { # COLL RP → its disk restore point's ARM URL
  arm GET "$C/restorePointCollections/$1/restorePoints/$2?$CV"
  echo "$EAST$(echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id)"
}
store_op() { # BASE storeGc|storeVerify → the result in $BODY
  arm POST "$1/subscriptions/$SUB/providers/Microsoft.Vmrp/$2?api-version=2024-03-01"
  local loc; loc=$(header Location)
  for _ in $(seq 1200); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
}
fill() { # FILE MIB_LEFT: a filler that leaves MIB_LEFT MiB free (0: until full)
  if [ "$2" = 0 ]; then
    dd if=/dev/zero of="$DATA/$1" bs=64k status=none 2>/dev/null || true
  else
    fallocate -l $(( ($(df -k --output=avail "$DATA" | tail -1) / 1024 - $2) * MIB )) "$DATA/$1"
  fi
  sync -f "$DATA"
}
avail_kib() { df -k --output=avail "$DATA" | tail -1 | tr -d ' '; }

# ---- before: a VM in each region, its disk written, a restore point of each ----
mkdisk d1 eastus; mkvm vm1 d1 eastus
mkdisk w1 westus; mkvm wvm w1 westus
check test "$OP_STATUS" = Succeeded "a VM and its 1 GiB disk in each region"
D1=$(nbd_uri "$C/disks/d1"); W1=$(nbd_uri "$C/disks/w1")
model d1; model w1
check test "$(nbdio "$D1" "write:$VAR/d1.model:0:16:1")" = "acked 16 none" "16 MiB written to the eastus disk"
check test "$(nbdio "$W1" "write:$VAR/w1.model:0:12:2")" = "acked 12 none" "12 MiB to the westus disk"
arm PUT "$C/restorePointCollections/rpc?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "an eastus collection"
arm PUT "$C/restorePointCollections/wrpc?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/virtualMachines/wvm"}}}'
expect 201 "" "a westus collection"
arm PUT "$C/restorePointCollections/copies?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/restorePointCollections/wrpc"}}}'
expect 201 "" "an eastus collection for copies of the westus one"
rp rpc rp1
check test "$OP_STATUS" = Succeeded "restore point rp1 of the eastus VM"
cp --sparse=always "$VAR/d1.model" "$VAR/rp1.model"
rp wrpc wrp1
check test "$OP_STATUS" = Succeeded "restore point wrp1 of the westus VM"
RP1=$(drp rpc rp1)
check test "$(nbdio "$D1" "write:$VAR/d1.model:24:6:3")" = "acked 6 none" "6 MiB more on the eastus disk, not in rp1"
WEST_BEFORE=$(store_dump westus)

# ---- nearly full: 3 MiB left, less than the capture or the copy needs ----
fill filler1 3
rp rpc rp2
check test "$RP_STATUS/$OP_STATUS/$(echo "$BODY" | jq -r .error.code)" = 201/Failed/DiskFull \
  "a restore point needing more than is left: 201, then its operation Failed with DiskFull"
check grep -q "data file system is full" <<<"$(echo "$BODY" | jq -r .error.message)" \
  "whose message says the file system is full ($(echo "$BODY" | jq -r .error.message))"
arm GET "$C/restorePointCollections/rpc/restorePoints/rp2?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r '.properties | .provisioningState + " " + .instanceView.statuses[0].code + " " + ([.instanceView.diskRestorePoints[].replicationStatus.status.code] | join(","))')" \
  = "Failed ProvisioningState/failed/DiskFull CaptureState/failed" "the restore point is Failed (DiskFull), not left Creating, and so is its disk restore point"
copy c1
check test "$RP_STATUS/$OP_STATUS/$(echo "$BODY" | jq -r .error.code)" = 201/Failed/VMRestorePointCopyFailed \
  "a copy of the westus restore point into eastus: 201, then its operation Failed"
arm GET "$C/restorePointCollections/copies/restorePoints/c1?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r '.properties.provisioningState + "/" + ([.properties.instanceView.diskRestorePoints[].replicationStatus.status.message] | join(","))')" \
  = "Failed/The store of this region is full." "the copy is Failed, its disk restore point's replicationStatus says the store is full"
check test "$(store_dump westus)" = "$WEST_BEFORE" "nothing changed in westus"

# ---- full: not a block left ----
fill filler2 0
check test "$(avail_kib)" -lt 64 "the file system is full ($(avail_kib) KiB left)"
out=$(nbdio "$D1" "write:$VAR/d1.model:100:8:4")
check grep -q "^acked 0 ENOSPC$" <<<"$out" "an NBD write needing new blocks gets ENOSPC ($out)"
check test "$(nbdio "$D1" "read:$VAR/d1.model")" = same "every acknowledged write reads back byte for byte"
# outcome COLL NAME: how a restore point PUT that found the file system
# full ended — refused at once (500 DiskFull: meta.db could not take its
# records; nothing of it left), or accepted and its operation Failed (the
# WAL had room for the records, the store none for the data)
outcome() {
  if [ "$RP_STATUS" = 500 ]; then
    echo "refused $(echo "$RP_BODY" | jq -r .error.code) $(state "$1" "$2")"
  else
    echo "accepted $OP_STATUS $(state "$1" "$2")"
  fi
}
rp rpc rp3
msg=$(if [ "$RP_STATUS" = 500 ]; then echo "$RP_BODY"; else echo "$BODY"; fi | jq -r .error.message)
out=$(outcome rpc rp3)
check grep -qx "refused DiskFull 404\|accepted Failed Failed" <<<"$out" "a restore point now fails cleanly ($out)"
check grep -q "data file system is full" <<<"$msg" "saying the file system is full ($msg)"
copy c2
out=$(outcome copies c2)
check grep -qx "refused DiskFull 404\|accepted Failed Failed" <<<"$out" "and so does a copy ($out)"
arm GET "$C/disks/d1?$DV"
expect 200 "" "ARM reads work: the disk"
arm GET "$C/restorePointCollections/rpc?$CV&\$expand=restorePoints"
check test "$STATUS/$(echo "$BODY" | jq -r '[.properties.restorePoints[] | .name + ":" + .properties.provisioningState] | join(",")')" \
  = "200/rp1:Succeeded,rp2:Failed$([ "$(state rpc rp3)" = Failed ] && echo ,rp3:Failed)" "the collection's restore points"
check test "$(sqlite3 "$DATA/meta.db" "PRAGMA integrity_check")" = ok "meta.db passes integrity_check"

# ---- space returns: no restart ----
rm "$DATA/filler1" "$DATA/filler2"
sync -f "$DATA"
check test "$(nbdio "$D1" "write:$VAR/d1.model:100:4:5")" = "acked 4 none" "NBD writes succeed again"
rp rpc rp4
check test "$RP_STATUS/$OP_STATUS" = 201/Succeeded "a new restore point Succeeds"
cp --sparse=always "$VAR/d1.model" "$VAR/rp4.model"
arm DELETE "$C/restorePointCollections/copies/restorePoints/c1?$CV"
if grep -qi '^Azure-AsyncOperation:' "$HEADERS"; then wait_op 3000; fi
copy c1
check test "$RP_STATUS/$OP_STATUS" = 201/Succeeded "the failed copy, deleted and retried, Succeeds"
for r in "$EAST" "$WEST"; do
  store_op "$r" storeGc
  check test "$STATUS" = 200 "a store GC at $r"
  store_op "$r" storeVerify
  check test "$STATUS/$(echo "$BODY" | jq -r .clean)" = 200/true "the stores at $r verify clean ($(echo "$BODY" | jq -c '{objectsChecked,badRecords}'))"
done
check test "$(nbdio "$D1" "read:$VAR/d1.model")" = same "the disk reads back byte for byte"
check test "$(nbdio "$(nbd_uri "$RP1")" "read:$VAR/rp1.model")" = same "rp1, captured before, too"
check test "$(nbdio "$(nbd_uri "$(drp rpc rp4)")" "read:$VAR/rp4.model")" = same "and rp4, captured after"
check test "$(nbdio "$(nbd_uri "$(drp copies c1)")" "read:$VAR/w1.model")" = same "the copy holds the westus disk"
check test "$(nbdio "$(nbd_uri "$(drp wrpc wrp1)" )" "read:$VAR/w1.model")" = same "and westus's own restore point is intact"
check test "$(sqlite3 "$DATA/meta.db" "PRAGMA integrity_check")" = ok "meta.db passes integrity_check"
finish
