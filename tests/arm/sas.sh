#!/usr/bin/env bash
# SAS grants on disk restore points and the Blob data plane that serves them:
#  - beginGetAccess / endGetAccess over ARM (202 + Azure-AsyncOperation +
#    Location, the result at Location), extension returning the same URL,
#    revocation at once, the per-disk limit, bad bodies, restart keeping
#    grants;
#  - the blob as curl sees it: HEAD (PageBlob, VHD size), whole and ranged
#    GETs byte for byte against the image read over NBD, the fixed-VHD footer
#    (qemu-img info -f vpc), page ranges covering every non-zero 512-byte
#    page, the diff between two restore points equal to the pages written
#    and cleared, paging with maxresults/marker;
#  - bad input: tampered, revoked, wrong-resource and malformed URLs (403
#    AuthenticationFailed), bad ranges (400/416), bad maxresults/marker,
#    writes on a read grant, a bad previous-snapshot URL;
#  - the official clients: @azure/storage-blob (tests/clients/sas-blob.mjs)
#    and azcopy download to a .vhd.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing (scripts/deps test)"; exit 1; }
command -v qemu-io >/dev/null || { echo "qemu-utils missing (scripts/deps test)"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
AZCOPY=$VMRP_SRC/tests/clients/node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64
export AZCOPY_LOG_LOCATION=$VAR/azcopy AZCOPY_JOB_PLAN_LOCATION=$VAR/azcopy/plans
DV=api-version=2024-03-02
CV=api-version=2024-07-01
RG=$EAST/subscriptions/$SUB/resourceGroups/sas
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/sas
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
for d in os data1; do
  arm PUT "$C/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
done
uri() { nbd_uri "$C/disks/$1"; }
OS=$(uri os)
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/os"}},
  "dataDisks":[{"lun":0,"name":"data1","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/data1"}}]}}}'
wait_op
VMID=$RGID/providers/Microsoft.Compute/virtualMachines/vm1
arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$VMID'"}}}'
RPC=$C/restorePointCollections/rpc
take() { arm PUT "$RPC/restorePoints/$1?$CV" '{}'; wait_op; }
drp_of() { # RP DISK → the disk restore point's ARM path (no host)
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  echo "$BODY" | jq -r --arg p "$2_" '.value[] | select(.name | startswith($p)) | .id'
}
drp_nbd() { nbd_uri "$EAST$1"; }

# rp1: data at the start, in the middle (unaligned), near the end.
qemu-io -f raw -c "write -P 0x11 0 1M" -c "write -P 0x22 2097153 300000" -c "write -P 0x33 1073610752 131072" "$OS" >/dev/null
take rp1
check test "$OP_STATUS" = Succeeded "restore point rp1"
# rp2: one range rewritten, one cleared (zeroed), one new.
qemu-io -f raw -c "write -P 0x44 65536 65536" -c "write -z 2M 512k" -c "write -P 0x55 500M 200k" "$OS" >/dev/null
take rp2
D1=$(drp_of rp1 os); D2=$(drp_of rp2 os)
nbdcopy "$(drp_nbd "$D1")" "$VAR/rp1.img"
nbdcopy "$(drp_nbd "$D2")" "$VAR/rp2.img"
SIZE=$(stat -c %s "$VAR/rp1.img")

