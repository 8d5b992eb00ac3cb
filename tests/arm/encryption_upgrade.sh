#!/usr/bin/env bash
# The upgrade of a state directory written before encryption at rest
# (tests/fixtures/legacy-state.tar.zst, made by an older vmrp:
# tests/fixtures/make-legacy.sh): the current vmrpd starts on it and
#  - reads the disks (NBD) and the disk restore points (NBD, SAS) byte for
#    byte as the older one wrote them (tests/fixtures/legacy_pattern.py).
. "$VMRP_SRC/tests/lib/harness.sh"
FIX=$VMRP_SRC/tests/fixtures
start_regions_from "$FIX/legacy-state.tar.zst"
pattern() { python3 "$FIX/legacy_pattern.py" "$@"; }
TOKEN=$(token "$EAST")
C=$EAST/subscriptions/$SUB/resourceGroups/legacy/providers/Microsoft.Compute
DV=api-version=2024-03-02
CV=api-version=2024-07-01

drp() { # COLL RP DISK: the disk restore point's id
  arm GET "$C/restorePointCollections/$1/restorePoints/$2/diskRestorePoints?$DV"
  echo "$BODY" | jq -r --arg p "$3_" '.value[] | select(.name | startswith($p)) | .id'
}
sas() { # DRP_ID: a SAS URL reading it
  arm POST "$EAST$1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":3600}'
  local loc; loc=$(header Location); wait_op; arm GET "$loc"; echo "$BODY" | jq -r .accessSAS
}
# reads OUT: every disk and disk restore point read and compared with the
# pattern (DRPs over NBD and SAS); OUT gets one line per mismatch
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
reads "$VAR/bad"
check test ! -s "$VAR/bad" "the legacy disks and disk restore points read as written ($(tr '\n' ' ' < "$VAR/bad"))"
arm GET "$C/restorePointCollections/dst/restorePoints/c1?$CV"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "the westus copy of rp1 is there"
finish
