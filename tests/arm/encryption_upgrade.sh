#!/usr/bin/env bash
# The upgrade of a state directory written before encryption at rest
# (tests/fixtures/legacy-state.tar.zst, made by an older vmrp:
# tests/fixtures/make-legacy.sh — a plaintext store, plaintext volumes, the
# metadata of schema 10).  The current vmrpd starts on it and encrypts it in
# place in the background (slowed by the failpoint upgrade.step.delay_ms;
# the volumes' conversion held by upgrade.step.bytes = 0 while the checks
# that must see it half done run, and released through the admin call):
#  - progress at GET .../providers/Microsoft.Vmrp/storeUpgrade (Owner only),
#    never going back across two kill -9 of eastus at different points
#    (disk restore points half moved; volumes being converted);
#  - throughout, the disks (NBD) and disk restore points (NBD, SAS) read
#    byte for byte as the older vmrp wrote them (legacy_pattern.py), and no
#    disk or disk restore point claims encryption before its data is; an NBD
#    connection open across its disk restore point's move reads it right
#    throughout, and a grant made before the move still opens it after;
#  - after: no 64-byte window of the pattern in any file of either region's
#    state, <data>/store gone, every disk and disk restore point
#    EncryptionAtRestWithPlatformKey (SAS x-ms-server-encrypted: true), a new
#    restore point deduplicates against the moved trees (bytesStored tiny),
#    GC and verify (clean) in both regions.
. "$VMRP_SRC/tests/lib/harness.sh"
FIX=$VMRP_SRC/tests/fixtures
pattern() { python3 "$FIX/legacy_pattern.py" "$@"; }
pattern windows "$VAR/windows"
mkdir "$VAR/fx" && tar -C "$VAR/fx" --zstd -xf "$FIX/legacy-state.tar.zst"
check bash -c "! python3 '$FIX/legacy_pattern.py' scan '$VAR/windows' \$(find '$VAR/fx' -type f) >/dev/null" \
  "the scan finds the pattern in the plaintext fixture"
rm -rf "$VAR/fx"
# A step converts at most upgrade.step.bytes of a volume: 0 holds the
# conversion (every start, the kill -9 restarts included, begins held), and
# the runtime set, which wins over the environment's, releases it.
export VMRP_FAILPOINTS=upgrade.step.delay_ms=700,upgrade.step.bytes=0
export VMRP_CONFIG_EXTRA='[testing]\nfailpoints = on'
start_regions_from "$FIX/legacy-state.tar.zst"
TOKEN=$(token "$EAST")
C=$EAST/subscriptions/$SUB/resourceGroups/legacy/providers/Microsoft.Compute
DV=api-version=2024-03-02
conversion() { # SPEC: eastus's runtime failpoints (the volumes' pace)
  arm PUT "$EAST/providers/Microsoft.Vmrp/failpoints?$DV" "{\"spec\":\"$1\"}"
  [ "$STATUS" = 200 ] || { echo "arming $1: $STATUS $BODY"; return 1; }
}
CV=api-version=2024-07-01
GV=api-version=2021-04-01
PLATFORM=EncryptionAtRestWithPlatformKey