grant() { # DRP [DURATION] → sets SAS (and STATUS/BODY of the last step)
  arm POST "$EAST$1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":'"${2:-3600}"'}'
  GRANT_STATUS=$STATUS
  LOCATION=$(header Location)
  GRANT_AAO=$(header Azure-AsyncOperation)
  wait_op
  arm GET "$LOCATION"
  SAS=$(echo "$BODY" | jq -r .accessSAS)
}
grant "$D1"
check test "$GRANT_STATUS" = 202 "beginGetAccess answers 202"
check test -n "$GRANT_AAO" "with Azure-AsyncOperation"
check test -n "$LOCATION" "and Location"
check test "$STATUS" = 200 "the Location URL answers 200 when done"
case $SAS in "$EAST_DP"/md-*/*/abcd\?*sig=*) ok "with the SAS URL on the data plane ($SAS)";; *) fail "accessSAS: $SAS";; esac
SAS1=$SAS
grant "$D1" 7200
check test "$SAS" = "$SAS1" "a second beginGetAccess extends the grant and returns the same URL"
grant "$D2"
SAS2=$SAS

B=(curl -s --cacert "$CA" -o "$VAR/out" -D "$VAR/h" -w '%{http_code}')
bh() { grep -i "^$1:" "$VAR/h" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
code=$("${B[@]}" -I "$SAS1" -H 'x-ms-version: 2026-04-06')
check test "$code" = 200 "HEAD: 200"
check test "$(bh x-ms-blob-type)" = PageBlob "x-ms-blob-type: PageBlob"
check test "$(bh Content-Length)" = $((SIZE + 512)) "Content-Length: the disk plus a 512-byte VHD footer"
check test -n "$(bh ETag)" "an ETag"
check test -n "$(bh Last-Modified)" "a Last-Modified"
check test "$(bh x-ms-version)" = 2026-04-06 "x-ms-version answered as asked"
check test "$(bh Accept-Ranges)" = bytes "Accept-Ranges: bytes"
check test "$(bh x-ms-server-encrypted)" = true "x-ms-server-encrypted: true (the restore point's store is encrypted)"
arm GET "$EAST$D1?$DV"
check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = EncryptionAtRestWithPlatformKey \
  "and ARM says EncryptionAtRestWithPlatformKey of the disk restore point"
code=$("${B[@]}" "$SAS1")
check test "$code" = 200 "GET of the whole blob: 200"
check cmp -n "$SIZE" "$VAR/out" "$VAR/rp1.img" "its first diskSize bytes equal the disk restore point over NBD"
mv "$VAR/out" "$VAR/rp1.vhd"
check bash -c "qemu-img info -f vpc --output json '$VAR/rp1.vhd' | jq -e '.\"virtual-size\" == $SIZE' >/dev/null" \
  "qemu-img info -f vpc: a VHD of the disk's virtual size"
check bash -c "qemu-img compare -q -f vpc -F raw '$VAR/rp1.vhd' '$VAR/rp1.img'" "qemu-img compare: the VHD holds the image"
# Ranges: unaligned, across the disk's end into the footer, suffix, open-ended, Range header.
range_ok() { # START END(inclusive) HEADER-NAME
  local code; code=$("${B[@]}" -H "$3: bytes=$1-$2" "$SAS1")
  [ "$code" = 206 ] && cmp -s "$VAR/out" <(tail -c +$(($1 + 1)) "$VAR/rp1.vhd" | head -c $(($2 - $1 + 1))) &&
    [ "$(bh Content-Range)" = "bytes $1-$2/$((SIZE + 512))" ]
}
check range_ok 2000000 2400500 x-ms-range "x-ms-range unaligned: 206, the bytes and Content-Range"
check range_ok $((SIZE - 1000)) $((SIZE + 511)) x-ms-range "a range across the disk's end into the footer"
check range_ok 1 1 Range "a one-byte Range"
code=$("${B[@]}" -H "x-ms-range: bytes=-100" "$SAS1")
check bash -c "[ $code = 206 ] && cmp -s '$VAR/out' <(tail -c 100 '$VAR/rp1.vhd')" "a suffix range: the last 100 bytes (the footer)"
code=$("${B[@]}" -H "x-ms-range: bytes=$((SIZE))-" "$SAS1")
check bash -c "[ $code = 206 ] && cmp -s '$VAR/out' <(tail -c 512 '$VAR/rp1.vhd')" "an open-ended range: the footer"
code=$("${B[@]}" -H "x-ms-range: bytes=$((SIZE + 512))-" "$SAS1")
check test "$code" = 416 "a range starting past the end: 416"
check grep -q '<Code>InvalidRange</Code>' "$VAR/out" "with InvalidRange"
code=$("${B[@]}" -H "x-ms-range: bytes=5-3" "$SAS1")
check test "$code" = 400 "a malformed x-ms-range: 400"
check grep -q '<Code>InvalidHeaderValue</Code>' "$VAR/out" "with InvalidHeaderValue"
code=$("${B[@]}" -H "If-Unmodified-Since: $(bh Last-Modified)" -H "x-ms-range: bytes=0-511" "$SAS1")
check test "$code" = 206 "If-Unmodified-Since its Last-Modified holds (azcopy's chunk reads)"
code=$("${B[@]}" -H 'If-Match: "0xdeadbeef"' "$SAS1")
check test "$code" = 412 "If-Match of another ETag: 412"

# Page ranges: every non-zero 512-byte page is listed; the footer page too.
pages() { # URL [EXTRA curl args...] → body in $VAR/out
  "${B[@]}" "$@"
}
code=$(pages "$SAS1&comp=pagelist" -H "x-ms-range: bytes=0-")
check test "$code" = 200 "Get Page Ranges: 200"
cp "$VAR/out" "$VAR/pl1.xml"
check python3 "$VMRP_SRC/tests/lib/pagelist_check.py" cover "$VAR/pl1.xml" "$VAR/rp1.img" \
  "the page list covers every non-zero page of rp1 and the footer"
code=$(pages "$SAS2&comp=pagelist")
cp "$VAR/out" "$VAR/pl2.xml"
check python3 "$VMRP_SRC/tests/lib/pagelist_check.py" cover "$VAR/pl2.xml" "$VAR/rp2.img" \
  "and of rp2 (no range header, as azcopy asks)"
code=$(pages "$SAS2&comp=pagelist" -H "x-ms-previous-snapshot-url: $SAS1")
check test "$code" = 200 "Get Page Ranges Diff against rp1: 200"
check python3 "$VMRP_SRC/tests/lib/pagelist_check.py" diff "$VAR/out" "$VAR/rp1.img" "$VAR/rp2.img" \
  "the diff lists every changed page, cleared ones as ClearRange reading zeros"
check grep -q ClearRange "$VAR/out" "including a ClearRange for the zeroed range"
code=$(pages "$SAS1&comp=pagelist" -H "x-ms-previous-snapshot-url: $SAS1")
check bash -c "[ $code = 200 ] && ! grep -q Range '$VAR/out'" "the diff of a restore point against itself is empty"
code=$(pages "$SAS2&comp=pagelist&prevsnapshot=$(jq -rn --arg u "$SAS1" '$u|@uri')")
check python3 "$VMRP_SRC/tests/lib/pagelist_check.py" diff "$VAR/out" "$VAR/rp1.img" "$VAR/rp2.img" \
  "prevsnapshot=<url> in the query gives the same diff (listPageRangesDiff)"
# Paging: maxresults 1, following NextMarker, gives the whole list.
check python3 "$VMRP_SRC/tests/lib/pagelist_check.py" paged "$SAS1" "$CA" "$VAR/pl1.xml" \
  "maxresults=1 pages, followed through NextMarker, add up to the whole list"
for bad in maxresults=0 maxresults=-5 maxresults=99999999999999999999 maxresults=abc marker=xyz marker=-1; do
  code=$(pages "$SAS1&comp=pagelist&$bad")
  check bash -c "[ $code = 400 ] && grep -q 'QueryParameterValue' '$VAR/out'" "Get Page Ranges with $bad: 400"
done
code=$(pages "$SAS1&comp=pagelist" -H "x-ms-range: bytes=100-1000")
check test "$code" = 400 "a page range not 512-aligned: 400"
code=$(pages "$SAS1&comp=pagelist" -H "x-ms-previous-snapshot-url: https://127.0.0.1/nothing")
check test "$code" = 400 "a previous-snapshot URL that is not a SAS URL: 400"
code=$(pages "$SAS1&comp=block")
check test "$code" = 400 "an unknown comp: 400"

# Authentication: every wrong URL is 403 AuthenticationFailed.
denied() { # URL description
  local code; code=$("${B[@]}" "$1")
  check bash -c "[ $code = 403 ] && grep -q '<Code>AuthenticationFailed</Code>' '$VAR/out'" "$2: 403 AuthenticationFailed"
}
sig=${SAS1##*sig=}
flip=$(python3 -c "import sys; s=sys.argv[1]; print(s[:5] + ('A' if s[5] != 'A' else 'B') + s[6:])" "$sig")
denied "${SAS1%sig=*}sig=$flip" "a tampered signature"
denied "${SAS1%%&sig=*}" "no signature"
denied "${SAS1/sp=r/sp=rw}" "a changed permission"
g1=$(echo "$SAS1" | sed -E 's|.*/md-([0-9a-f]+)/.*|\1|'); g2=$(echo "$SAS2" | sed -E 's|.*/md-([0-9a-f]+)/.*|\1|')
denied "${SAS1//$g1/$g2}" "another grant's id with this signature"
denied "$(echo "$SAS2" | sed -E "s|/md-$g2/$g2/|/md-$g1/$g1/|")" "the other grant's path with this query"
denied "${SAS1/sr=b/sr=c}" "sr other than b"
denied "$EAST_DP/md-$g1/$g1?${SAS1#*\?}" "two path segments"
code=$("${B[@]}" -X PUT -H 'Content-Length: 0' -H 'x-ms-blob-type: PageBlob' "$SAS1")
check test "$code" = 403 "a write with a read grant: 403"
code=$("${B[@]}" -X DELETE "$SAS1")
check bash -c "[ $code = 403 ] && grep -q AuthorizationPermissionMismatch '$VAR/out'" "DELETE (azcopy's clean-up): 403, nothing dropped"
code=$("${B[@]}" -I "$SAS1")
check test "$code" = 200 "the blob is still there"

