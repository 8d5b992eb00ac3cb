# bench/rp/agent.sh — sourced by bench/rp/run: part (e), the guest's frozen
# time of an ApplicationConsistent restore point against the guest agent's own
# freeze cost, on a real guest.
#
# The guest is the one tests/arm/guest_agent.sh boots (its files are used, not
# changed): qemu-system-x86_64 -accel tcg, 1 vCPU, 512 MiB, Debian's kernel
# and the busybox initramfs of tests/guest/mkinitramfs.sh --agent, against the
# VM's vmrp disks over NBD; its /init makes ext4 on both data disks (64 MiB
# each), starts Debian's qemu-ga on the virtio-serial port
# org.qemu.guest_agent.0 (chardev: a unix socket in the region's agent socket
# directory) with tests/guest/fsfreeze-hook (it reports "HOOK freeze t" /
# "HOOK thaw t" on the console), then writes and fsyncs small files
# alternately to the two file systems without pause: the light writer whose
# dirty data each freeze flushes.  The VM has an (empty) OS disk and the two
# data disks; the restore points exclude the OS disk (the guest's root is the
# initramfs), so each one fences exactly the two disks whose file systems are
# frozen.
#
# AGENT_REPS (20; --quick 5) times, interleaved (the order swapped every
# round; each freeze sent AGENT_GAP_S = 1 s after the previous thaw, and a
# restore point's operation Succeeded before the next measurement):
#  - vmrp: PUT restorePoints/rpN {consistencyMode ApplicationConsistent,
#    excludeDisks [the OS disk]}, its
#    operation polled to Succeeded, then properties.vmrpConsistency.guestFrozenMs
#    (vmrpd's clock, guest-fsfreeze-freeze sent → the thaw's reply received);
#  - bare: qga-freeze.py (one process for all, a new connection each time, as
#    vmrpd) on the same socket: guest-fsfreeze-freeze then
#    guest-fsfreeze-thaw, timed the same way, no restore point.
# One of each first, not counted (warm-up).  Every measurement is checked: the
# guest's fsfreeze hook ran freeze once, then thaw; bare: freeze and thaw each
# returned 2 (file systems); vmrp: vmrpd logged "guest froze 2 file
# system(s)" and "fenced 2 disk(s)" for it, guestFrozen true, consistencyMode
# ApplicationConsistent.  The writer must go on after the last one (thawed).
#
# Needs from run: harness.sh's regions (arm, header, $VAR, $EAST, $SUB,
# $ENDPOINTS), run's wait_op, now, secs, $repo, $here, $work, $quick.