drp() { # COLL RP DISK: the disk restore point's id
  arm GET "$C/restorePointCollections/$1/restorePoints/$2/diskRestorePoints?$DV"
  echo "$BODY" | jq -r --arg p "$3_" '.value[] | select(.name | startswith($p)) | .id'
}
sas() { # DRP_ID: a SAS URL reading it
  arm POST "$EAST$1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":3600}'
  local loc; loc=$(header Location); wait_op; arm GET "$loc"; echo "$BODY" | jq -r .accessSAS
}
# reads OUT: every disk and disk restore point read over NBD and compared
# with the pattern, rp2's also over SAS; OUT gets one line per mismatch
reads() {
  local d rp uri id r
  : > "$1"
  for d in os data; do
    rm -f "$VAR/back"
    nbdcopy "$(nbd_uri "$C/disks/$d" tcp)" "$VAR/back" && pattern check $d rp2 "$VAR/back" || echo "disk $d" >> "$1"
    for rp in rp1 rp2; do
      id=$(drp src $rp $d)
      rm -f "$VAR/back"
      nbdcopy "$(nbd_uri "$EAST$id" tcp)" "$VAR/back" && pattern check $d $rp "$VAR/back" || echo "$rp/$d nbd" >> "$1"
      [ $rp = rp2 ] || continue # SAS: the newest (the same code reads any image)
      uri=$(sas "$id")
      for r in $(pattern ranges $d $rp); do # the extents and the holes beside them
        curl -sf --cacert "$CA" -H "x-ms-range: bytes=$r" -o "$VAR/back" "$uri" &&
          pattern check $d $rp "$VAR/back" "${r%-*}" ||
          { echo "$rp/$d sas $r" >> "$1"; break; }
      done
    done
  done
  rm -f "$VAR/back"
}
progress() { # [BASE]: the upgrade's progress document in $UP
  arm GET "${1:-$EAST}/subscriptions/$SUB/providers/Microsoft.Vmrp/storeUpgrade?$GV"
  UP=$BODY
}
up() { echo "$UP" | jq -r "$1"; }
wait_until() { # JQ_CONDITION [BASE]: polls the progress until it holds (60 s at most)
  for _ in $(seq 600); do
    progress "${2:-}"; [ "$(up "$1")" = true ] && return 0; sleep 0.1
  done
  echo "progress never had $1: $UP"; return 1
}
# claims: no disk or disk restore point says it is encrypted before its
# data is (counted against the progress read after the claims)
claims() {
  local n_disk n_drp d
  n_disk=0; n_drp=0
  for d in os data; do
    arm GET "$C/disks/$d?$DV"; [ "$(echo "$BODY" | jq -r .properties.encryption.type)" = $PLATFORM ] && n_disk=$((n_disk + 1))
  done
  for id in $(drp src rp1 os) $(drp src rp1 data) $(drp src rp2 os) $(drp src rp2 data); do
    arm GET "$EAST$id?$DV"; [ "$(echo "$BODY" | jq -r .properties.encryption.type)" = $PLATFORM ] && n_drp=$((n_drp + 1))
  done
  progress
  [ "$n_disk" -le "$(up .volumes.done)" ] && [ "$n_drp" -le "$(up .diskRestorePoints.done)" ] ||
    { echo "claims: $n_disk disks, $n_drp disk restore points encrypted; $UP"; return 1; }
}

OLD_GRANT=$(nbd_uri "$EAST$(drp src rp1 data)" tcp) # before it moves (captures' bases move first)
progress
check test "$STATUS/$(up .status)/$(up .diskRestorePoints.total)/$(up .volumes.total)" = 200/InProgress/4/2 \
  "GET storeUpgrade: InProgress, 4 disk restore points and 2 volumes to encrypt"
check test "$(up .plaintextStore)" = true "the plaintext store is still there"
read -r RID RSEC < <(principal reader "/subscriptions/$SUB" Contributor)
OWNER_TOKEN=$TOKEN; TOKEN=$(token "$EAST" "$RID" "$RSEC")
progress
check test "$STATUS/$(echo "$BODY" | jq -r .error.code)" = 403/AuthorizationFailed "a Contributor may not read it: 403"
TOKEN=$OWNER_TOKEN
check wait_until '.diskRestorePoints.done >= 1' "disk restore points move to the encrypted store"
BEFORE=$(up .diskRestorePoints.done)
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
progress
check test "$(up .status)/$(up '.diskRestorePoints.done >= '"$BEFORE")" = InProgress/true \
  "kill -9 with $BEFORE of 4 moved: after the restart the upgrade goes on from there ($(up .diskRestorePoints.done))"
# one NBD connection to the disk restore point that moves last (rp1's os: no
# capture base names it), reading it again and again across its move
HELD=$(drp src rp1 os)
# (a grant asked at the instant of the move, while its export is replaced, is
# refused: asked again)
HELD_URI=$(nbd_uri "$EAST$HELD" tcp || { sleep 0.2; nbd_uri "$EAST$HELD" tcp; })
/usr/bin/python3 "$FIX/legacy_pattern.py" hold os rp1 "$HELD_URI" "$VAR/stop" > "$VAR/hold.out" 2>&1 &
HOLDER=$!
check claims "while they move, nothing claims encryption before its data is encrypted"
reads "$VAR/bad"
check test ! -s "$VAR/bad" "while they move, disks and disk restore points read as written ($(tr '\n' ' ' < "$VAR/bad"))"
# Released once every disk restore point moved (bases and volumes follow),
# a volume unit a step, 5 s apart: each half-done state lasts 5 s, however
# slow the checks before were.
check wait_until '.diskRestorePoints.done == 4' "every disk restore point moved; the volumes wait, held"
check conversion upgrade.step.bytes=1,upgrade.step.delay_ms=5000 "the volumes' conversion released, a unit every 5 s"
check wait_until '.volumeBytes.converted > 0 and .volumeBytes.converted < .volumeBytes.total' \
  "the volumes are being encrypted in place"
