# templates.sh — what the template deployment tests (tests/arm/templates_*.sh)
# share: a source VM whose disks hold known bytes, and byte checks over NBD.
# Source it after harness.sh; call after start_regions with $TOKEN set.

# source_vm RG: resource group RG (eastus) with two 1 GiB disks, os and data,
# holding known bytes (os: 0xa1 at 0 for 1 MiB, 0xa2 at 700 MiB for 64 KiB;
# data: 0xb1 at 4 MiB, 0xb2 at 1023 MiB, 1 MiB each) and a VM vm1 with them
# attached (data at lun 0); sets VMID.
source_vm() {
  local rgid=/subscriptions/$SUB/resourceGroups/$1 d
  local cid=$rgid/providers/Microsoft.Compute
  arm PUT "$EAST$rgid?api-version=2021-04-01" '{"location":"eastus"}'
  for d in os data; do
    arm PUT "$EAST$cid/disks/$d?api-version=2024-03-02" \
      '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
    wait_op
  done
  qemu-io -f raw -c "write -P 0xa1 0 1M" -c "write -P 0xa2 700M 64k" "$(nbd_uri "$EAST$cid/disks/os")" >/dev/null
  qemu-io -f raw -c "write -P 0xb1 4M 1M" -c "write -P 0xb2 1023M 1M" "$(nbd_uri "$EAST$cid/disks/data")" >/dev/null
  VMID=$cid/virtualMachines/vm1
  arm PUT "$EAST$VMID?api-version=2024-07-01" '{"location":"eastus","properties":{
    "hardwareProfile":{"vmSize":"Standard_D2s_v3"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$cid/disks/os'"}},
    "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$cid/disks/data'"}}]}}}'
  wait_op
  check test "$OP_STATUS" = Succeeded "a VM with two disks holding known bytes"
}

# has_bytes URI PATTERN OFFSET LENGTH: the range reads as PATTERN (OFFSET and
# LENGTH as qemu-io takes them: 4M, 64k, ...).
has_bytes() {
  local out len; len=$(numfmt --from=iec "${4^^}")
  out=$(qemu-io -r -f raw -c "read -P $2 $3 $4" "$1" 2>&1) || return 1
  grep -q "^read $len/$len bytes" <<<"$out" && ! grep -qi "fail" <<<"$out"
}

# same_disk A B: the two NBD URIs hold the same bytes over the smaller one,
# and the rest of the larger reads as zeros (qemu-img compare).
same_disk() { qemu-img compare -q -f raw -F raw "$1" "$2"; }

# lower STRING: in lower case (ids are compared case-insensitively, as ARM does)
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }

# az_fail DESCRIPTION: a failed az command, with what it printed on stderr
# (the caller sends that to $VAR/az.err).
az_fail() { STATUS=; BODY=$(cat "$VAR/az.err"); fail "$1"; }

# thin_provisioning GB: before start_regions, lets the regions' disks add up
# to GB (RestoreVMFromRestorePoint.json asks for two 1024 GB disks) on this
# machine's file system, whatever its size: [disks] overcommit, at least its
# default of 10.  The disks stay sparse; only what is written takes space.
thin_provisioning() {
  local fs_gb; fs_gb=$(df -BG --output=size "$VAR" | tail -n1 | tr -dc 0-9)
  local x=$(( $1 / fs_gb + 1 ))
  [ "$x" -ge 10 ] || x=10
  export VMRP_CONFIG_EXTRA="[disks]\novercommit = $x"
}
