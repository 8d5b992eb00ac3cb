#!/usr/bin/env bash
# Isolation between subscriptions (issue 26): a Contributor of subscription A
# with no role on B names B's resources in request bodies — a disk Copy of
# B's disk, a disk Restore from B's disk restore point, a collection whose
# source is B's VM (same region, and created in the other region: cross-region
# creation), a westus collection copying B's eastus collection, a restore
# point copy of B's restore point, a VM attaching B's disk — through both
# regions' endpoints; a NIC in B's subnet and a VM with B's NIC.  Each is refused with 403 LinkedAuthorizationFailed
# before anything happens: nothing is created in A, B's VM is not fenced (no
# restore point appears), B's resources are unchanged.  Also: id spellings
# a lookup could still match (case, leading slashes and blanks), a Reader of
# B (reads B, may not copy from it), tags naming B (free text: allowed), an
# id without a subscription (400), and a role on B withdrawn after a
# collection of B's VM was made (its next restore point is refused).
# Controls: B's Owner does each of these inside B.
. "$VMRP_SRC/tests/lib/harness.sh"
second_subscription
start_regions
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01

read -r BOB_ID BOB_SEC <<<"$(principal bob "$SUB_B" Owner)"
read -r ALICE_ID ALICE_SEC <<<"$(principal alice "$SUB" Contributor)"
read -r CAROL_ID CAROL_SEC <<<"$(principal carol "$SUB" Contributor)"
role "$CAROL_ID" "$SUB_B" Reader
as() { # bob|alice|carol [REGION]: TOKEN for that principal at east (default) or west
  local base=${2:-$EAST} id sec
  case $1 in bob) id=$BOB_ID sec=$BOB_SEC ;; alice) id=$ALICE_ID sec=$ALICE_SEC ;; carol) id=$CAROL_ID sec=$CAROL_SEC ;; esac
  TOKEN=$(token "$base" "$id" "$sec")
}