# ARM bounds and errors.
bad_grant() { # BODY DESCRIPTION: 400 with the body
  arm POST "$EAST$D1/beginGetAccess?$DV" "$1"
  check test "$STATUS" = 400 "$2: 400"
}
bad_grant '{"access":"Write","durationInSeconds":60}' "access Write on a disk restore point"
bad_grant '{"access":"Read","durationInSeconds":0}' "durationInSeconds 0"
bad_grant '{"access":"Read","durationInSeconds":999999999}' "durationInSeconds beyond the maximum"
bad_grant '{"access":"Read","durationInSeconds":"sixty"}' "durationInSeconds as a string that is no integer"
bad_grant '{"durationInSeconds":60}' "no access"
bad_grant '[1]' "a body that is not an object"
arm POST "$EAST${D1%/*}/nope/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":60}'
check test "$STATUS" = 404 "an unknown disk restore point: 404"
# The limit: 5 active grants over one disk's restore points (rp1, rp2 have two).
for n in 3 4 5; do take "rp$n"; grant "$(drp_of "rp$n" os)"; done
take rp6
D6=$(drp_of rp6 os)
arm POST "$EAST$D6/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":60}'
check test "$STATUS" = 409 "a sixth active grant on one disk: 409"
check test "$(echo "$BODY" | jq -r .error.code)" = OperationNotAllowed "with OperationNotAllowed"
grant "$(drp_of rp1 data1)"
check test -n "$SAS" "another disk's restore point still gets one"
# Restart keeps grants and the key.
restart_region eastus
code=$("${B[@]}" -I "$SAS1")
check test "$code" = 200 "after a restart the URL still works"
grant "$D1"
check test "$SAS" = "$SAS1" "and beginGetAccess still returns the same URL"
# Revocation takes effect at once.
arm POST "$EAST$D1/endGetAccess?$DV"
check test "$STATUS" = 202 "endGetAccess answers 202"
wait_op
check test "$OP_STATUS" = Succeeded "and succeeds"
denied "$SAS1" "a revoked URL"
code=$(pages "$SAS2&comp=pagelist" -H "x-ms-previous-snapshot-url: $SAS1")
check bash -c "[ $code = 403 ]" "a diff against a revoked grant's URL: 403"
grant "$D6"
check test -n "$SAS" "after a revocation the sixth grant is allowed"
# Expiry: a grant of 1 s stops working.
arm POST "$EAST$D6/endGetAccess?$DV"; wait_op
grant "$D1" 1
sleep 2
denied "$SAS" "an expired URL"


