#!/usr/bin/env bash
# NBD grants end to end (src/arm/nbd_access.c, src/region/nbd_access.c,
# src/nbd/access.c): a disk or disk restore point opens over NBD only with
# the capability a grant returned, over the unix socket and TCP, for root and
# for another local user (nobody); the disk's id, a forged secret, another
# disk's or another subscription's capability, a revoked or expired one open
# nothing; revoking drops a connected client; a Read grant cannot write; a
# disk restore point takes Read only; grants survive a kill -9 and go with
# their disk; roles: Contributor grants and revokes, Reader lists only, a
# principal of another subscription gets 403 on ours; bad input answers
# Azure-style 400/404; no secret in lists, documents or logs.
. "$VMRP_SRC/tests/lib/harness.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
command -v qemu-io >/dev/null && command -v nbdinfo >/dev/null || { echo "qemu-utils/libnbd-bin missing"; exit 1; }
start_regions
PROBE="python3 $VMRP_SRC/tests/lib/nbd_probe.py"
TCP=tcp:127.0.0.1:$VMRP_EASTUS_NBD_PORT
SOCK=unix:$VAR/eastus/nbd.sock
DV=api-version=2024-03-02
CV=api-version=2024-07-01
GV=api-version=2021-04-01

# A second subscription B in eastus, with a Contributor of its own; our
# Contributor (A) has a role on A only, a Reader on A.
SUB_B=$(cat /proc/sys/kernel/random/uuid)
printf '\n[subscription %s]\ndisplay_name = other\n[nbd]\nhandshake_timeout = 2\nmax_connections_per_client = 4\n' \
  "$SUB_B" >>"$EAST_CONF"
kill9_region eastus
restart_region eastus
out=$(runuser -u nobody -- $PROBE hold "$TCP" 6 8 -)
check test "$out" = "6 of 6 closed by the server, the last after $(echo "$out" | sed 's/.*after //')" "[nbd] limits from vmrpd.conf: 6 idle handshakes all closed ($out)"
check python3 -c "import sys; sys.exit(not 1.0 < float(sys.argv[1]) < 4.5)" "$(echo "$out" | sed 's/.*after \([0-9.]*\) s/\1/')" \
  "the last at handshake_timeout = 2 (2 of 6 refused at once: max_connections_per_client = 4)"
check grep -q "refused a connection of 127.0.0.1: its own connection limit (4) is reached" "$VAR/eastus/vmrpd.log" "the per-client limit is logged"
sp() { "$VMRPD" sp create -c "$EAST_CONF" --name "$1" --role "$2" --scope "$3" | jq -r '"\(.clientId) \(.clientSecret)"'; }
read -r CA_ID CA_SECRET <<<"$(sp ca Contributor "$SUB")"
read -r CB_ID CB_SECRET <<<"$(sp cb Contributor "$SUB_B")"
read -r R_ID R_SECRET <<<"$(sp ra Reader "$SUB")"
TA=$(token "$EAST" "$CA_ID" "$CA_SECRET"); TB=$(token "$EAST" "$CB_ID" "$CB_SECRET")
TR=$(token "$EAST" "$R_ID" "$R_SECRET")

