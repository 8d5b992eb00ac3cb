#!/usr/bin/env bash
# Concurrent writes of one resource group, 20 clients at once, each on its own
# connection: plain PUTs create it exactly once (one 201, the rest 200, one
# row); with If-None-Match: * exactly one wins and the rest get 412; with
# If-Match on the same etag exactly one update wins; concurrent DELETEs all
# succeed and leave no group and no unfinished operation.  A VM PUT attaching
# a disk and beginGetAccess on that disk, sent together (50 rounds): exactly
# one wins, never both (the disk attached and ActiveSAS); so do a DELETE of a
# disk and beginGetAccess on it (30 rounds).
. "$VMRP_SRC/tests/lib/harness.sh"
start_regions
TOKEN=$(token "$EAST")
RV=api-version=2024-03-01
G=$EAST/subscriptions/$SUB/resourcegroups
N=20
export G RV CA TOKEN
STATUS=; BODY=

# burst NAME [HEADER] → "writer status" per line in $VAR/codes, from N
# parallel curls; writer i spells the name cased_as i NAME.
burst() {
  local name=$1 hdr=${2:-X-Nothing: 1}
  seq "$N" | NAME=$name HDR=$hdr xargs -P "$N" -I{} bash -c '
    case $(( {} % 3 )) in 0) n=$NAME ;; 1) n=${NAME,,} ;; 2) n=${NAME^^} ;; esac
    curl -s --cacert "$CA" -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
      -H "$HDR" --data "{\"location\":\"eastus\",\"tags\":{\"writer\":\"{}\"}}" -o /dev/null \
      -w "{} %{http_code}\n" "$G/$n?$RV"' >"$VAR/codes" 2>&1 || true
}
cased_as() { case $(( $1 % 3 )) in 0) echo "$2" ;; 1) echo "${2,,}" ;; 2) echo "${2^^}" ;; esac; }
count() { awk -v c="$1" '$NF == c' "$VAR/codes" | wc -l; }
codes() { awk '{print $NF}' "$VAR/codes" | sort | uniq -c | tr '\n' ' '; }
rows() { meta_sql eastus "SELECT count(*) FROM resources WHERE id = '/subscriptions/$SUB/resourceGroups/$1'"; }

for round in 1 2 3; do
  name=ConcRG-$round
  burst "$name"
  STATUS=$(codes); BODY=
  check test "$(count 201)" = 1 "round $round: $N concurrent PUTs: exactly one 201"
  check test "$(count 200)" = $((N - 1)) "round $round: $N concurrent PUTs: the other $((N - 1)) are 200"
  check test "$(rows "$name")" = 1 "round $round: one row for the group"
  creator=$(awk '$2 == 201 {print $1}' "$VAR/codes")
  arm GET "$G/$name?$RV"
  check test "$(echo "$BODY" | jq -r .name)" = "$(cased_as "$creator" "$name")" "round $round: the name has the casing of the PUT that got 201"

  name=OnlyOnce-$round
  burst "$name" 'If-None-Match: *'
  STATUS=$(codes); BODY=
  check test "$(count 201)" = 1 "round $round: $N concurrent PUTs with If-None-Match: *: exactly one 201"
  check test "$(count 412)" = $((N - 1)) "round $round: If-None-Match: *: the other $((N - 1)) are 412"
  check test "$(rows "$name")" = 1 "round $round: If-None-Match: *: one row"
  arm GET "$G/$name?$RV"
  winner=$(echo "$BODY" | jq -r .tags.writer)
  check test "$winner" = "$(awk '$2 == 201 {print $1}' "$VAR/codes")" "round $round: the stored group is the one the 201 wrote"
  etag=$(header ETag)

  burst "$name" "If-Match: $etag"
  STATUS=$(codes); BODY=
  check test "$(count 200)" = 1 "round $round: $N concurrent PUTs with the same If-Match: exactly one 200"
  check test "$(count 412)" = $((N - 1)) "round $round: If-Match: the other $((N - 1)) are 412"
  arm GET "$G/$name?$RV"
  check test "$(echo "$BODY" | jq -r .tags.writer)" = "$(awk '$2 == 200 {print $1}' "$VAR/codes")" "round $round: the stored tags are the If-Match winner's"
done

# Concurrent DELETEs of one group.
name=ConcRG-1
seq "$N" | xargs -P "$N" -I{} curl -s --cacert "$CA" -X DELETE -H "Authorization: Bearer $TOKEN" \
  -o /dev/null -w "d %{http_code}\n" "$G/$name?$RV" >"$VAR/codes" 2>&1 || true
STATUS=$(codes); BODY=
check test "$(count 202)" -ge 1 "$N concurrent DELETEs: at least one 202"
check test "$(( $(count 202) + $(count 404) + $(count 409) ))" = "$N" "$N concurrent DELETEs: each is 202, 404 or 409"
for _ in $(seq 300); do
  [ "$(meta_sql eastus "SELECT count(*) FROM operations WHERE status = 0")" = 0 ] && break
  sleep 0.1
done
check test "$(meta_sql eastus "SELECT count(*) FROM operations WHERE status = 0")" = 0 "every delete operation finished"
check test "$(meta_sql eastus "SELECT count(*) FROM operations WHERE status != 1")" = 0 "every delete operation Succeeded"
check test "$(rows "$name")" = 0 "the group is gone"
arm GET "$G/$name?$RV"
expect 404 ResourceGroupNotFound "GET after the concurrent DELETEs is 404"
check test "$(rows ConcRG-2)" = 1 "the other groups are untouched"

