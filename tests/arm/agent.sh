#!/usr/bin/env bash
# Application- and file-system-consistent restore points through a guest
# agent, against a scripted qemu-ga (tests/lib/fake_qga.py, the real protocol
# on a unix socket): the VM extension that configures the agent (and its bad
# input), the VM's instance view, the freeze → fence → thaw around a restore
# point (the fake's log shows the order), the data of such a restore point
# read back, and every misbehaviour of an agent — absent, silent, garbage,
# a failing freeze, dying mid-freeze, a freeze that never returns (the
# frozen-time cap), a failing thaw (thawed later by the region), and kill -9
# of vmrpd while the guest is frozen (thawed at restart).  The real guest is
# tests/arm/guest_agent.sh.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
export VMRP_CONFIG_EXTRA='[agent]\ntimeout_ms = 1500\nfrozen_max_ms = 2500'
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
RG=$EAST/subscriptions/$SUB/resourceGroups/agent
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/agent
DISKS=$RGID/providers/Microsoft.Compute/disks
VM=$C/virtualMachines/vm1
EXT=$VM/extensions/qga
RPC=$C/restorePointCollections/rpc
AGENTS=$VAR/eastus/agents/$(echo "$SUB" | tr A-Z a-z)   # the folder of the VM's subscription
SOCK=$AGENTS/vm1.sock
FAKE_LOG=$VAR/fake.log
FAKE_PID=

start_fake() { # MODE...
  stop_fake
  python3 "$VMRP_SRC/tests/lib/fake_qga.py" "$SOCK" --log "$FAKE_LOG" --pidfile "$VAR/fake.pid" "$@" &
  FAKE_PID=$!
  for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
  echo "fake agent did not start"; return 1
}
stop_fake() {
  [ -n "$FAKE_PID" ] || return 0
  kill "$FAKE_PID" 2>/dev/null || true
  wait "$FAKE_PID" 2>/dev/null || true
  FAKE_PID=
  rm -f "$SOCK"
}
trap 'rc=$?; set +e; stop_fake; (exit $rc); harness_cleanup' EXIT   # harness_cleanup reads the test's status from $?
# the commands the fake received since line $1 of its log
fake_since() { tail -n +"$(($1 + 1))" "$FAKE_LOG" 2>/dev/null | awk '$2 !~ /^(connect|disconnect|guest-sync.*)$/ {printf "%s ", $2}'; }
log_lines() { wc -l < "$FAKE_LOG" 2>/dev/null || echo 0; }
freezes() { sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM agent_freezes"; }
take() { # NAME BODY: PUT a restore point, wait for it
  arm PUT "$RPC/restorePoints/$1?$CV" "$2"
  RP_STATUS=$STATUS
  OP_STATUS=none
  [ "$STATUS" = 201 ] && wait_op 1200
  arm GET "$RPC/restorePoints/$1?$CV"
}
rp_count() { arm GET "$RPC?$CV&\$expand=restorePoints"; echo "$BODY" | jq '.properties.restorePoints | length'; }

arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
for d in os data1; do
  arm PUT "$C/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op 1200
done
arm PUT "$VM?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","managedDisk":{"id":"'$DISKS'/os"}},
  "dataDisks":[{"lun":0,"name":"data1","createOption":"Attach","managedDisk":{"id":"'$DISKS'/data1"}}]}}}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "a running VM with two disks"
arm PUT "$RPC?$CV" '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
expect 201 "" "its restore point collection"
check test -d "$AGENTS" "vmrpd created the agent socket folder of the subscription, <data_dir>/agents/<subscription>"

# 1. No agent configured: asked-for consistency is refused, omitted is crash consistent.
take noagent '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
check test "$RP_STATUS" = 400 "ApplicationConsistent without an agent: 400"
check test "$STATUS" = 404 "and no restore point was created"
arm PUT "$RPC/restorePoints/x?$CV" '{"properties":{"consistencyMode":"FileSystemConsistent"}}'
expect 400 VMAgentStatusCommunicationError "FileSystemConsistent without an agent"
take crash0 '{}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = CrashConsistent "omitted without an agent: CrashConsistent"
check test "$(echo "$BODY" | jq -r .properties.vmrpConsistency)" = null "and no freeze was tried"
arm GET "$VM?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r .properties.instanceView.vmAgent.statuses[0].displayStatus)" = "Not Ready" \
  "instance view: vmAgent Not Ready without an agent"

