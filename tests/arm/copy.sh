#!/usr/bin/env bash
# Cross-region copies of restore points, with two real regions on loopback.
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0\ndeadline = 20'
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/xc
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
MIB=1048576

arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
expect 201 "" "resource group"
mkdisk() { # NAME SIZE_GB
  arm PUT "$C/disks/$1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":'$2'}}'
  wait_op 1200
}
mkdisk os 1; mkdisk data 2
nbd_of() { arm GET "$C/disks/$1?$DV"; echo "$BODY" | jq -r .properties.vmrpExport.nbdTcpUri; }
OS=$(nbd_of os); DATA=$(nbd_of data)
python3 - "$VAR/os.img" "$VAR/data.img" <<'PY'
import random, sys
r = random.Random(7)
for path, size, n in ((sys.argv[1], 1 << 30, 40), (sys.argv[2], 2 << 30, 80)):
    with open(path, "wb") as f:
        f.truncate(size)
        for _ in range(n):  # scattered 1 MiB extents of half-compressible data
            f.seek(r.randrange(size >> 20) << 20)
            f.write(bytes(r.getrandbits(8) for _ in range(4096)) * 128 if r.random() < 0.5 else r.randbytes(1 << 20))
PY
nbdcopy --flush "$VAR/os.img" "$OS"; nbdcopy --flush "$VAR/data.img" "$DATA"
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os"}},
  "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$P'/disks/data"}}]}}}'
wait_op 1200
arm PUT "$C/restorePointCollections/src?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "source collection in eastus"
arm PUT "$C/restorePointCollections/src/restorePoints/rp1?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "rp1 of the eastus VM"

arm PUT "$C/restorePointCollections/dst?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/src"}}}'
expect 201 "" "target collection in westus whose source is the eastus collection (through eastus)"
check test "$(echo "$BODY" | jq -r .properties.source.location)" = eastus "source.location is eastus"
arm PUT "$C/restorePointCollections/dst/restorePoints/c1?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$P'/restorePointCollections/src/restorePoints/rp1"}}}'
expect 201 "" "copy of rp1: 201"
echo "$BODY" | jq -c .
wait_op 3000
check test "$OP_STATUS" = Succeeded "the copy succeeds"
arm GET "$C/restorePointCollections/dst/restorePoints/c1?$CV&\$expand=instanceView"
echo "$BODY" | jq .
finish