# ---- B's resources, made by B's Owner ------------------------------------------
as bob
PB=/subscriptions/$SUB_B/resourceGroups/brg/providers/Microsoft.Compute
CB=$EAST$PB
arm PUT "$EAST/subscriptions/$SUB_B/resourceGroups/brg?$GV" '{"location":"eastus"}'
expect 201 "" "B: resource group"
arm PUT "$CB/disks/bdisk?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op; check test "$OP_STATUS" = Succeeded "B: disk"
arm PUT "$CB/disks/bos?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}'
wait_op; check test "$OP_STATUS" = Succeeded "B: OS disk"
arm PUT "$CB/virtualMachines/bvm?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$PB'/disks/bos"}}}}}'
wait_op; check test "$OP_STATUS" = Succeeded "B: VM"
arm PUT "$CB/restorePointCollections/bcoll?$CV" '{"location":"eastus","properties":{"source":{"id":"'$PB'/virtualMachines/bvm"}}}'
expect 201 "" "B: collection of its VM"
arm PUT "$CB/restorePointCollections/bcoll/restorePoints/brp?$CV" '{}'
wait_op; check test "$OP_STATUS" = Succeeded "B: restore point"
arm GET "$CB/restorePointCollections/bcoll/restorePoints/brp/diskRestorePoints?$DV"
B_DRP=$(echo "$BODY" | jq -r '.value[0].id')
check test "${B_DRP#/subscriptions/$SUB_B/}" != "$B_DRP" "B: its disk restore point"
B_DISK=$PB/disks/bdisk B_VM=$PB/virtualMachines/bvm B_COLL=$PB/restorePointCollections/bcoll B_RP=$B_COLL/restorePoints/brp
NB=/subscriptions/$SUB_B/resourceGroups/brg/providers/Microsoft.Network
NV=api-version=2022-07-01
arm PUT "$EAST$NB/virtualNetworks/bvnet?$NV" '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"s","properties":{"addressPrefix":"10.0.0.0/24"}}]}}'
expect 201 "" "B: virtual network"
arm PUT "$EAST$NB/networkInterfaces/bnic?$NV" '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NB'/virtualNetworks/bvnet/subnets/s"}}}]}}'
expect 201 "" "B: network interface"
B_BEFORE_E=$(store_dump eastus | grep -i "^/subscriptions/$SUB_B/") B_BEFORE_W=$(store_dump westus | grep -i "^/subscriptions/$SUB_B/" || true)
rp_count() { sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE type LIKE '%/restorePoints'"; }
RPS_BEFORE=$(rp_count)

# ---- A's Contributor names B's resources -----------------------------------------
PA=/subscriptions/$SUB/resourceGroups/arg/providers/Microsoft.Compute
as alice
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/arg?$GV" '{"location":"eastus"}'
expect 201 "" "A: resource group"
arm GET "$CB/disks/bdisk?$DV"
expect 403 AuthorizationFailed "A: cannot even read B's disk"
A_BEFORE=$(store_dump eastus | grep -i "^/subscriptions/$SUB/")

# refused BASE METHOD PATH BODY TARGET DESCRIPTION: 403 LinkedAuthorizationFailed naming TARGET
refused() {
  arm "$2" "$1$3" "$4"
  expect 403 LinkedAuthorizationFailed "$6"
  check test "$(echo "$BODY" | jq -r .error.target)" = "$5" "  ... the error names $5"
}
for base in "$EAST" "$WEST"; do
  r=$([ "$base" = "$EAST" ] && echo eastus || echo westus)
  as alice "$base"
  refused "$base" PUT "$PA/disks/stolen?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"'$B_DISK'"}}}' \
    properties.creationData.sourceResourceId "via $r: disk Copy of B's disk"
  refused "$base" PUT "$PA/disks/stolen?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'$B_DRP'"}}}' \
    properties.creationData.sourceResourceId "via $r: disk Restore from B's disk restore point"
  refused "$base" PUT "$PA/restorePointCollections/stolen?$CV" '{"location":"eastus","properties":{"source":{"id":"'$B_VM'"}}}' \
    properties.source.id "via $r: a collection of B's VM"
  refused "$base" PUT "$PA/restorePointCollections/stolen?$CV" '{"location":"westus","properties":{"source":{"id":"'$B_VM'"}}}' \
    properties.source.id "via $r: a westus collection of B's eastus VM (cross-region creation)"
  refused "$base" PUT "$PA/restorePointCollections/stolen?$CV" '{"location":"westus","properties":{"source":{"id":"'$B_COLL'"}}}' \
    properties.source.id "via $r: a westus collection copying B's eastus collection"
  refused "$base" PUT "$PA/virtualMachines/stolen?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$B_DISK'"}}}}}' \
    properties.storageProfile.osDisk.managedDisk.id "via $r: a VM attaching B's disk"
done
as alice
NA=/subscriptions/$SUB/resourceGroups/arg/providers/Microsoft.Network
refused "$EAST" PUT "$NA/networkInterfaces/stolen?$NV" '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NB'/virtualNetworks/bvnet/subnets/s"}}}]}}' \
  'properties.ipConfigurations[0].properties.subnet.id' "a NIC in B's subnet"
refused "$EAST" PUT "$PA/virtualMachines/stolen?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "networkProfile":{"networkInterfaces":[{"id":"'$NB'/networkInterfaces/bnic"}]}}}' \
  'properties.networkProfile.networkInterfaces[0].id' "a VM with B's network interface"
# spellings of B's id that a lookup might still match
for spelled in "/SUBSCRIPTIONS/$SUB_B/resourceGroups/brg/providers/Microsoft.Compute/disks/bdisk" \
               "//subscriptions/$SUB_B/resourceGroups/brg/providers/Microsoft.Compute/disks/bdisk" \
               " /subscriptions/$SUB_B/resourceGroups/brg/providers/Microsoft.Compute/disks/bdisk" \
               "subscriptions/$SUB_B/resourceGroups/brg/providers/Microsoft.Compute/disks/bdisk" \
               "/subscriptions/$(echo "$SUB_B" | tr a-f A-F)/resourceGroups/brg/providers/Microsoft.Compute/disks/bdisk"; do
  refused "$EAST" PUT "$PA/disks/stolen?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"'"$spelled"'"}}}' \
    properties.creationData.sourceResourceId "disk Copy of B's disk spelled '$spelled'"
done
# an id anywhere in the body, at any depth, in an array, or in a member no handler reads
refused "$EAST" PUT "$PA/disks/stolen?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"x":[{"y":"'$B_DISK'"}]}}' \
  'properties.x[0].y' "an id of B in a member no handler reads"