# 2. The extension: bad input first, nothing stored.
before=$(store_dump eastus)
ext() { # PUBLISHER TYPE SOCKET
  arm PUT "$EXT?$CV" '{"location":"eastus","properties":{"publisher":"'$1'","type":"'$2'","typeHandlerVersion":"1.0","settings":{"socket":"'$3'"}}}'
}
ext Microsoft.Azure.Extensions CustomScript "$SOCK"; expect 400 InvalidParameter "an extension vmrp does not run"
ext Vmrp QemuGuestAgent "/tmp/vm1.sock"; expect 400 InvalidParameter "a socket outside the agent directory"
ext Vmrp QemuGuestAgent "vm1.sock"; expect 400 InvalidParameter "a relative socket path"
ext Vmrp QemuGuestAgent "$AGENTS/../../meta.db"; expect 400 InvalidParameter "a socket path climbing out with .."
ext Vmrp QemuGuestAgent "${AGENTS%/*}/vm1.sock"; expect 400 InvalidParameter "the agent directory, outside the subscription's folder"
ext Vmrp QemuGuestAgent "${AGENTS%/*}/$(cat /proc/sys/kernel/random/uuid)/vm1.sock"; expect 400 InvalidParameter "another subscription's folder (its guests' agents)"
ext Vmrp QemuGuestAgent "${AGENTS%/*}/$(echo "$SUB" | tr a-z A-Z)/vm1.sock"; expect 400 InvalidParameter "the subscription's folder spelled in upper case (a different folder)"
ext Vmrp QemuGuestAgent "$AGENTS/"; expect 400 InvalidParameter "the directory itself"
ext Vmrp QemuGuestAgent "$AGENTS/$(printf 'x%.0s' $(seq 120))"; expect 400 InvalidParameter "a path too long for a unix socket"
arm PUT "$EXT?$CV" '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent"}}'
expect 400 InvalidParameter "no settings.socket"
arm PUT "$EXT?$CV" '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","settings":{"socket":7}}}'
expect 400 InvalidRequestContent "settings.socket of the wrong JSON type"
arm PUT "$C/virtualMachines/nope/extensions/qga?$CV" '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","settings":{"socket":"'$SOCK'"}}}'
expect 404 ResourceNotFound "an extension of a missing VM"
arm GET "$EXT?$CV"; expect 404 ResourceNotFound "GET of a missing extension"
arm DELETE "$EXT?$CV"; expect 204 "" "DELETE of a missing extension: 204"
check test "$(store_dump eastus)" = "$before" "bad extension requests changed nothing"

ext Vmrp QemuGuestAgent "$SOCK"
expect 201 "" "PUT Vmrp.QemuGuestAgent: 201"
check test -n "$(header Azure-AsyncOperation)" "with Azure-AsyncOperation"
check test -n "$(header Location)" "and Location"
wait_op; check test "$OP_STATUS" = Succeeded "its operation succeeds"
arm GET "$EXT?$CV"
check test "$(echo "$BODY" | jq -r '.properties.publisher + "." + .properties.type + " " + .properties.settings.socket + " " + .properties.provisioningState')" \
  = "Vmrp.QemuGuestAgent $SOCK Succeeded" "GET returns it"
arm PUT "$VM/extensions/second?$CV" '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","settings":{"socket":"'$AGENTS'/other.sock"}}}'
expect 409 OperationNotAllowed "a second guest agent for one VM"
arm GET "$VM/extensions?$CV"
check test "$(echo "$BODY" | jq '.value | length')" = 1 "list: one extension"

# 3. Configured, nothing listening: asked-for fails at once, omitted falls back.
arm GET "$VM?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r .properties.instanceView.vmAgent.statuses[0].displayStatus)" = "Not Ready" "no agent on the socket: Not Ready"
take down '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
check test "$RP_STATUS" = 409 "ApplicationConsistent with the agent down: 409"
arm PUT "$RPC/restorePoints/down?$CV" '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
expect 409 VMAgentStatusCommunicationError "VMAgentStatusCommunicationError"
take fallback '{}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = CrashConsistent "omitted with the agent down: CrashConsistent (Azure's fallback)"
check test "$(echo "$BODY" | jq -r .properties.vmrpConsistency.guestFrozen)" = false "vmrpConsistency: not frozen"
check test "$(echo "$BODY" | jq -r '.properties.vmrpConsistency.agentError | test("no guest agent socket")')" = true "and why"

# 4. A working agent: frozen around the fence, data intact.
start_fake
arm GET "$VM?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.vmAgent | .vmAgentVersion + " " + .statuses[0].displayStatus')" = "8.2.0-fake Ready" \
  "instance view: vmAgent Ready with qemu-ga's version"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.extensions[0].statuses[0].code')" = ProvisioningState/succeeded "and the extension's status"