# agent_find_kernel: AGENT_KERNEL, AGENT_KVER = the newest readable
# /boot/vmlinuz-* with its modules (as tests/arm/guest_agent.sh picks it).
agent_find_kernel() {
  local k v
  AGENT_KERNEL= AGENT_KVER=
  for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
    v=${k#/boot/vmlinuz-}
    [ -r "$k" ] && [ -d "/lib/modules/$v" ] && { AGENT_KERNEL=$k; AGENT_KVER=$v; }
  done
}

# agent_tools_missing: prints what is missing for this part (nothing: all there).
agent_tools_missing() {
  local t
  for t in qemu-system-x86_64 cpio modprobe jq curl python3; do
    command -v "$t" >/dev/null || echo "$t (scripts/deps test)"
  done
  { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || echo "busybox-static"
  [ -x /usr/sbin/qemu-ga ] || echo "/usr/sbin/qemu-ga (qemu-guest-agent)"
  agent_find_kernel
  [ -n "$AGENT_KERNEL" ] || echo "a readable /boot/vmlinuz-* with modules (linux-image-amd64)"
  return 0
}

agent_die() {
  echo "bench/rp (agent): $*" >&2
  [ -n "${AG:-}" ] && [ -f "$VAR/eastus/vmrpd.log" ] && cp "$VAR/eastus/vmrpd.log" "$AG/vmrpd.log"
  [ -f "${AG:-/nonexistent}/serial.log" ] && { echo "--- serial (last lines):" >&2; tail -n 20 "$AG/serial.log" >&2; }
  exit 1
}

# agent_part: measures; writes "rp|bare N FROZEN_MS HOOK_MS PUT_S FREEZE_MS
# GAP_MS STALL_US" lines to $AG/frozen.tsv (FREEZE_MS: freeze sent → its reply; vmrp:
# from vmrpd's log timestamps, ±2 ms; GAP_MS: the last thaw → this
# measurement's start; STALL_US: vmrp's fence stall, "-" for bare)
agent_part() {
  local reps=${AGENT_REPS:-$((quick ? 5 : 20))} gap=${AGENT_GAP_S:-1}
  AG=$work/guest
  mkdir -p "$AG"
  : > "$AG/frozen.tsv"
  local missing; missing=$(agent_tools_missing)
  [ -z "$missing" ] || agent_die "missing: $missing"
  agent_find_kernel
  local GRG=$EAST/subscriptions/$SUB/resourceGroups/guest
  local GC=$GRG/providers/Microsoft.Compute
  local GID=/subscriptions/$SUB/resourceGroups/guest/providers/Microsoft.Compute
  local LOG=$VAR/eastus/vmrpd.log
  SOCK=$VAR/eastus/agents/$(echo "$SUB" | tr A-Z a-z)/vm1.sock
  [ ${#SOCK} -le 107 ] || agent_die "the agent socket path $SOCK is longer than 107 bytes (set VMRP_BENCH_WORK shorter)"
  echo "(e) guest agent: boot a TCG guest with qemu-ga (VM with an OS disk + 2 data disks)" >&2
  arm PUT "$GRG?api-version=2021-04-01" '{"location":"eastus"}'
  local d
  for d in os data1 data2; do
    arm PUT "$GC/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
    wait_op
    [ "$OP_STATUS" = Succeeded ] || agent_die "disk $d: $OP_STATUS"
  done
  arm PUT "$GC/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","caching":"None","managedDisk":{"id":"'$GID'/disks/os"}},
    "dataDisks":[{"lun":0,"name":"data1","createOption":"Attach","caching":"None","managedDisk":{"id":"'$GID'/disks/data1"}},
                 {"lun":1,"name":"data2","createOption":"Attach","caching":"None","managedDisk":{"id":"'$GID'/disks/data2"}}]}}}'
  wait_op
  [ "$OP_STATUS" = Succeeded ] || agent_die "VM vm1: $OP_STATUS $BODY"
  arm PUT "$GC/restorePointCollections/rpc?api-version=2022-08-01" \
    '{"location":"eastus","properties":{"source":{"id":"'$GID'/virtualMachines/vm1"}}}'
  [ "$STATUS" = 201 ] || agent_die "restore point collection: $STATUS $BODY"
  GRPC=$GC/restorePointCollections/rpc
  RPBODY='{"properties":{"consistencyMode":"ApplicationConsistent","excludeDisks":[{"id":"'$GID'/disks/os"}]}}'
  mkdir -p "${SOCK%/*}"

  # The guest: the real-guest test's initramfs and QEMU command line
  # (scripts/vm-qemu, with tests/arm/guest_agent.sh's edits).
  "$repo/tests/guest/mkinitramfs.sh" --agent "$AGENT_KVER" "$AG/initrd.gz"
  [ -s "$AG/initrd.gz" ] || agent_die "mkinitramfs.sh --agent made no initramfs"
  VMRP_QEMU_SMP=1 VMRP_QEMU_MEM=512 "$repo/scripts/vm-qemu" -e "$ENDPOINTS" -r eastus guest vm1 > "$AG/qemu.cmd"
  local qga="-chardev socket,path=$SOCK,server=on,wait=off,id=qga0 -device virtio-serial-pci"
  qga="$qga -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"
  sed -i -e 's/-accel kvm -accel tcg/-accel tcg/' -e 's/-nic user,model=virtio-net-pci/-nic none/' \
    -e "s|-nographic|$qga -display none -serial file:$AG/serial.log -no-reboot -kernel $AGENT_KERNEL -initrd $AG/initrd.gz -append 'console=ttyS0 quiet panic=-1 vmrp.fs_mib=64'|" \
    "$AG/qemu.cmd"
  : > "$AG/serial.log"
  local tb; tb=$(now)
  bash -c "exec $(sed 's/\\$//' "$AG/qemu.cmd" | tr '\n' ' ')" </dev/null >"$AG/qemu.out" 2>&1 &
  QEMU=$!
  trap 'rc=$?; set +e; agent_guest_stop; (exit $rc); harness_cleanup' EXIT
  local _
  for _ in $(seq 1800); do
    grep -a -q -E 'GUEST-READY|GUEST-ERROR' "$AG/serial.log" && break
    kill -0 "$QEMU" 2>/dev/null || break
    sleep 0.1
  done
  grep -a -q GUEST-READY "$AG/serial.log" || agent_die "the guest did not boot: $(cat "$AG/qemu.out")"
  grep -a -q '^AGENT-STARTED' "$AG/serial.log" || agent_die "qemu-ga did not start in the guest"
  [ -S "$SOCK" ] || agent_die "no agent socket at $SOCK"
  put agent_guest_boot_s "$(secs "$tb" "$(now)")"

  arm PUT "$GC/virtualMachines/vm1/extensions/qga?$CV" \
    '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","typeHandlerVersion":"1.0","settings":{"socket":"'"$SOCK"'"}}}'
  [ "$STATUS" = 201 ] || agent_die "extension: $STATUS $BODY"
  wait_op
  [ "$OP_STATUS" = Succeeded ] || agent_die "extension: $OP_STATUS"
  for _ in $(seq 60); do
    arm GET "$GC/virtualMachines/vm1?\$expand=instanceView&$CV"
    [ "$(echo "$BODY" | jq -r '.properties.instanceView.vmAgent.statuses[0].displayStatus // empty')" = Ready ] && break
    sleep 1
  done
  [ "$(echo "$BODY" | jq -r '.properties.instanceView.vmAgent.statuses[0].displayStatus // empty')" = Ready ] ||
    agent_die "the VM's agent is not Ready: $(echo "$BODY" | jq -c '.properties.instanceView.vmAgent')"
  AGENT_VERSION=$(echo "$BODY" | jq -r '.properties.instanceView.vmAgent.vmAgentVersion // "?"')

  # the bare client, started once (a freeze per line, each on a new connection)
  coproc QGA { python3 "$here/qga-freeze.py" "$SOCK"; }
  local w0; w0=$(agent_fsynced)
  echo "  guest up ($(secs "$tb" "$(now)") s), qemu-ga $AGENT_VERSION Ready; $reps restore points and $reps bare freezes, interleaved" >&2
  AGENT_GAP_NS=$(awk -v g="$gap" 'BEGIN { printf "%d\n", g * 1e9 }') AGENT_LAST_THAW=0
  agent_measure bare 0
  agent_measure rp 0
  local i
  for i in $(seq "$reps"); do
    if [ $((i % 2)) = 1 ]; then
      agent_measure rp "$i"; agent_measure bare "$i"
    else
      agent_measure bare "$i"; agent_measure rp "$i"
    fi
  done
  eval "exec ${QGA[1]}>&-"
  wait "$QGA_PID" || agent_die "qga-freeze.py failed"
  # thawed: the writer goes on (two more files, one on each disk)
  local w1; w1=$(agent_fsynced)
  for _ in $(seq 300); do [ "$(agent_fsynced)" -ge $((w1 + 2)) ] && break; sleep 0.1; done
  [ "$(agent_fsynced)" -ge $((w1 + 2)) ] || agent_die "the guest's writer stopped after the last freeze (still frozen?)"
  ! grep -a -q GUEST-ERROR "$AG/serial.log" || agent_die "I/O error in the guest"
  put agent_writer_files "$((w1 - w0))"
  put agent_writer_s "$(secs "$tb" "$(now)")"
  agent_guest_stop
  trap harness_cleanup EXIT
  cp "$LOG" "$AG/vmrpd.log"
}