# ---- disks: Read on an unattached disk, Write on an Upload disk ------------
arm POST "$C/disks/os/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":600}'
check bash -c "[ $STATUS = 409 ] && echo '$BODY' | grep -q OperationNotAllowed" "a grant on an attached disk: 409 OperationNotAllowed"
arm PUT "$C/disks/loose?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
LOOSE=$(uri loose)
qemu-io -f raw -c "write -P 0x66 4M 1M" -c "write -P 0x67 1000M 8k" "$LOOSE" >/dev/null
nbdcopy "$LOOSE" "$VAR/loose.img"
arm POST "$C/disks/loose/beginGetAccess?$DV" '{"access":"Write","durationInSeconds":600}'
check test "$STATUS" = 409 "Write access to a disk not made for upload: 409"
grant "/subscriptions/$SUB/resourceGroups/sas/providers/Microsoft.Compute/disks/loose"
DSAS=$SAS
arm GET "$C/disks/loose?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = ActiveSAS "a read grant makes the disk ActiveSAS"
code=$("${B[@]}" "$DSAS")
check bash -c "[ $code = 200 ] && cmp -s -n $((1 << 30)) '$VAR/out' '$VAR/loose.img'" "the disk read through its SAS equals the disk over NBD"
code=$(pages "$DSAS&comp=pagelist")
check python3 "$VMRP_SRC/tests/lib/pagelist_check.py" cover "$VAR/out" "$VAR/loose.img" "its page list covers its data"
code=$(pages "$SAS2&comp=pagelist" -H "x-ms-previous-snapshot-url: $DSAS")
check test "$code" = 400 "a diff against a disk's SAS URL: 400"
arm DELETE "$C/disks/loose?$DV"
check test "$STATUS" = 409 "an ActiveSAS disk cannot be deleted"
arm PUT "$C/virtualMachines/vm2?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"loose","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/loose"}}}}}'
check test "$STATUS" = 409 "nor attached to a VM"
arm POST "$C/disks/loose/endGetAccess?$DV"; wait_op
arm GET "$C/disks/loose?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = Unattached "endGetAccess: Unattached again"
denied "$DSAS" "the revoked disk URL"