arm GET "$EXT?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.statuses[0].message | test("qemu-ga 8.2.0-fake answers")')" = true "extension instance view"
# data written before the restore point is in it, byte for byte
DATA_URI=$(nbd_uri "$C/disks/data1")
head -c 3145728 /dev/urandom > "$VAR/pattern"
check nbdcopy --flush "$VAR/pattern" "$DATA_URI" "3 MiB written to the data disk over NBD (flushed)"
n0=$(log_lines)
take app1 '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
check test "$RP_STATUS/$OP_STATUS" = 201/Succeeded "ApplicationConsistent with the agent: 201, Succeeded"
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = ApplicationConsistent "consistencyMode ApplicationConsistent"
check test "$(echo "$BODY" | jq -r .properties.vmrpConsistency.guestFrozen)" = true "vmrpConsistency.guestFrozen"
frozen_ms=$(echo "$BODY" | jq -r .properties.vmrpConsistency.guestFrozenMs)
check python3 -c "import sys; sys.exit(not (0 < $frozen_ms < 2500))" "guestFrozenMs $frozen_ms within the cap"
seen=$(fake_since "$n0")
check test "$seen" = "guest-fsfreeze-freeze guest-fsfreeze-thaw " "the agent saw freeze then thaw, nothing else (saw: $seen)"
check test "$(tail -n1 "$FAKE_LOG" | awk '{print $3}')" != frozen "the guest is thawed afterwards"
check test "$(freezes)" = 0 "no freeze left recorded"
arm GET "$RPC/restorePoints/app1/diskRestorePoints?$DV"
DRP_URI=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[] | select(.name | startswith("data1_")) | .id')")
nbdcopy "$DRP_URI" "$VAR/drp.raw" 2>/dev/null
check cmp -n 3145728 "$VAR/pattern" "$VAR/drp.raw" "the disk restore point holds the data written before it, byte for byte"
take fs1 '{"properties":{"consistencyMode":"FileSystemConsistent"}}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)/$OP_STATUS" = FileSystemConsistent/Succeeded "FileSystemConsistent: frozen, reported as asked"
take default1 '{}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = ApplicationConsistent "omitted with a working agent: ApplicationConsistent"
take crash1 '{"properties":{"consistencyMode":"CrashConsistent"}}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = CrashConsistent "CrashConsistent asked: no freeze"
check test "$(echo "$BODY" | jq -r .properties.vmrpConsistency)" = null "and no agent call recorded"
# the official clients: the JS SDK, then the az CLI
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/agent.mjs" "$ENDPOINTS" eastus agent "$SOCK" > "$VAR/sdk.out" 2>&1; then
  ok "JS SDK: extension, instance view, ApplicationConsistent and FileSystemConsistent restore points"
else
  cat "$VAR/sdk.out"; fail "JS SDK agent steps"
fi
az_login "$EAST"
for mode in ApplicationConsistent FileSystemConsistent; do
  got=$(az restore-point create -g agent --collection-name rpc -n "az-$mode" --consistency-mode "$mode" \
        --query consistencyMode -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
  check test "$got" = "$mode" "az restore-point create --consistency-mode $mode"
done
got=$(az resource create --id "$RGID/providers/Microsoft.Compute/virtualMachines/vm1/extensions/qga" --api-version 2024-07-01 \
      --is-full-object --properties '{"location": "eastus", "properties": {"publisher": "Vmrp", "type": "QemuGuestAgent",
      "typeHandlerVersion": "1.0", "settings": {"socket": "'$SOCK'"}}}' --query properties.provisioningState -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = Succeeded "az resource create --is-full-object of the extension (the README's way)"