arm PUT "$EAST$PA/disks/stolen?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"/subscriptions//resourceGroups/brg"}}}'
expect 400 LinkedInvalidPropertyId "an id without a subscription"
check test "$A_BEFORE" = "$(store_dump eastus | grep -i "^/subscriptions/$SUB/")" "nothing was created in A"
check test "$(store_dump westus | grep -ci "/subscriptions/$SUB/.*stolen" || true)" = 0 "nothing was created in A in westus"

# A restore point copy naming B's restore point, into A's own westus copy collection.
arm PUT "$EAST$PA/disks/aos?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}'
wait_op
arm PUT "$EAST$PA/virtualMachines/avm?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$PA'/disks/aos"}}}}}'
wait_op; check test "$OP_STATUS" = Succeeded "A: its own VM"
arm PUT "$EAST$PA/restorePointCollections/acoll?$CV" '{"location":"eastus","properties":{"source":{"id":"'$PA'/virtualMachines/avm"}}}'
expect 201 "" "A: a collection of its own VM"
arm PUT "$EAST$PA/restorePointCollections/acopy?$CV" '{"location":"westus","properties":{"source":{"id":"'$PA'/restorePointCollections/acoll"}}}'
expect 201 "" "A: a westus collection copying its own eastus collection"
refused "$WEST" PUT "$PA/restorePointCollections/acopy/restorePoints/stolen?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$B_RP'"}}}' \
  properties.sourceRestorePoint.id "a restore point copy of B's restore point"
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/tagged?$GV" '{"location":"eastus","tags":{"origin":"'$B_DISK'"}}'
expect 201 "" "tags naming B's resources are free text"

# ---- a Reader of B reads B, and may not use B's data ----------------------------
as carol
arm GET "$CB/disks/bdisk?$DV"
expect 200 "" "B's Reader: reads B's disk"
refused "$EAST" PUT "$PA/disks/carols?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"'$B_DISK'"}}}' \
  properties.creationData.sourceResourceId "B's Reader: no disk Copy of B's disk"
arm POST "$CB/disks/bdisk/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":60}'
expect 403 AuthorizationFailed "B's Reader: no SAS on B's disk either (the same rule)"

# ---- a role on B withdrawn after the collection of B's VM was made --------------
role "$CAROL_ID" "$SUB_B" Contributor
arm PUT "$EAST$PA/restorePointCollections/carols?$CV" '{"location":"eastus","properties":{"source":{"id":"'$B_VM'"}}}'
expect 201 "" "a Contributor of A and B: a collection in A of B's VM"
role "$CAROL_ID" "$SUB_B" none
arm PUT "$EAST$PA/restorePointCollections/carols/restorePoints/late?$CV" '{}'
expect 403 LinkedAuthorizationFailed "role on B withdrawn: a restore point of B's VM is refused"
check test "$(rp_count)" = "$RPS_BEFORE" "B's VM was never fenced: no restore point of it appeared"

check test "$B_BEFORE_E" = "$(store_dump eastus | grep -i "^/subscriptions/$SUB_B/")" "B's eastus resources unchanged by A's attempts"
check test "$B_BEFORE_W" = "$(store_dump westus | grep -i "^/subscriptions/$SUB_B/" || true)" "and B's westus resources"

# ---- controls: B's Owner does the same inside B ---------------------------------
as bob
arm PUT "$CB/disks/bcopy?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"'$B_DISK'"}}}'
wait_op; check test "$OP_STATUS" = Succeeded "control: the copy is made"
arm PUT "$CB/disks/brest?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'$B_DRP'"}}}'
wait_op; check test "$OP_STATUS" = Succeeded "control: B's Owner restores from B's disk restore point"
arm PUT "$WEST$PB/restorePointCollections/bcopy?$CV" '{"location":"westus","properties":{"source":{"id":"'$B_COLL'"}}}'
expect 201 "" "control: B's Owner copies its collection to westus"
arm PUT "$WEST$PB/restorePointCollections/bcopy/restorePoints/brp?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$B_RP'"}}}'
expect 201 "" "control: and its restore point"
wait_op 1200; check test "$OP_STATUS" = Succeeded "control: the copy succeeds"
finish