# ---- attach vs beginGetAccess ----
# (the grant's checks and its write were two transactions: 3 rounds in 20
# ended attached and ActiveSAS)
CV=api-version=2024-07-01
DV=api-version=2024-03-02
RGID=/subscriptions/$SUB/resourceGroups/race
DID=$RGID/providers/Microsoft.Compute/disks
arm PUT "$EAST$RGID?$RV" '{"location":"eastus"}'
for d in os1 d1; do
  arm PUT "$EAST$DID/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}'
  wait_op
done
vm_body() {
  echo '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},
    "storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":"'$DID/os1'"}},
    "dataDisks":['"$1"']}}}'
}
VMURL=$EAST$RGID/providers/Microsoft.Compute/virtualMachines/vm1
arm PUT "$VMURL?$CV" "$(vm_body '')"
wait_op
check test "$OP_STATUS" = Succeeded "race: a VM without data disks"
ATTACH=$(vm_body '{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/d1'"}}')
DETACH=$(vm_body '')
export ATTACH VMURL CV DV EAST DID
both=0 none=0 vm_won=0 grant_won=0 stuck=0
for round in $(seq 50); do
  printf 'vm\ngrant\n' | xargs -P 2 -I{} bash -c '
    if [ {} = vm ]; then
      curl -s --cacert "$CA" -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        --data "$ATTACH" -o /dev/null -w "vm %{http_code}\n" "$VMURL?$CV"
    else
      curl -s --cacert "$CA" -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        --data "{\"access\":\"Read\",\"durationInSeconds\":600}" -o /dev/null -w "grant %{http_code}\n" \
        "$EAST$DID/d1/beginGetAccess?$DV"
    fi' >"$VAR/codes" 2>&1 || true
  vm=$(awk '$1 == "vm" {print $2}' "$VAR/codes"); grant=$(awk '$1 == "grant" {print $2}' "$VAR/codes")
  arm GET "$EAST$DID/d1?$DV"
  state=$(echo "$BODY" | jq -r .properties.diskState) managed=$(echo "$BODY" | jq -r '.managedBy // ""')
  if [ "$vm" = 200 ] && [ "$grant" = 202 ]; then both=$((both + 1))
  elif [ "$vm" = 200 ] && [ "$grant" = 409 ]; then vm_won=$((vm_won + 1))
  elif [ "$vm" = 409 ] && [ "$grant" = 202 ]; then grant_won=$((grant_won + 1))
  else none=$((none + 1)); echo "round $round: vm $vm, grant $grant"; fi
  # the disk is what the winner made it, never both
  case "$state/$managed" in Attached/*/vm1|ActiveSAS/) ;; *) stuck=$((stuck + 1)); echo "round $round: disk $state by '$managed'";; esac
  arm POST "$EAST$DID/d1/endGetAccess?$DV"
  arm PUT "$VMURL?$CV" "$DETACH"
done
STATUS="vm won $vm_won, grant won $grant_won, both $both, other $none"; BODY=
echo "race: $STATUS"
check test "$both" = 0 "race: 50 rounds of attach vs beginGetAccess: never both succeed"
check test "$none" = 0 "race: exactly one succeeds in every round (200 + 409 or 409 + 202)"
check test "$stuck" = 0 "race: the disk is Attached to the VM or ActiveSAS, as the winner made it, never both"
arm GET "$EAST$DID/d1?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = Unattached "race: the disk is Unattached after the last round's reset"

# ---- DELETE vs beginGetAccess, on a new disk each round ----
# (the same one-transaction rule: a grant on a disk being deleted, or a
# delete of a disk with an active grant, never both)
both=0 none=0
for round in $(seq 30); do
  arm PUT "$EAST$DID/g$round?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
  DISK=$EAST$DID/g$round
  export DISK
  printf 'delete\ngrant\n' | xargs -P 2 -I{} bash -c '
    if [ {} = delete ]; then
      curl -s --cacert "$CA" -X DELETE -H "Authorization: Bearer $TOKEN" -o /dev/null -w "delete %{http_code}\n" "$DISK?$DV"
    else
      curl -s --cacert "$CA" -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        --data "{\"access\":\"Read\",\"durationInSeconds\":600}" -o /dev/null -w "grant %{http_code}\n" \
        "$DISK/beginGetAccess?$DV"
    fi' >"$VAR/codes" 2>&1 || true
  del=$(awk '$1 == "delete" {print $2}' "$VAR/codes"); grant=$(awk '$1 == "grant" {print $2}' "$VAR/codes")
  case "$del/$grant" in
    202/202) both=$((both + 1)); echo "round $round: deleted and granted" ;;
    202/409|202/404|409/202) ;;  # one won (a grant asked after the deletion finished: 404)
    *) none=$((none + 1)); echo "round $round: delete $del, grant $grant" ;;
  esac
  [ "$grant" = 202 ] && arm POST "$DISK/endGetAccess?$DV" && arm DELETE "$DISK?$DV"
done
STATUS="both $both, other $none"; BODY=
check test "$both" = 0 "race: 30 rounds of DELETE vs beginGetAccess on a disk: never both succeed"
check test "$none" = 0 "race: exactly one of them succeeds in every round"
finish