# Upload: a 64 MiB VHD (qemu-img, exact size) through azcopy into an Upload disk.
MIB=$((1 << 20))
arm PUT "$C/disks/up?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Upload","uploadSizeBytes":'$((64 * MIB + 511))'}}}'
check test "$STATUS" = 400 "uploadSizeBytes not disk bytes + 512: 400"
arm PUT "$C/disks/up?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Upload","uploadSizeBytes":1024}}}'
check test "$STATUS" = 400 "uploadSizeBytes below 20 MiB + 512: 400"
arm PUT "$C/disks/up?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Upload","uploadSizeBytes":'$((64 * MIB + 512))'}}}'
wait_op
arm GET "$C/disks/up?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = ReadyToUpload "an Upload disk is ReadyToUpload"
check test "$(echo "$BODY" | jq -r .properties.diskSizeBytes)" = $((64 * MIB)) "of uploadSizeBytes - 512 bytes"
arm POST "$C/disks/up/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":600}'
check test "$STATUS" = 409 "Read access before the upload: 409"
arm POST "$C/disks/up/beginGetAccess?$DV" '{"access":"Write","durationInSeconds":600}'
LOCATION=$(header Location); wait_op; arm GET "$LOCATION"
WSAS=$(echo "$BODY" | jq -r .accessSAS)
case $WSAS in *sp=rw*) ok "a Write grant";; *) fail "Write grant: $WSAS";; esac
arm GET "$C/disks/up?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = ActiveUpload "ActiveUpload while it lasts"
python3 -c "
import random, sys
r = random.Random(5); b = bytearray(64 << 20)
for k in range(40):
    off = r.randrange(0, (64 << 20) - 300000, 512); b[off:off + 300000] = bytes([k + 1]) * 300000