BYTES=$(up .volumeBytes.converted)
touch "$VAR/stop"
HOLD_RC=0; wait "$HOLDER" || HOLD_RC=$?
check test "$HOLD_RC/$(tail -n1 "$VAR/hold.out" | grep -c '^[1-9][0-9]*$')" = 0/1 \
  "a connection open across the move of its disk restore point read it right throughout ($(tail -n1 "$VAR/hold.out") rounds)"
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
progress
check test "$(up '.volumeBytes.converted >= '"$BYTES")" = true \
  "kill -9 mid-conversion ($BYTES bytes): none of it is done again ($(up .volumeBytes.converted) after the restart)"
check claims "while they are, no disk claims encryption before its volume is encrypted"
reads "$VAR/bad"
check test ! -s "$VAR/bad" "while they are, everything reads as written ($(tr '\n' ' ' < "$VAR/bad"))"
check conversion upgrade.step.bytes=4194304 "the conversion released at full pace (4 MiB a step)"
check wait_until '.status == "Succeeded"' "the upgrade of eastus completes"
check test "$(up .plaintextStore)/$(up .diskRestorePoints.done)/$(up .volumes.done)/$(up .percentComplete)" = false/4/2/100 \
  "every disk restore point and volume is encrypted, the plaintext store is gone ($UP)"
check wait_until '.status == "Succeeded"' "$WEST" "and of westus (the copy)"
check test ! -e "$VAR/eastus/store" -a ! -e "$VAR/westus/store" "<data>/store is gone in both regions"
check grep -q "upgrade: 50 %" "$VAR/eastus/vmrpd.log" "a log line per 10 % (50 %)"

reads "$VAR/bad"
check test ! -s "$VAR/bad" "after: everything reads as written ($(tr '\n' ' ' < "$VAR/bad"))"
rm -f "$VAR/back"
check bash -c "nbdcopy '$OLD_GRANT' '$VAR/back' && python3 '$FIX/legacy_pattern.py' check data rp1 '$VAR/back'" \
  "an NBD grant made before its disk restore point moved still opens it, and it reads as written"
check claims "after: the claims follow the data"
for d in os data; do
  arm GET "$C/disks/$d?$DV"
  check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = $PLATFORM "disk $d: $PLATFORM"
done
for id in $(drp src rp1 data) $(drp src rp2 os); do
  arm GET "$EAST$id?$DV"
  check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = $PLATFORM "disk restore point ${id##*/}: $PLATFORM"
done
uri=$(sas "$(drp src rp2 data)")
curl -s --cacert "$CA" -D "$VAR/h" -o /dev/null -H "x-ms-range: bytes=0-511" "$uri"
check grep -qi "^x-ms-server-encrypted: true" "$VAR/h" "SAS reads of it answer x-ms-server-encrypted: true"
arm GET "$C/restorePointCollections/dst/restorePoints/c1?$CV"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "the westus copy of rp1 is still there"

arm PUT "$C/restorePointCollections/src/restorePoints/rp3?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "a new restore point rp3"
arm GET "$EAST$(drp src rp3 data)?$DV"
check test "$(echo "$BODY" | jq '.properties.vmrpCapture.bytesStored < 262144')" = true \
  "it deduplicates against the moved trees ($(echo "$BODY" | jq -c .properties.vmrpCapture))"
for base in "$EAST" "$WEST"; do
  arm POST "$base/subscriptions/$SUB/providers/Microsoft.Vmrp/storeGc?$GV"
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "a GC after the upgrade (${base##*:})"
  arm POST "$base/subscriptions/$SUB/providers/Microsoft.Vmrp/storeVerify?$GV"
  loc=$(header Location); wait_op 1200; arm GET "$loc"
  check test "$OP_STATUS/$(echo "$BODY" | jq -r .clean)" = Succeeded/true "verify is clean (${base##*:})"
done
VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null
# every file of both regions' state (the test's own files are elsewhere in $VAR)
check bash -c "python3 '$FIX/legacy_pattern.py' scan '$VAR/windows' \$(find '$VAR/eastus' '$VAR/westus' -type f)" \
  "no 64-byte window of the pattern in any file of either region's state"
finish
