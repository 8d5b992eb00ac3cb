#!/usr/bin/env bash
# Application- and file-system-consistent restore points of a real guest
# through its QEMU guest agent.  Like tests/arm/guest.sh, qemu-system-x86_64
# -accel tcg boots Debian's kernel with the busybox initramfs of tests/guest/
# against the VM's vmrp disks over NBD, makes ext4 on both data disks and
# writes and fsyncs files f1, f2, ... alternately to them ("FSYNCED n t" on
# the serial console, t the guest's uptime).  Built with mkinitramfs.sh
# --agent, the initramfs also runs Debian's qemu-ga on the virtio-serial port
# org.qemu.guest_agent.0, whose chardev is a unix socket in the region's agent
# socket directory, with tests/guest/fsfreeze-hook, which reports
# "HOOK freeze t" / "HOOK thaw t" on the console.  The socket is configured
# as the VM's Vmrp.QemuGuestAgent extension; the VM's instance view then shows
# the agent Ready with qemu-ga's version.  Restore points taken while the
# guest writes:
#  - ApplicationConsistent, FileSystemConsistent and the mode omitted: the
#    hook ran freeze then thaw once for each, the guest was thawed after
#    (the writer goes on, on both disks), the mode achieved is the one asked
#    (omitted: ApplicationConsistent), and every disk restore point (read over
#    NBD with nbdcopy) is an ext4 that needs no journal recovery (no
#    needs_recovery: the file system was frozen at the fence) and passes
#    e2fsck -fn as it is; it holds every file fsync'd before the PUT, and
#    every file in it but the one being written at the freeze is complete.
#  - CrashConsistent: no hook ran, and the ext4 of each disk restore point
#    has needs_recovery (a mounted ext4 always has it on disk unless frozen):
#    it passes e2fsck -fn only after its journal replay.
# Before the extension exists, an ApplicationConsistent restore point of the
# running VM is refused (VMAgentStatusCommunicationError).  How long the
# writer paused around each freeze is printed, not asserted (TCG timing).
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/guest.sh"
guest_prereqs dumpe2fs
[ -x /usr/sbin/qemu-ga ] || { echo "/usr/sbin/qemu-ga missing (qemu-guest-agent)"; exit 1; }
QGA_VERSION=$(/usr/sbin/qemu-ga --version | sed -n 's/^QEMU Guest Agent \([^ ]*\).*/\1/p' | head -n1)

start_regions
TOKEN=$(token "$EAST")
guest_vm
AGENTS=$VAR/eastus/agents/$(echo "$SUB" | tr A-Z a-z)
SOCK=$AGENTS/vm1.sock
check test -d "$AGENTS" "vmrpd made the agent socket folder of the subscription ($AGENTS)"
mkdir -p "$AGENTS"

# The guest, with qemu-ga on a virtio-serial port whose chardev is $SOCK.
"$VMRP_SRC/tests/guest/mkinitramfs.sh" --agent "$KVER" "$VAR/initrd.gz"
check test -s "$VAR/initrd.gz" "initramfs built with qemu-ga $QGA_VERSION, its libraries and the fsfreeze hook"
guest_boot "$VAR/initrd.gz" -chardev "socket,path=$SOCK,server=on,wait=off,id=qga0" -device virtio-serial-pci \
  -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