open(sys.argv[1], 'wb').write(b)" "$VAR/up.raw"
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$VAR/up.raw" "$VAR/up.vhd"
check test "$(stat -c %s "$VAR/up.vhd")" = $((64 * MIB + 512)) "qemu-img made a fixed VHD of the upload size"
code=$("${B[@]}" -X PUT -H 'x-ms-page-write: update' -H 'x-ms-range: bytes=100-611' --data-binary @<(head -c 512 /dev/zero) "$WSAS&comp=page")
check test "$code" = 416 "Put Page not 512-aligned: 416"
code=$("${B[@]}" -X PUT -H 'x-ms-page-write: update' -H 'x-ms-range: bytes=0-1023' --data-binary @<(head -c 512 /dev/zero) "$WSAS&comp=page")
check test "$code" = 400 "Put Page whose body does not fill the range: 400"
code=$("${B[@]}" -X PUT -H 'x-ms-blob-type: PageBlob' -H 'x-ms-blob-content-length: 512' -H 'Content-Length: 0' "$WSAS")
check test "$code" = 400 "Put Blob of another size: 400"
code=$("${B[@]}" -X PUT -H 'x-ms-page-write: update' -H 'x-ms-range: bytes=0-511' --data-binary @<(head -c 512 /dev/zero) "$SAS2&comp=page")
check test "$code" = 403 "Put Page with a read grant: 403"
if [ -x "$AZCOPY" ]; then
  SSL_CERT_FILE=$CA timeout -s KILL 300 "$AZCOPY" copy "$VAR/up.vhd" "$WSAS" --blob-type PageBlob --from-to LocalBlob \
    </dev/null >"$VAR/azcopy-up.out" 2>&1 || cat "$VAR/azcopy-up.out"
  check grep -q 'Final Job Status: Completed' "$VAR/azcopy-up.out" "azcopy copy x.vhd <write sas> --blob-type PageBlob completes"
fi
# Put Page ranges are Azure's (bytes=S-E, aligned, inside the blob): anything
# else is 416 and writes or clears nothing (the NBD comparison below checks
# the bytes).  A clipped range once cleared the whole disk.
put_page() { "${B[@]}" -X PUT -H "x-ms-page-write: $1" -H "x-ms-range: bytes=$2" "${@:3}" "$WSAS&comp=page"; }
code=$(put_page clear 0-18446744073709551103)
check test "$code" = 416 "Put Page clear of bytes=0-(2^64 - 513): 416 InvalidPageRange"
check grep -q InvalidPageRange "$VAR/out" "with the code InvalidPageRange"
code=$(put_page clear 0-18446744073709551615)
check test "$code" = 416 "Put Page clear of bytes=0-(2^64 - 1): 416"
code=$(put_page clear 0-184467440737095516150)
check test "$code" = 416 "Put Page clear whose end overflows 64 bits: 416"
code=$(put_page clear $((64 * MIB - 512))-$((64 * MIB + 1023)))
check test "$code" = 416 "Put Page clear past the blob's end: 416"
code=$(put_page update $((64 * MIB - 512))-$((64 * MIB + 1023)) --data-binary @<(head -c 1024 /dev/zero | tr '\0' '\252'))
check test "$code" = 416 "Put Page update past the blob's end (body of the clipped length): 416"
code=$(put_page clear 512-)
check test "$code" = 416 "Put Page clear of an open range bytes=512-: 416"
code=$(put_page clear -512)
check test "$code" = 416 "Put Page clear of a suffix range bytes=-512: 416"
code=$(put_page clear $((64 * MIB))-$((64 * MIB + 511)))
check test "$code" = 201 "Put Page clear of the footer's page: 201 (accepted and dropped)"
arm POST "$C/disks/up/endGetAccess?$DV"; wait_op
arm GET "$C/disks/up?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = Unattached "endGetAccess: the uploaded disk is Unattached"
nbdcopy "$(uri up)" "$VAR/up.img"
check cmp "$VAR/up.img" "$VAR/up.raw" "the disk read over NBD equals the uploaded VHD's data"
denied "$WSAS" "the ended write URL"

