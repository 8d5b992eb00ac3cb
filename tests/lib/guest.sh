# guest.sh — shared by the real-guest tests (tests/arm/guest*.sh): the tools
# and kernel they need, the VM they boot and its life cycle.  Source it after
# harness.sh.
#
#   guest_prereqs TOOL...   checks the tools (fails when one is missing: CI has them all) and
#                           finds Debian's kernel with its modules: KERNEL, KVER
#   guest_vm                resource group "guest", disks os/data1/data2 (1 GiB),
#                           VM vm1 with them, collection rpc: DV CV RG C RGID
#                           DISKS RPC
#   guest_boot INITRD [ARG...]  boots vm1 under TCG with scripts/vm-qemu's
#                           command line (no network, serial console to
#                           $VAR/serial.log, the kernel's command line with
#                           vmrp.fs_mib=$FS_MIB) plus ARGs; QEMU = its pid; an
#                           EXIT trap stops it before the harness cleans up
#   guest_ready DESC        waits for GUEST-READY (checks DESC), or fails with
#                           the guest's output
#   guest_stop              SIGTERM (QEMU shuts down cleanly), SIGKILL after 30 s
#   acked                   the last file the guest's writer fsync'd
FS_MIB=${FS_MIB:-64}

guest_prereqs() {
  for tool in qemu-system-x86_64 cpio mke2fs e2fsck debugfs nbdcopy "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool missing (scripts/deps test)"; exit 1; }
  done
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || { echo "busybox-static missing"; exit 1; }
  KERNEL=; KVER=
  for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
    local v=${k#/boot/vmlinuz-}
    [ -r "$k" ] && [ -d "/lib/modules/$v" ] && { KERNEL=$k; KVER=$v; }
  done
  [ -n "$KERNEL" ] || { echo "no readable /boot/vmlinuz-* with modules (linux-image-amd64)"; exit 1; }
}

guest_vm() {
  DV=api-version=2024-03-02
  CV=api-version=2024-07-01
  RG=$EAST/subscriptions/$SUB/resourceGroups/guest
  C=$RG/providers/Microsoft.Compute
  RGID=/subscriptions/$SUB/resourceGroups/guest
  DISKS=$RGID/providers/Microsoft.Compute/disks
  RPC=$C/restorePointCollections/rpc
  arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
  for d in os data1 data2; do
    arm PUT "$C/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
    wait_op 1200
  done
  arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","caching":"None","managedDisk":{"id":"'$DISKS'/os"}},
    "dataDisks":[{"lun":0,"name":"data1","createOption":"Attach","caching":"None","managedDisk":{"id":"'$DISKS'/data1"}},
                 {"lun":1,"name":"data2","createOption":"Attach","caching":"None","managedDisk":{"id":"'$DISKS'/data2"}}]}}}'
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "a VM with an OS disk and two data disks"
  arm PUT "$RPC?api-version=2022-08-01" \
    '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
  expect 201 "" "a restore point collection for it"
}

# TCG only: /dev/kvm is unusably slow on these machines.
guest_boot() {
  local initrd=$1
  shift
  VMRP_QEMU_SMP=1 VMRP_QEMU_MEM=512 "$VMRP_SRC/scripts/vm-qemu" -e "$ENDPOINTS" -r eastus guest vm1 > "$VAR/qemu.cmd"
  sed -i -e 's/-accel kvm -accel tcg/-accel tcg/' -e 's/-nic user,model=virtio-net-pci/-nic none/' \
    -e "s|-nographic|$* -display none -serial file:$VAR/serial.log -no-reboot -kernel $KERNEL -initrd $initrd -append 'console=ttyS0 quiet panic=-1 vmrp.fs_mib=$FS_MIB'|" \
    "$VAR/qemu.cmd"
  : > "$VAR/serial.log"
  bash -c "exec $(sed 's/\\$//' "$VAR/qemu.cmd" | tr '\n' ' ')" </dev/null >"$VAR/qemu.out" 2>&1 &
  QEMU=$!
  trap 'rc=$?; set +e; guest_stop; (exit $rc); harness_cleanup' EXIT
}

guest_stop() {
  [ -n "${QEMU:-}" ] || return 0
  kill -TERM "$QEMU" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$QEMU" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$QEMU" 2>/dev/null || true
  wait "$QEMU" 2>/dev/null || true
  QEMU=
}

guest_ready() {
  local t0; t0=$(date +%s)
  for _ in $(seq 1800); do
    grep -a -q -E 'GUEST-READY|GUEST-ERROR' "$VAR/serial.log" && break
    kill -0 "$QEMU" 2>/dev/null || break
    sleep 0.1
  done
  STATUS=; BODY=
  check grep -a -q GUEST-READY "$VAR/serial.log" "$1 ($(( $(date +%s) - t0 )) s)"
  if ! grep -a -q GUEST-READY "$VAR/serial.log"; then
    echo "--- qemu: $(cat "$VAR/qemu.out")"; echo "--- serial:"; tail -n 40 "$VAR/serial.log"; finish; exit 1
  fi
}

acked() { tr -d '\r' < "$VAR/serial.log" | awk '/^FSYNCED [0-9]/ {n = $2 + 0} END {print n + 0}'; }
