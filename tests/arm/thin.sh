#!/usr/bin/env bash
# Thin provisioning: disks are sparse, so the region's disks may add up to
# [disks] overcommit × the size of its volumes' file system — past that a
# disk PUT or a resize is 400 OperationNotAllowed and nothing is stored — and
# a disk shows what it takes (properties.vmrpExport.allocatedBytes).  When the
# file system fills, writes fail cleanly: NBD WRITE gets ENOSPC, SAS Put Page
# 500 InternalError; every write acknowledged before reads back, the daemon
# stays up, and once space is freed (TRIM) writes succeed again.
# The volumes live on a 48 MiB tmpfs (needs root, to mount it).
. "$VMRP_SRC/tests/lib/harness.sh"
[ "$(id -u)" = 0 ] || { echo "thin.sh mounts a tmpfs: run as root"; exit 1; }
start_regions
MNT=$VAR/eastus/volumes
pid=$(region_pid eastus)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check test -z "$(ls -A "$MNT")" "no volume yet"
mount -t tmpfs -o size=48m,mode=0700 vmrp-thin "$MNT"
trap 'rc=$?; set +e; umount -l "$MNT" 2>/dev/null; (exit $rc); harness_cleanup' EXIT
printf '\n[disks]\novercommit = 100\n' >>"$EAST_CONF"
restart_region eastus
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
RG=$EAST/subscriptions/$SUB/resourceGroups/thin
D=$RG/providers/Microsoft.Compute/disks
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group"

# ---- overcommit: 4 GB on a 48 MiB file system, up to 100 × 48 MiB ----
arm PUT "$D/big?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":4}}'
expect 202 "" "a 4 GB disk on a 48 MiB file system (thin)"
wait_op
check test "$OP_STATUS" = Succeeded "created"
arm GET "$D/big?$DV"
check test "$(echo "$BODY" | jq '.properties.diskSizeGB, (.properties.vmrpExport.allocatedBytes < 1048576)' | tr '\n' ,)" \
  = "4,true," "diskSizeGB 4, allocatedBytes under 1 MiB"
BEFORE=$(store_dump eastus)
arm PUT "$D/more?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 OperationNotAllowed "1 GB more: past 100 × 48 MiB"
check grep -q "overcommit" <<<"$(echo "$BODY" | jq -r .error.message)" "the message names the overcommit limit"
arm PATCH "$D/big?$DV" '{"properties":{"diskSizeGB":5}}'
expect 400 OperationNotAllowed "growing the disk past the limit"
check test "$(store_dump eastus)" = "$BEFORE" "nothing stored or changed"

# ---- the file system fills: NBD ----
TOKEN_URI=$(nbd_uri "$D/big" unix Write) || { arm POST "$D/big/vmrpGrantNbdAccess?$DV" '{"access":"Write"}'; fail "an NBD grant on the disk"; }
out=$(/usr/bin/python3 - "$TOKEN_URI" <<'EOF' 2>&1
import errno, sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
MIB = 1 << 20
acked, err = [], None
for i in range(64):
    block = bytes([i + 1]) * MIB
    try:
        h.pwrite(block, i * MIB, nbd.CMD_FLAG_FUA)
        acked.append(i)
    except nbd.Error as e:
        err = e.errno
        break
bad = [i for i in acked if h.pread(MIB, i * MIB) != bytes([i + 1]) * MIB]
print("enospc" if err in (errno.ENOSPC, "ENOSPC") else "error %s" % err, len(acked) >= 30, "lost %d" % len(bad))
h.trim(32 * MIB, 0)  # free half of it
h.pwrite(b"\x7f" * MIB, 40 * MIB, nbd.CMD_FLAG_FUA)
print("after trim", h.pread(MIB, 40 * MIB) == b"\x7f" * MIB)
h.shutdown()
EOF
)
check test "$out" = $'enospc True lost 0\nafter trim True' "NBD: a write past the full file system gets ENOSPC, every acknowledged write reads back, a TRIM makes room ($out)"

# ---- the file system fills: SAS Put Page ----
arm PUT "$D/up?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Upload","uploadSizeBytes":20972032}}}'
wait_op
arm POST "$D/up/beginGetAccess?$DV" '{"access":"Write","durationInSeconds":600}'
LOCATION=$(header Location); wait_op; arm GET "$LOCATION"
SAS=$(echo "$BODY" | jq -r .accessSAS)
fill=$(/usr/bin/python3 - "$TOKEN_URI" <<'EOF' 2>&1
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
n = 0
try:
    for i in range(64):
        h.pwrite(b"\x01" * (1 << 20), (64 + i) << 20, nbd.CMD_FLAG_FUA); n += 1
except nbd.Error:
    pass
print("full after", n)
EOF
)
check grep -q "full after" <<<"$fill" "filled the file system again through NBD"
code=$(curl -s --cacert "$CA" -o "$VAR/put" -w '%{http_code}' -X PUT -H 'x-ms-blob-type: PageBlob' -H 'x-ms-page-write: update' \
  -H 'x-ms-range: bytes=1048576-2097151' -H 'x-ms-version: 2021-08-06' --data-binary @<(head -c 1048576 /dev/urandom) \
  "${SAS}&comp=page")
check test "$code" = 500 "SAS Put Page on the full file system: 500"
check grep -q "file system is full" "$VAR/put" "with an error body that says the file system is full"
arm GET "$D/big?$DV"
expect 200 "" "the daemon is up and answers"
check test "$(echo "$BODY" | jq '.properties.vmrpExport.allocatedBytes > 30000000')" = true "allocatedBytes shows what the disk takes now"
finish