# A disk grown between two restore points: their diff is the whole newer blob,
# which applied to the older one (zeros past its end) gives the newer.
DG1=$(drp_of rp1 data1)
grant "$DG1"
SASG1=$SAS
arm PATCH "$C/disks/data1?$DV" '{"properties":{"diskSizeGB":2}}'
check test "$STATUS" = 200 "grow data1 to 2 GiB"
qemu-io -f raw -c "write -P 0x77 1536M 64k" "$(uri data1)" >/dev/null
take rpg
grant "$(drp_of rpg data1)"
SASG2=$SAS
"${B[@]}" "$SASG1" >/dev/null && mv "$VAR/out" "$VAR/g1.vhd"
"${B[@]}" "$SASG2" >/dev/null && mv "$VAR/out" "$VAR/g2.vhd"
code=$(pages "$SASG2&comp=pagelist" -H "x-ms-previous-snapshot-url: $SASG1")
check bash -c "[ $code = 200 ] && python3 '$VMRP_SRC/tests/lib/pagelist_check.py' blobdiff '$VAR/out' '$VAR/g1.vhd' '$VAR/g2.vhd'" \
  "the diff across a grown disk lists every page that differs from the older blob (its footer's too)"
rm -f "$VAR/g1.vhd" "$VAR/g2.vhd"

# Official clients.
if [ -d "$VMRP_SRC/tests/clients/node_modules/@azure/storage-blob" ]; then
  if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/sas-blob.mjs" "$SAS2" "$(grant "$D1" && echo "$SAS")" \
      "$VAR/rp2.img" "$VAR/rp1.img"; then
    ok "@azure/storage-blob: properties, downloads, page ranges and their diff"
  else
    fail "@azure/storage-blob: properties, downloads, page ranges and their diff"
  fi
else
  fail "npm packages missing (scripts/deps test)"
fi
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/sas-grants.mjs" "$ENDPOINTS" eastus sas rpc rp3 "$(drp_of rp3 os | sed "s|.*/||")" loose; then
  ok "@azure/arm-compute: grant, extend, revoke on a disk restore point and a disk"
else
  fail "@azure/arm-compute: grant, extend, revoke on a disk restore point and a disk"
fi
if command -v az >/dev/null; then
  az_login "$EAST"
  AZSAS=$(az disk grant-access -g sas -n loose --duration-in-seconds 600 --query accessSas -o tsv)
  code=$("${B[@]}" -I "$AZSAS")
  check test "$code" = 200 "az disk grant-access: a working SAS URL"
  check test "$(az disk show -g sas -n loose --query diskState -o tsv)" = ActiveSAS "az disk show: ActiveSAS"
  check test "$(az disk grant-access -g sas -n loose --duration-in-seconds 900 --query accessSas -o tsv)" = "$AZSAS" \
    "az disk grant-access again: the same URL"
  check az disk revoke-access -g sas -n loose "az disk revoke-access"
  denied "$AZSAS" "the URL az revoked"
  check test "$(az disk show -g sas -n loose --query diskState -o tsv)" = Unattached "az disk show: Unattached"
else
  fail "az CLI missing (scripts/deps test)"
fi
if [ -x "$AZCOPY" ]; then
  SSL_CERT_FILE=$CA timeout -s KILL 300 "$AZCOPY" copy "$SAS2" "$VAR/azcopy.vhd" --from-to BlobLocal </dev/null >"$VAR/azcopy.out" 2>&1 || cat "$VAR/azcopy.out"
  check grep -q 'Final Job Status: Completed' "$VAR/azcopy.out" "azcopy copy <sas> x.vhd --from-to BlobLocal completes"
  check cmp -n "$SIZE" "$VAR/azcopy.vhd" "$VAR/rp2.img" "the azcopy download equals the disk restore point"
  check bash -c "qemu-img info -f vpc --output json '$VAR/azcopy.vhd' | jq -e '.\"virtual-size\" == $SIZE' >/dev/null" \
    "and qemu-img sees a fixed VHD of the disk's size"
else
  fail "azcopy missing (scripts/deps test)"
fi
# Key rotation (beside the running daemon) revokes every grant; new grants work.
grant "$D2"
ROT=$SAS
code=$("${B[@]}" -I "$ROT")
check test "$code" = 200 "before the rotation the URL works"
check bash -c "'$VMRPD' sas rotate-key -c '$EAST_CONF' | grep -q rotated" "vmrpd sas rotate-key"
denied "$ROT" "a URL signed with the old key"
grant "$D2"
check test "$SAS" != "$ROT" "a new grant after the rotation has a new URL"
code=$("${B[@]}" -I "$SAS")
check test "$code" = 200 "which works"
finish