serial() { tr -d '\r' < "$VAR/serial.log"; }
size() { stat -c %s "$VAR/serial.log"; }
since() { tail -c "+$(($1 + 1))" "$VAR/serial.log" | tr -d '\r'; } # the serial log from byte offset $1
hooks() { since "$1" | awk '/^HOOK (freeze|thaw) / {printf "%s%s", sep, $2; sep = " "}'; }
wait_acked() { # N [TRIES]: until the writer fsync'd file N
  for _ in $(seq "${2:-600}"); do [ "$(acked)" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}
guest_ready "the guest booted, made ext4 on both NBD data disks and started qemu-ga"
check grep -a -q '^AGENT-STARTED vport' "$VAR/serial.log" "qemu-ga runs in the guest on the virtio-serial port org.qemu.guest_agent.0"
check test -S "$SOCK" "QEMU serves the port's chardev at $SOCK"
wait_acked 20 || true

# Without the extension vmrp knows no agent: a running VM cannot be frozen.
off=$(size)
arm PUT "$RPC/restorePoints/rp0?$CV" '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
expect 400 VMAgentStatusCommunicationError "no extension: an ApplicationConsistent restore point of the running VM is refused"

# The agent as the VM's extension.
arm PUT "$C/virtualMachines/vm1/extensions/qga?$CV" \
  '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","typeHandlerVersion":"1.0","settings":{"socket":"'"$SOCK"'"}}}'
expect 201 "" "the guest agent's socket configured as the VM's extension Vmrp.QemuGuestAgent"
[ "$STATUS" = 201 ] || { finish; exit 1; }
wait_op 1200
check test "$OP_STATUS" = Succeeded "its operation succeeds"
for _ in $(seq 60); do
  arm GET "$C/virtualMachines/vm1?\$expand=instanceView&$CV"
  [ "$(echo "$BODY" | jq -r '.properties.instanceView.vmAgent.statuses[0].displayStatus // empty')" = Ready ] && break
  sleep 1
done
VMAGENT=$(echo "$BODY" | jq -c '.properties.instanceView.vmAgent // {}')
echo "# instanceView.vmAgent: $VMAGENT"
check test "$(echo "$VMAGENT" | jq -r '.statuses[0].displayStatus // empty')" = Ready "the VM's instance view shows its agent Ready"
check test "$(echo "$VMAGENT" | jq -r '.vmAgentVersion // empty')" = "$QGA_VERSION" "with qemu-ga's version ($QGA_VERSION)"
STATUS=; BODY=
check bash -c "! grep -q -w freeze <<<'$(hooks "$off")'" "nothing froze the guest so far (the hook ran no freeze)"

# Restore points while the guest writes.  ACKED[k]: the last file fsync'd
# before the PUT was sent.
RPS="rp1 rp2 rp3 rp4"
declare -A ASK WANT ACKED
ASK[rp1]=ApplicationConsistent WANT[rp1]=ApplicationConsistent
ASK[rp2]=CrashConsistent       WANT[rp2]=CrashConsistent
ASK[rp3]=FileSystemConsistent  WANT[rp3]=FileSystemConsistent
ASK[rp4]=                      WANT[rp4]=ApplicationConsistent
for rp in $RPS; do
  sleep 1
  if [ -n "${ASK[$rp]}" ]; then body='{"properties":{"consistencyMode":"'${ASK[$rp]}'"}}'; asked=${ASK[$rp]}
  else body='{}'; asked="mode omitted"; fi
  off=$(size)
  ACKED[$rp]=$(acked)
  arm PUT "$RPC/restorePoints/$rp?$CV" "$body"
  expect 201 "" "$rp ($asked) while the guest writes: 201"
  [ "$STATUS" = 201 ] || { finish; exit 1; }
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "$rp: its operation succeeds"
  after=$(acked)
  arm GET "$RPC/restorePoints/$rp?$CV"
  mode=$(echo "$BODY" | jq -r .properties.consistencyMode)
  check test "$mode" = "${WANT[$rp]}" "$rp: consistencyMode ${WANT[$rp]} achieved"
  [ "$mode" = CrashConsistent ] || echo "# $rp: $(echo "$BODY" | jq -c '.properties | {consistencyMode, vmrpConsistency}')"
  # The writer goes on (two more files: one on each disk) once the PUT is
  # answered: the guest was thawed.
  STATUS=; BODY=
  check wait_acked $((after + 2)) "$rp: the guest writes to both disks after it (files $((after + 1)), $((after + 2)))"
  if [ "${WANT[$rp]}" = CrashConsistent ]; then
    check bash -c "! grep -q -w freeze <<<'$(hooks "$off")'" "$rp: the guest was not frozen (the hook ran no freeze)"
    continue
  fi
  # The thaw line may reach the serial log a little after the PUT returned.
  # (qemu-ga runs the hook for every thaw asked, even of a thawed guest: a
  # second thaw would be harmless, a second freeze not.)
  for _ in $(seq 300); do [[ "$(hooks "$off")" =~ ^freeze( thaw)+$ ]] && break; sleep 0.1; done
  check eval '[[ "$(hooks "$off")" =~ ^freeze( thaw)+$ ]]' "$rp: the guest's fsfreeze hook ran freeze once, then thaw, during the PUT ($(hooks "$off"))"
  since "$off" | awk -v rp="$rp" '
    /^FSYNCED [0-9]/ { t[++n] = $3 + 0 }
    /^HOOK freeze / { f = $3 + 0; fn = n }
    /^HOOK thaw /   { th = $3 + 0; tn = n }
    END {
      if (fn == "" || tn == "") exit
      gap = 0; for (i = fn; i <= tn && i < n; i++) if (i > 0 && t[i + 1] - t[i] > gap) gap = t[i + 1] - t[i]
      s = m = 0; for (i = 1; i < n; i++) if (i < fn || i > tn) { s += t[i + 1] - t[i]; m++ }
      printf "# %s: hook freeze at %.2f, thaw at %.2f (guest uptime, %.2f s apart); the writer fsync'\''d %d file(s) in between, its longest pause there %.2f s (%.3f s per file otherwise)\n", rp, f, th, th - f, tn - fn, gap, m ? s / m : 0
    }'
done
STATUS=; BODY=
check test "$(serial | grep -c '^HOOK freeze ')" = 3 "three freezes in all, one per frozen restore point"
arm GET "$C/virtualMachines/vm1?\$expand=instanceView&$CV"
echo "# instanceView.vmAgent: $(echo "$BODY" | jq -c '.properties.instanceView.vmAgent // {}')"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.vmAgent.statuses[0].displayStatus // empty')" = Ready "the agent is still Ready after them"
STATUS=; BODY=
check bash -c "! grep -a -q GUEST-ERROR '$VAR/serial.log'" "no I/O error in the guest"
guest_stop

# verify_files LABEL IMAGE PARITY ACKED FROZEN: the files <= ACKED with number % 2 ==
# PARITY, byte for byte; for a frozen image (FROZEN 1) also every file in it but the
# newest complete (the newest: what was written of it at the freeze).
verify_files() {
  local label=$1 img=$2 parity=$3 upto=$4 frozen=$5 dir res n nbad extra torn
  dir=$(mktemp -d "$VAR/files.XXXXXX")
  debugfs -R "rdump / $dir" "$img" >/dev/null 2>&1 || true
  res=$(/usr/bin/python3 - "$dir" "$parity" "$upto" <<'PY'
import os, re, sys
d, parity, upto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def want(n):
    line = b"vmrp guest file %d\n" % n
    size = (n * 7919) % 16384 + 1
    return (line * (size // len(line) + 1))[:size]
have = sorted(int(m.group(1)) for m in (re.fullmatch(r"f(\d+)", f) for f in os.listdir(d)) if m)
got = {n: open(os.path.join(d, "f%d" % n), "rb").read() for n in have}
checked = bad = 0
for n in range(1, upto + 1):
    if n % 2 != parity:
        continue
    checked += 1
    if got.get(n) != want(n):
        bad += 1
        if bad <= 5:
            print("f%d: %s" % (n, "missing" if n not in got else "%d bytes, differs" % len(got[n])), file=sys.stderr)
# every file but the newest complete, the newest a prefix of its content
torn = 0
for n in have:
    ok = got[n] == want(n) if n != have[-1] else want(n).startswith(got[n])
    if not ok:
        torn += 1
        if torn <= 5:
            print("f%d: %d bytes, not the file's content%s" % (n, len(got[n]), " (newest)" if n == have[-1] else ""), file=sys.stderr)
print(checked, bad, len([n for n in have if n > upto]), torn)
PY
)
  rm -rf "$dir"
  read -r n nbad extra torn <<<"$res"
  STATUS=; BODY=
  check test "${nbad:-x}" = 0 "$label: holds all $n files fsync'd before the PUT, byte for byte (+$extra written later)"
  [ "$frozen" = 1 ] && check test "${torn:-x}" = 0 "$label: every file in it is complete but the newest, which holds what was written of it"
  return 0
}
drp() { # RP DISK → the disk restore point's JSON
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  echo "$BODY" | jq -c --arg p "$2_" '.value[] | select(.name | startswith($p))'
}
for rp in $RPS; do
  for disk in data1 data2; do
    [ "$disk" = data1 ] && parity=1 || parity=0
    label="$rp $disk (${WANT[$rp]})"
    uri=$(nbd_uri "$EAST$(drp "$rp" "$disk" | jq -r .id)")
    rm -f "$VAR/drp.img"
    nbdcopy "$uri" "$VAR/drp.img" || fail "nbdcopy of $rp/$disk"
    features=$(dumpe2fs -h "$VAR/drp.img" 2>/dev/null | sed -n 's/^Filesystem features: *//p')
    echo "# $label: ext4 features: $features"
    if [ "${WANT[$rp]}" = CrashConsistent ]; then
      check grep -q -w needs_recovery <<<"$features" "$label: the captured ext4 needs journal recovery (it was not frozen)"
      e2fsck -y -E journal_only "$VAR/drp.img" >"$VAR/fsck.out" 2>&1 || true
      frozen=0
    else
      check test -n "$features" "$label: the disk restore point is an ext4"
      check bash -c "! grep -q -w needs_recovery <<<'$features'" "$label: the captured ext4 needs no journal recovery (frozen at the fence)"
      : > "$VAR/fsck.out"
      frozen=1
    fi
    if e2fsck -fn "$VAR/drp.img" >>"$VAR/fsck.out" 2>&1; then
      ok "$label: e2fsck -fn is clean$([ $frozen = 1 ] && echo ", as captured (no journal replay)" || echo " after the journal replay")"
    else
      fail "$label: e2fsck -fn"; tail -n 20 "$VAR/fsck.out"
    fi
    verify_files "$label" "$VAR/drp.img" "$parity" "${ACKED[$rp]}" "$frozen"
  done
done
finish