agent_guest_stop() { # SIGTERM: QEMU closes its NBD connections and the socket
  [ -n "${QEMU:-}" ] || return 0
  kill -TERM "$QEMU" 2>/dev/null || { QEMU=; return 0; }
  for _ in $(seq 300); do kill -0 "$QEMU" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$QEMU" 2>/dev/null || true
  wait "$QEMU" 2>/dev/null || true
  QEMU=
}

agent_fsynced() { tr -d '\r' < "$AG/serial.log" | awk '/^FSYNCED [0-9]/ {n = $2 + 0} END {print n + 0}'; }
agent_since() { tail -c "+$(($1 + 1))" "$AG/serial.log" | tr -d '\r'; }
agent_hooks() { agent_since "$1" | awk '/^HOOK (freeze|thaw) / {printf "%s%s", sep, $2; sep = " "}'; }

# agent_measure rp|bare N: one measurement, checked; appends its line to frozen.tsv
agent_measure() {
  local kind=$1 n=$2 out off ms fc tc freeze_ms stall_us=- put_s=- t0 t1 frozen mode before after all_before all_after name
  # AGENT_GAP_S after the last thaw (the reply that ended the last
  # measurement): the guest's writer has had the same time to dirty data
  # before either kind of freeze
  local wait_ns=$((AGENT_LAST_THAW + AGENT_GAP_NS - $(now)))
  [ "$wait_ns" -gt 0 ] && sleep "$(awk -v w="$wait_ns" 'BEGIN { printf "%.3f\n", w / 1e9 }')"
  local gap_ms=$((($(now) - AGENT_LAST_THAW) / 1000000))
  off=$(stat -c %s "$AG/serial.log")
  if [ "$kind" = bare ]; then
    echo go >&"${QGA[1]}"
    out=
    read -r -t 60 out <&"${QGA[0]}" || agent_die "bare freeze $n: no answer from qga-freeze.py"
    AGENT_LAST_THAW=$(now)
    read -r ms fc tc freeze_ms <<<"$out"
    [ "$fc" = 2 ] && [ "$tc" = 2 ] || agent_die "bare freeze $n: froze $fc / thawed $tc file systems, not 2"
  else
    name=rp$n
    before=$(grep -a -c ': guest froze 2 file system(s)' "$LOG" || true)
    all_before=$(grep -a -c ': guest froze ' "$LOG" || true)
    t0=$(now)
    arm PUT "$GRPC/restorePoints/$name?$CV" "$RPBODY"
    AGENT_LAST_THAW=$(now) # (the PUT is answered once the guest is thawed; the capture goes on)
    [ "$STATUS" = 201 ] || agent_die "PUT $name answered $STATUS $BODY"
    wait_op
    t1=$(now)
    [ "$OP_STATUS" = Succeeded ] || agent_die "restore point $name: $OP_STATUS"
    put_s=$(secs "$t0" "$t1")
    arm GET "$GRPC/restorePoints/$name?$CV"
    mode=$(echo "$BODY" | jq -r .properties.consistencyMode)
    frozen=$(echo "$BODY" | jq -r .properties.vmrpConsistency.guestFrozen)
    ms=$(echo "$BODY" | jq -r '.properties.vmrpConsistency.guestFrozenMs // empty')
    [ "$mode" = ApplicationConsistent ] && [ "$frozen" = true ] && [ -n "$ms" ] ||
      agent_die "restore point $name: $(echo "$BODY" | jq -c '.properties | {consistencyMode, vmrpConsistency}')"
    after=$(grep -a -c ': guest froze 2 file system(s)' "$LOG" || true)
    all_after=$(grep -a -c ': guest froze ' "$LOG" || true)
    [ $((after - before)) = 1 ] && [ $((all_after - all_before)) = 1 ] ||
      agent_die "restore point $name: vmrpd did not log one freeze of 2 file systems ($(grep -a ': guest froze ' "$LOG" | tail -n1))"
    grep -a -q "/$name: fenced 2 disk(s)" "$LOG" || agent_die "restore point $name: vmrpd did not log a fence of 2 disks"
    # the freeze's reply came when vmrpd logged "guest froze" (ms timestamps);
    # from there to the "fenced" line (after the thaw's reply): fence + thaw
    freeze_ms=$( { grep -a ': guest froze ' "$LOG" | tail -n1; grep -a "/$name: fenced 2 disk(s)" "$LOG" | tail -n1; } |
      sed -n 's/^ts=[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\)Z.*/\1 \2 \3/p' |
      awk -v total="$ms" '{ t[NR] = ($1 * 3600 + $2 * 60 + $3) * 1000 }
        END { d = t[2] - t[1]; if (d < 0) d += 86400000; printf "%.0f\n", total - d }')
    # the fence itself, inside the frozen window: vmrp's own work there
    stall_us=$(grep -a "/$name: fenced 2 disk(s)" "$LOG" | tail -n1 | sed 's/.*stall \([0-9]*\) ns.*/\1/' | awk '{ printf "%.1f\n", $1 / 1000 }')
  fi
  # the guest's hook ran freeze once, then thaw (its line may reach the serial
  # log a little after the reply)
  local _
  for _ in $(seq 100); do [[ "$(agent_hooks "$off")" =~ ^freeze( thaw)+$ ]] && break; sleep 0.1; done
  [[ "$(agent_hooks "$off")" =~ ^freeze( thaw)+$ ]] || agent_die "$kind $n: the guest's fsfreeze hook ran '$(agent_hooks "$off")', not freeze then thaw"
  local hook_ms
  hook_ms=$(agent_since "$off" | awk '/^HOOK freeze / && f == "" {f = $3} /^HOOK thaw / && t == "" {t = $3} END {printf "%.0f\n", (t - f) * 1000}')
  echo "$kind $n $ms $hook_ms $put_s $freeze_ms $gap_ms $stall_us" >> "$AG/frozen.tsv"
  printf '  %s %s: guest frozen %.1f ms (hook freeze → thaw %s ms in the guest)%s\n' "$kind" "$n" "$ms" "$hook_ms" \
    "$([ "$n" = 0 ] && echo ", warm-up")" >&2
}

# agent_report: the table and RATIO lines of part (e)
agent_report() {
  python3 - "$AG/frozen.tsv" "$res" "${AGENT_VERSION:-?}" <<'PY'
import sys
tsv, res, qga = sys.argv[1:4]
v = {}
for line in open(res):
    k, x = line.split()
    v[k] = float(x)
rows = [l.split() for l in open(tsv) if l.strip()]
def col(kind, i):
    return [float(r[i]) for r in rows if r[0] == kind and r[1] != "0"]
def pct(xs, p):  # as bench/rp/run's pct: the value at rank ceil((n - 1) p) (p99 of 20 = the maximum)
    s = sorted(xs)
    i = int((len(s) - 1) * p + 0.999999)
    return s[max(i, 0)]
rp, bare = col("rp", 2), col("bare", 2)
rph, bareh = col("rp", 3), col("bare", 3)
put_s = col("rp", 4)
n = len(rp)
warm = {r[0]: r[2] for r in rows if r[1] == "0"}
pairs = {}
for r in rows:
    if r[1] != "0":
        pairs.setdefault(r[1], {})[r[0]] = float(r[2])
diffs = [p["rp"] - p["bare"] for p in pairs.values() if "rp" in p and "bare" in p]
p50o, p90o, p99o = (pct(rp, q) - pct(bare, q) for q in (.5, .9, .99))
print(f"\nguest agent (qemu-ga {qga}, TCG guest: 1 vCPU, 2 ext4 data disks over NBD, a writer fsyncing small files"
      f" to both; booted in {v['agent_guest_boot_s']:.0f} s; {v['agent_writer_files']:.0f} files written during the"
      f" measurements), {n} of each, interleaved")
print("\n| guest frozen (guest-fsfreeze-freeze sent → thaw's reply received) | p50 | p90 | p99 | min | max |")
print("|---|---|---|---|---|---|")
def row(label, xs, unit="ms", f="{:.1f}"):
    print(f"| {label} | " + " | ".join(f"{f.format(x)} {unit}" for x in (pct(xs, .5), pct(xs, .9), pct(xs, .99), min(xs), max(xs))) + " |")
row("vmrp: ApplicationConsistent restore point of the 2 data disks (vmrpConsistency.guestFrozenMs)", rp)
row("qemu-ga alone: freeze + thaw, no restore point (qga-freeze.py, same socket)", bare)
print(f"| overhead: vmrp − qemu-ga alone (of the percentiles) | {p50o:+.1f} ms | {p90o:+.1f} ms | {p99o:+.1f} ms | | |")
print(f"| overhead, paired (each round's vmrp − its bare freeze; its tails are one outlier of either side) | {pct(diffs, .5):+.1f} ms | | | {min(diffs):+.1f} ms | {max(diffs):+.1f} ms |")
row("guest's view, vmrp: hook freeze → hook thaw (/proc/uptime, 10 ms ticks)", rph, f="{:.0f}")
row("guest's view, qemu-ga alone: hook freeze → hook thaw", bareh, f="{:.0f}")
rpf, baref = col("rp", 5), col("bare", 5)
row("of which freeze phase (freeze sent → its reply), vmrp (from vmrpd's log, ±2 ms)", rpf, f="{:.0f}")
row("of which freeze phase, qemu-ga alone", baref, f="{:.0f}")
row("of which thaw phase (freeze's reply → thaw's reply), vmrp: the fence + thaw", [a - b for a, b in zip(rp, rpf)], f="{:.0f}")
row("of which thaw phase, qemu-ga alone", [a - b for a, b in zip(bare, baref)], f="{:.0f}")
row("vmrp's fence inside the frozen window (vmrpd's stall)", col("rp", 7), unit="µs", f="{:.1f}")
row("since the previous thaw (host, before connecting), vmrp", col("rp", 6), f="{:.0f}")
row("since the previous thaw, qemu-ga alone", col("bare", 6), f="{:.0f}")
row("restore point PUT → Succeeded (host)", [x * 1000 for x in put_s], f="{:.0f}")
print(f"\n({'p99 of %d values is their maximum; ' % n if n <= 100 else ''}warm-up, first after boot, not counted: qemu-ga alone"
      f" {float(warm.get('bare', 'nan')):.1f} ms, then vmrp {float(warm.get('rp', 'nan')):.1f} ms)")
print("# vmrp guestFrozenMs: " + " ".join(f"{x:.1f}" for x in rp))
print("# qemu-ga alone:      " + " ".join(f"{x:.1f}" for x in bare) + "\n")
goal, floor = 50.0, 1.0
outlier = False
for side, xs, hs, fs in (("vmrp", rp, rph, col("rp", 5)), ("qemu-ga alone", bare, bareh, col("bare", 5))):
    k = xs.index(max(xs))
    if xs[k] > 2 * pct(xs, .5):
        outlier = True
        print(f"note: p99 ({n} values{': the maximum' if n <= 100 else ''}) is one freeze of {xs[k]:.0f} ms on the {side} side,"
              f" {xs[k] / pct(xs, .5):.1f}x its p50: {fs[k]:.0f} ms of it until the freeze's reply (qemu-ga's freeze"
              f" hook, then FIFREEZE: the guest's file systems synced to its disks over NBD), and the guest's hooks"
              f" {hs[k]:.0f} ms apart")
def goal_ratio(name, o, q):
    if o < floor:
        c = (f"overhead {o:+.1f} ms <= {floor:.0f} ms: clamped to {floor:.0f} ms, so {goal / floor:.0f} is this"
             f" ratio's ceiling; goal: {q} <= 50 ms beyond qemu-ga's own: met")
    else:
        c = f"goal: {q} <= 50 ms beyond qemu-ga's own: {'met' if o <= goal else 'NOT met'}"
    if outlier and q == "p99":
        c += "; decided by an outlier noted above"
    print(f"RATIO {name} {goal / max(o, floor):.2f}   ({c})")
goal_ratio("frozen_p99_overhead_vs_goal_50ms", p99o, "p99")
goal_ratio("frozen_p90_overhead_vs_goal_50ms", p90o, "p90")
print(f"RATIO frozen_p50_bare_vs_vmrp {pct(bare, .5) / pct(rp, .5):.2f}   (qemu-ga alone / vmrp: 1.00 = vmrp adds nothing)")
print(f"RATIO frozen_p99_bare_vs_vmrp {pct(bare, .99) / pct(rp, .99):.2f}")
PY
}
