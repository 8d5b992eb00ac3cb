#!/usr/bin/env bash
# Concurrent writes of one resource group, 20 clients at once, each on its own
# connection: plain PUTs create it exactly once (one 201, the rest 200, one
# row); with If-None-Match: * exactly one wins and the rest get 412; with
# If-Match on the same etag exactly one update wins; concurrent DELETEs all
# succeed and leave no group and no unfinished operation.
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
rows() { sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE id = '/subscriptions/$SUB/resourceGroups/$1'"; }

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
  [ "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM operations WHERE status = 0")" = 0 ] && break
  sleep 0.1
done
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM operations WHERE status = 0")" = 0 "every delete operation finished"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM operations WHERE status != 1")" = 0 "every delete operation Succeeded"
check test "$(rows "$name")" = 0 "the group is gone"
arm GET "$G/$name?$RV"
expect 404 ResourceGroupNotFound "GET after the concurrent DELETEs is 404"
check test "$(rows ConcRG-2)" = 1 "the other groups are untouched"
finish