RGA=$EAST/subscriptions/$SUB/resourceGroups/na
RGB=$EAST/subscriptions/$SUB_B/resourceGroups/nb
DA=$RGA/providers/Microsoft.Compute/disks
DB=$RGB/providers/Microsoft.Compute/disks
TOKEN=$TA; arm PUT "$RGA?$GV" '{"location":"eastus"}'
TOKEN=$TB; arm PUT "$RGB?$GV" '{"location":"eastus"}'
expect 201 "" "subscription B's resource group (B's Contributor)"
newdisk() { arm PUT "$1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'; wait_op; }
TOKEN=$TA; newdisk "$DA/a1"; newdisk "$DA/a2"
TOKEN=$TB; newdisk "$DB/b1"
check test "$OP_STATUS" = Succeeded "disks a1, a2 in A and b1 in B"

# grant URL BODY → $STATUS/$BODY (the caller's $TOKEN)
grant() { arm POST "$1/vmrpGrantNbdAccess?$DV" "$2"; }
TOKEN=$TA
arm GET "$DA/a1?$DV"
VOL_A1=$(echo "$BODY" | jq -r .properties.uniqueId)
check test "$(echo "$BODY" | jq -r '.properties.vmrpExport | [.nbdUri, .nbdTcpUri, .exportName] | map(select(. != null)) | length')" = 0 \
  "the disk's document holds no NBD address"
check test "$(echo "$BODY" | jq -r .properties.vmrpExport.nbdAccess)" = "${DA#"$EAST"}/a1/vmrpGrantNbdAccess" \
  "vmrpExport.nbdAccess names the grant action"
grant "$DA/a1" '{"access":"Write"}'
expect 200 "" "Contributor of A: a Write grant on a1"
G1=$BODY
A1=$(echo "$G1" | jq -r .exportName); A1_ID=$(echo "$G1" | jq -r .accessId)
check test "$(echo "$G1" | jq -r '[.access, (.expiresOn | tostring)] | @tsv')" = "Write	null" "access Write, no expiry unless asked"
check bash -c "[[ '$A1' =~ ^[0-9a-f]{32}\.[0-9a-f]{64}$ && '${A1%%.*}' = '$A1_ID' ]]" "exportName is <accessId>.<secret>: 128-bit id, 256-bit secret, URI-safe"
check test "$(echo "$G1" | jq -r .nbdUri)" = "nbd+unix:///$A1?socket=$VAR/eastus/nbd.sock" "nbdUri carries it"
check test "$(echo "$G1" | jq -r .nbdTcpUri)" = "nbd://127.0.0.1:$VMRP_EASTUS_NBD_PORT/$A1" "and nbdTcpUri"
check qemu-io -f raw -c "write -P 0xa1 0 1M" "$(echo "$G1" | jq -r .nbdUri)" "qemu-io writes a1 through the grant (unix)"
check qemu-io -f raw -c "read -P 0xa1 0 1M" "$(echo "$G1" | jq -r .nbdTcpUri)" "and reads it back over TCP"
grant "$DA/a2" '{"access":"Write"}'
A2=$(echo "$BODY" | jq -r .exportName)
check qemu-io -f raw -c "write -P 0xa2 0 1M" "$(echo "$BODY" | jq -r .nbdUri)" "a2 written through its own grant"
TOKEN=$TB
grant "$DB/b1" '{"access":"Write"}'
expect 200 "" "Contributor of B: a grant on b1"
B1=$(echo "$BODY" | jq -r .exportName)
check qemu-io -f raw -c "write -P 0xb1 0 1M" "$(echo "$BODY" | jq -r .nbdUri)" "b1 written through B's grant"

check bash -c "! nbdinfo 'nbd+unix:///$A1_ID.$(printf '1%.0s' {1..64})?socket=$VAR/eastus/nbd.sock'" "a wrong secret opens nothing"
check grep -q "refused to open an export for uid 0: grant '$A1_ID' presented with a wrong secret" "$VAR/eastus/vmrpd.log" \
  "and is logged with the peer and the grant id"
# Names that must open nothing, for root over unix and TCP and for nobody over TCP.
a1sec=${A1#*.}; b1sec=${B1#*.}; b1id=${B1%%.*}
[ "${a1sec: -1}" = 0 ] && last=1 || last=0 # the secret with its last digit changed
forged=("$VOL_A1" "" "$A1_ID.$(printf '0%.0s' {1..64})" "$A1_ID.${a1sec%?}$last" "$A1_ID.$b1sec" "$b1id.$a1sec" "${A1%?}")
for name in "${forged[@]}"; do
  what="'${name:0:40}…'"
  check $PROBE refused "$SOCK" "$name" "unix: $what opens nothing"
  check $PROBE refused "$TCP" "$name" "tcp: $what opens nothing"
  check runuser -u nobody -- $PROBE refused "$TCP" "$name" "tcp, user nobody: $what opens nothing"
done
check runuser -u nobody -- $PROBE opens "$TCP" "$A1" "user nobody with the capability opens a1 (it is a bearer secret)"
check bash -c "! nbdinfo --list 'nbd+unix:///?socket=$VAR/eastus/nbd.sock' 2>&1 | grep -q '^export='" "nbdinfo --list lists nothing"
check qemu-io -f raw -c "read -P 0xb1 0 1M" "nbd://127.0.0.1:$VMRP_EASTUS_NBD_PORT/$B1" "B's capability opens b1 and only b1 (its bytes)"
check qemu-io -f raw -c "read -P 0xa2 0 1M" "nbd://127.0.0.1:$VMRP_EASTUS_NBD_PORT/$A2" "a2's capability opens a2 (its bytes)"

# Roles and subscriptions.
TOKEN=$TB
grant "$DA/a1" '{"access":"Read"}'
expect 403 AuthorizationFailed "B's Contributor cannot grant on A's disk"
arm GET "$DA/a1/vmrpNbdAccess?$DV"
expect 403 AuthorizationFailed "nor list its grants"
arm POST "$DA/a1/vmrpRevokeNbdAccess?$DV" "{\"accessId\":\"$A1_ID\"}"
expect 403 AuthorizationFailed "nor revoke them"
arm POST "$DB/b1/vmrpRevokeNbdAccess?$DV" "{\"accessId\":\"$A1_ID\"}"
expect 404 NotFound "A's grant id revoked through B's disk: 404, nothing revoked"
check $PROBE opens "$SOCK" "$A1" "a1's grant still opens"
TOKEN=$TR
arm GET "$DA/a1/vmrpNbdAccess?$DV"
expect 200 "" "a Reader lists a1's grants"
check test "$(echo "$BODY" | jq -c '[.value[] | .accessId, .access]')" = "[\"$A1_ID\",\"Write\"]" "one grant, by id and access"
check bash -c "! grep -q '$a1sec' <<<'$BODY'" "the list holds no secret"
check test "$(echo "$BODY" | jq -r '.value[0] | keys | join(",")')" = access,accessId,createdOn,expiresOn "and no other field"
grant "$DA/a1" '{"access":"Read"}'
expect 403 AuthorizationFailed "a Reader cannot grant"

# Bad input.
TOKEN=$TA
grant "$DA/a1" '[1]'
expect 400 InvalidRequestContent "a body that is no object"
grant "$DA/a1" '{}'
expect 400 InvalidParameter "no access"
check test "$(echo "$BODY" | jq -r .error.target)" = access "target access"
grant "$DA/a1" '{"access":"Delete"}'
expect 400 InvalidParameter "access Delete"
grant "$DA/a1" '{"access":"Read","durationInSeconds":0}'
expect 400 InvalidParameter "durationInSeconds 0"
check test "$(echo "$BODY" | jq -r .error.target)" = durationInSeconds "target durationInSeconds"
grant "$DA/a1" '{"access":"Read","durationInSeconds":"60s"}'
expect 400 InvalidParameter "durationInSeconds as a string that is no integer (\"60\" is read as 60: lenient.sh)"
TOKEN=$(token "$EAST") # (a missing disk is asked of westus too, where only the Owner has a role)
grant "$DA/nope" '{"access":"Read"}'
expect 404 ResourceNotFound "a missing disk"
TOKEN=$TA
arm POST "$DA/a1/vmrpRevokeNbdAccess?$DV" '{}'
expect 400 InvalidParameter "revoke without accessId"
arm POST "$DA/a1/vmrpRevokeNbdAccess?$DV" '{"accessId":"0123"}'
expect 404 NotFound "revoke of an unknown grant"

# A Read grant opens the disk read-only.
grant "$DA/a1" '{"access":"Read"}'
RO=$(echo "$BODY" | jq -r .nbdUri)
check bash -c "nbdinfo '$RO' | grep -q 'is_read_only: true'" "a Read grant: the export says read-only"
check bash -c "! qemu-io -f raw -c 'write -P 0x66 0 64k' '$RO' 2>&1 | grep -q '^wrote'" "a write through it fails"
check $PROBE readonly "$SOCK" "$(echo "$BODY" | jq -r .exportName)" "a WRITE sent through it anyway: EPERM from the server"
check qemu-io -r -f raw -c "read -P 0xa1 0 1M" "$RO" "and a1 is unchanged"

# Expiry: opens at once, not after its time.
grant "$DA/a1" '{"access":"Read","durationInSeconds":3}'
EXP=$(echo "$BODY" | jq -r .exportName)
check test "$(echo "$BODY" | jq -r '.expiresOn | length > 0')" = true "a grant for 3 s has expiresOn ($(echo "$BODY" | jq -r .expiresOn))"
check $PROBE opens "$SOCK" "$EXP" "it opens at once"
sleep 4
check $PROBE refused "$SOCK" "$EXP" "and nothing after it expired"

# Revoke drops a connected client at once; the capability opens nothing after.
grant "$DA/a2" '{"access":"Write"}'
REV=$(echo "$BODY" | jq -r .nbdUri); REV_ID=$(echo "$BODY" | jq -r .accessId); REV_NAME=$(echo "$BODY" | jq -r .exportName)
/usr/bin/python3 -c '
import nbd, sys, time
h = nbd.NBD(); h.connect_uri(sys.argv[1]); open(sys.argv[2], "w").close()
t = time.monotonic()
while time.monotonic() - t < 30:
    try:
        h.pread(4096, 0)
    except nbd.Error:
        open(sys.argv[3], "w").close(); break
    time.sleep(0.05)' "$REV" "$VAR/rev.connected" "$VAR/rev.dropped" &
holder=$!
for _ in $(seq 100); do [ -f "$VAR/rev.connected" ] && break; sleep 0.1; done
arm POST "$DA/a2/vmrpRevokeNbdAccess?$DV" "{\"accessId\":\"$REV_ID\"}"
expect 200 "" "revoke a2's grant"
t0=$(date +%s%N)
for _ in $(seq 50); do [ -f "$VAR/rev.dropped" ] && break; sleep 0.1; done
check test -f "$VAR/rev.dropped" "the connected client is dropped ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
wait "$holder" || true
check $PROBE refused "$SOCK" "$REV_NAME" "the revoked capability opens nothing"
check $PROBE opens "$SOCK" "$A2" "a2's other grant still opens"
arm GET "$DA/a2/vmrpNbdAccess?$DV"
check test "$(echo "$BODY" | jq '[.value[].accessId] | index("'"$REV_ID"'")')" = null "and the list no longer has it"

# Disk restore points: Read only.
arm PUT "$RGA/providers/Microsoft.Compute/virtualMachines/vm?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"a1","createOption":"Attach","managedDisk":{"id":"'"${DA#"$EAST"}"'/a1"}}}}}'
wait_op
RPC=$RGA/providers/Microsoft.Compute/restorePointCollections/rpc
arm PUT "$RPC?$CV" '{"location":"eastus","properties":{"source":{"id":"'"${RGA#"$EAST"}"'/providers/Microsoft.Compute/virtualMachines/vm"}}}'
arm PUT "$RPC/restorePoints/rp1?$CV" '{}'
wait_op
check test "$OP_STATUS" = Succeeded "a restore point of a VM with a1"
arm GET "$RPC/restorePoints/rp1/diskRestorePoints?$DV"
DRP=$EAST$(echo "$BODY" | jq -r '.value[0].id')
check test "$(echo "$BODY" | jq -r '.value[0].properties.vmrpExport | keys | join(",")')" = nbdAccess "the disk restore point's document holds no NBD address"
grant "$DRP" '{"access":"Write"}'
expect 400 InvalidParameter "a Write grant on a disk restore point"
grant "$DRP" '{"access":"Read"}'
expect 200 "" "a Read grant on it"
check qemu-io -r -f raw -c "read -P 0xa1 0 1M" "$(echo "$BODY" | jq -r .nbdUri)" "it reads the disk as captured"
DRP_NAME=$(echo "$BODY" | jq -r .exportName)
check $PROBE refused "$SOCK" "${DRP##*/}" "the disk restore point's own name opens nothing"

# Grants survive a kill -9; revoked and expired ones stay gone.
kill9_region eastus
restart_region eastus
check $PROBE opens "$SOCK" "$A1" "after kill -9 and restart: a1's grant opens"
check $PROBE opens "$TCP" "$DRP_NAME" "the disk restore point's grant too"
check $PROBE refused "$SOCK" "$REV_NAME" "the revoked one does not"
check $PROBE refused "$SOCK" "$EXP" "nor the expired one"

# Grants go with their resource.
TOKEN=$(token "$EAST" "$CB_ID" "$CB_SECRET")
arm DELETE "$DB/b1?$DV"
wait_op
check test "$OP_STATUS" = Succeeded "b1 deleted"
check $PROBE refused "$TCP" "$B1" "its capability opens nothing"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM nbd_grants WHERE resource_id LIKE '%/disks/b1'")" = 0 "its grant rows are gone"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM nbd_grants WHERE length(secret_sha256) != 32")" = 0 "rows hold 32-byte hashes"
check bash -c "! sqlite3 '$VAR/eastus/meta.db' .dump | grep -q -e '$a1sec' -e '$b1sec'" "and no secret"
check bash -c "! grep -q -e '$a1sec' -e '$b1sec' -e '${EXP#*.}' '$VAR/eastus/vmrpd.log'" "no secret in the region's log"
finish
