#!/usr/bin/env bash
# A real guest: qemu-system-x86_64 -accel tcg boots Debian's kernel with a
# busybox initramfs built here (tests/guest/) against the VM's vmrp disks over
# NBD (the command line comes from scripts/vm-qemu).  The guest makes an ext4
# file system on each of its two data disks and writes and fsyncs files f1,
# f2, ... alternately to them, reporting "FSYNCED n" on the serial console
# once file n and its directory are fsync'd.  Restore points are taken through
# ARM while it writes.  Every disk restore point (read over NBD with nbdcopy),
# and the disks restored from the last restore point (createOption Restore),
# must replay its journal and then pass e2fsck -fn, and hold every file
# fsync'd before its restore point's PUT was sent, byte for byte.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/guest.sh"
guest_prereqs
NRP=${VMRP_GUEST_RESTORE_POINTS:-3}

start_regions
TOKEN=$(token "$EAST")
guest_vm

# The guest: initramfs built here; the qemu command line from scripts/vm-qemu.
"$VMRP_SRC/tests/guest/mkinitramfs.sh" "$KVER" "$VAR/initrd.gz"
check test -s "$VAR/initrd.gz" "initramfs built (busybox, mke2fs, virtio + ext4 modules of $KVER)"
guest_boot "$VAR/initrd.gz"
check grep -q 'id=lun1,cache=none' "$VAR/qemu.cmd" "scripts/vm-qemu prints the VM's disks as virtio NBD drives (cache=none for caching None)"
check grep -q 'virtio-blk-pci,drive=lun1,serial=lun1' "$VAR/qemu.cmd" "with the lun as the disk's serial"
guest_ready "the guest booted and made ext4 on both NBD data disks"
for _ in $(seq 600); do [ "$(acked)" -ge 20 ] && break; sleep 0.1; done

# Restore points while the guest writes; ACKED[k] = the last file fsync'd
# before the PUT was sent.
declare -A ACKED
bad=0 during=0
for k in $(seq 1 "$NRP"); do
  sleep 1
  ACKED[$k]=$(acked)
  arm PUT "$RPC/restorePoints/rp$k?$CV" '{}'
  put=$STATUS
  wait_op 1200
  after=$(acked)
  echo "# rp$k: PUT $put, $OP_STATUS; files fsync'd before the PUT: ${ACKED[$k]}, when it finished: $after"
  [ "$put" = 201 ] && [ "$OP_STATUS" = Succeeded ] || bad=$((bad + 1))
  [ "$after" -gt "${ACKED[$k]}" ] && during=$((during + 1))
done
sleep 1
final=$(acked)
check test "$bad" = 0 "$NRP restore points taken through ARM while the guest writes succeed"
check test "$during" -ge 1 "the guest kept fsyncing files while restore points were captured ($during of $NRP)"
check test "$final" -gt "${ACKED[$NRP]}" "and after the last one ($final files in all)"
check bash -c "! grep -a -q GUEST-ERROR '$VAR/serial.log'" "no I/O error in the guest"
guest_stop

# verify LABEL IMAGE PARITY ACKED: journal replay, e2fsck -fn, files <= ACKED
# with number % 2 == PARITY byte for byte.
verify() {
  local label=$1 img=$2 parity=$3 upto=$4 dir
  e2fsck -y -E journal_only "$img" >"$VAR/fsck.out" 2>&1
  if e2fsck -fn "$img" >>"$VAR/fsck.out" 2>&1; then ok "$label: e2fsck -fn is clean after the journal replay"
  else fail "$label: e2fsck -fn"; tail -n 20 "$VAR/fsck.out"; fi
  dir=$(mktemp -d "$VAR/files.XXXXXX")
  debugfs -R "rdump / $dir" "$img" >/dev/null 2>&1 || true
  local res
  res=$(/usr/bin/python3 - "$dir" "$parity" "$upto" <<'PY'
import os, sys
d, parity, upto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
checked = bad = 0
for n in range(1, upto + 1):
    if n % 2 != parity:
        continue
    line = b"vmrp guest file %d\n" % n
    size = (n * 7919) % 16384 + 1
    want = (line * (size // len(line) + 1))[:size]
    try:
        got = open(os.path.join(d, "f%d" % n), "rb").read()
    except OSError:
        got = None
    checked += 1
    if got != want:
        bad += 1
        if bad <= 5:
            print("f%d: %s" % (n, "missing" if got is None else "%d bytes, differs" % len(got)), file=sys.stderr)
extra = len([f for f in os.listdir(d) if f.startswith("f")]) - checked
print(checked, bad, extra)
PY
)
  rm -rf "$dir"
  read -r n nbad extra <<<"$res"
  STATUS=; BODY=
  check test "${nbad:-x}" = 0 "$label: holds all $n files fsync'd before the PUT, byte for byte (+$extra written later)"
}
drp() { # RP DISK → the disk restore point's JSON
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  echo "$BODY" | jq -c --arg p "$2_" '.value[] | select(.name | startswith($p))'
}
for k in $(seq 1 "$NRP"); do
  for disk in data1 data2; do
    [ "$disk" = data1 ] && parity=1 || parity=0
    uri=$(nbd_uri "$EAST$(drp "rp$k" "$disk" | jq -r .id)")
    rm -f "$VAR/drp.img"
    nbdcopy "$uri" "$VAR/drp.img" || fail "nbdcopy of rp$k/$disk"
    verify "rp$k $disk (disk restore point over NBD)" "$VAR/drp.img" "$parity" "${ACKED[$k]}"
  done
done
# The disks restored from the last restore point, read through their own exports.
for disk in data1 data2; do
  [ "$disk" = data1 ] && parity=1 || parity=0
  id=$(drp "rp$NRP" "$disk" | jq -r .id)
  arm PUT "$C/disks/r-$disk?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$id"'"}}}'
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "restore $disk from rp$NRP (createOption Restore)"
  rm -f "$VAR/drp.img"
  nbdcopy "$(nbd_uri "$C/disks/r-$disk")" "$VAR/drp.img" || fail "nbdcopy of r-$disk"
  verify "restored disk r-$disk" "$VAR/drp.img" "$parity" "${ACKED[$NRP]}"
done
finish