got=$(az rest --method get --url "$RGID/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2024-07-01&\$expand=instanceView" \
      --query properties.instanceView.vmAgent.statuses[0].displayStatus -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = Ready "az rest: the VM's vmAgent is Ready"
got=$(az resource show --ids "$RGID/providers/Microsoft.Compute/virtualMachines/vm1/extensions/qga" --api-version 2024-07-01 \
      --query properties.type -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = QemuGuestAgent "az resource show of the extension"
# a stopped VM needs no agent
arm POST "$VM/powerOff?$CV"; wait_op
n0=$(log_lines)
take stopped '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)/$OP_STATUS" = ApplicationConsistent/Succeeded "a stopped VM: ApplicationConsistent"
check test -z "$(fake_since "$n0" | grep freeze || true)" "without freezing its agent"
arm POST "$VM/start?$CV"; wait_op

# 5. Misbehaving agents: the restore point fails as specified, a thaw is always sent.
misbehave() { # MODE NAME CODE DESCRIPTION
  start_fake --mode "$1"
  local n; n=$(rp_count)
  local l0; l0=$(log_lines)
  arm PUT "$RPC/restorePoints/$2?$CV" '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
  expect 409 "$3" "$4: 409 $3"
  check test "$(rp_count)" = "$n" "$4: no restore point created"
  MIS_SEEN=$(fake_since "$l0")
}
misbehave silent m-silent VMAgentStatusCommunicationError "an agent that never answers"
misbehave freeze-fail m-ffail UserErrorFsFreezeFailed "a freeze the agent refuses"
check test "$(echo "$MIS_SEEN" | grep -c 'guest-fsfreeze-freeze guest-fsfreeze-thaw')" = 1 "a thaw follows the failed freeze"
check test "$(freezes)" = 0 "nothing left to thaw"
start_fake --mode garbage
take m-garbage '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
check test "$RP_STATUS/$OP_STATUS/$(echo "$BODY" | jq -r .properties.consistencyMode)" = 201/Succeeded/ApplicationConsistent \
  "an agent sending garbage and a stale reply first: resynchronised, ApplicationConsistent"

# a freeze that never returns: thawed at the cap (2.5 s here), the restore point fails
misbehave freeze-hang m-hang UserErrorFsFreezeFailed "a freeze that never returns"
check test "$(echo "$BODY" | jq -r '.error.message | test("frozen-time limit")')" = true "the error says the cap was hit"
for _ in $(seq 100); do grep -q 'guest-fsfreeze-thaw thawed' "$FAKE_LOG" && break; sleep 0.1; done
check grep -q 'guest-fsfreeze-thaw thawed' "$FAKE_LOG" "and the hung guest got its thaw"
for _ in $(seq 100); do [ "$(freezes)" = 0 ] && break; sleep 0.1; done
check test "$(freezes)" = 0 "nothing left to thaw"

# dying mid-freeze: the guest may be frozen; the region thaws it when the agent is back
misbehave die-on-freeze m-die UserErrorFsFreezeFailed "an agent dying mid-freeze"
check test "$(freezes)" = 1 "the possibly frozen guest is recorded"
: > "$FAKE_LOG"
start_fake
for _ in $(seq 200); do [ "$(freezes)" = 0 ] && break; sleep 0.1; done
check grep -q 'guest-fsfreeze-thaw' "$FAKE_LOG" "the agent back: the region sent it a thaw"
check test "$(freezes)" = 0 "and recorded it thawed"

# a thaw that fails: the restore point fails; the region keeps thawing until it works
misbehave thaw-fail m-tfail UserErrorFsFreezeFailed "a thaw that fails"
check test "$(freezes)" = 1 "the frozen guest is recorded"
for _ in $(seq 100); do [ "$(grep -c 'guest-fsfreeze-thaw' "$FAKE_LOG")" -ge 3 ] && break; sleep 0.1; done
check test "$(grep -c 'guest-fsfreeze-thaw' "$FAKE_LOG")" -ge 3 "the region retries the thaw"
start_fake
for _ in $(seq 200); do [ "$(freezes)" = 0 ] && break; sleep 0.1; done
check test "$(freezes)" = 0 "until the agent confirms it"
take m-default '{}'
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = ApplicationConsistent "and the next restore point freezes normally"

# kill -9 of vmrpd while the guest is frozen: thawed at restart
start_fake --mode slow-freeze=4
: > "$FAKE_LOG"
arm PUT "$RPC/restorePoints/m-kill?$CV" '{"properties":{"consistencyMode":"ApplicationConsistent"}}' &
PUT_PID=$!
for _ in $(seq 100); do [ "$(freezes)" = 1 ] && break; sleep 0.05; done
check test "$(freezes)" = 1 "a freeze is recorded before it is sent"
sleep 0.5 # the freeze is sent and the guest, slowly, freezes
kill9_region eastus
wait "$PUT_PID" 2>/dev/null || true
l0=$(wc -l < "$VAR/eastus/vmrpd.log")
restart_region eastus
TOKEN=$(token "$EAST")
for _ in $(seq 200); do [ "$(freezes)" = 0 ] && break; sleep 0.1; done
check test "$(freezes)" = 0 "after the restart the region thawed the guest"
check grep -q 'guest-fsfreeze-thaw thawed' "$FAKE_LOG" "(the agent saw the thaw)"
check grep -q "thawed its guest" <(tail -n +"$l0" "$VAR/eastus/vmrpd.log") "and logged it"
arm GET "$RPC/restorePoints/m-kill?$CV"
check test "$STATUS" = 404 "the interrupted restore point was never created"

# 6. Deleting the extension and the VM.
stop_fake
arm DELETE "$EXT?$CV"
expect 202 "" "DELETE of the extension: 202"
wait_op; check test "$OP_STATUS" = Succeeded "its operation succeeds"
arm PUT "$RPC/restorePoints/after-delete?$CV" '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
expect 400 VMAgentStatusCommunicationError "no agent after the extension is deleted"
ext Vmrp QemuGuestAgent "$SOCK"; wait_op
arm DELETE "$VM?$CV"; wait_op 1200
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE type = 'Microsoft.Compute/virtualMachines/extensions'")" = 0 \
  "deleting the VM deletes its extensions"
finish
