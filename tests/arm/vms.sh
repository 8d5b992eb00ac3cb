#!/usr/bin/env bash
# Microsoft.Compute/virtualMachines as configuration records: create (201 +
# LRO, Creating → Succeeded), get, instanceView, power actions, list, PATCH
# (tags, size, attach/detach), PUT update, delete (deleteOption), with their
# effects on the disks (managedBy, diskState, delete refused while attached);
# secrets never returned nor stored; Empty data disks made through the disk
# path; bad input answered with Azure's errors and nothing changed; a
# resource-group delete removing VMs and disks; scripts/vm-qemu; and the
# official JS SDK (@azure/arm-compute).
. "$VMRP_SRC/tests/lib/harness.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
V=api-version=2024-07-01
DV=api-version=2024-03-02
RGID=/subscriptions/$SUB/resourceGroups/vrg
RG=$EAST$RGID
D=$RG/providers/Microsoft.Compute/disks
VMS=$RG/providers/Microsoft.Compute/virtualMachines
DID=$RGID/providers/Microsoft.Compute/disks
VMID=$RGID/providers/Microsoft.Compute/virtualMachines/vm1
PW='Pa55w0rd-never-stored-7f3a'
CUSTOM=$(printf 'custom-data-secret-91c2' | base64)
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group for VMs"

new_disk() { # name size [osType]
  local ostype=${3:+,\"osType\":\"$3\"}
  arm PUT "$D/$1?$DV" "{\"location\":\"eastus\",\"properties\":{\"creationData\":{\"createOption\":\"Empty\"},\"diskSizeGB\":$2$ostype}}"
  wait_op
  [ "$OP_STATUS" = Succeeded ]
}
disk_field() { arm GET "$D/$1?$DV"; echo "$BODY" | jq -r "$2"; }
nvols() { find "$VAR/eastus/volumes" -name '*.img' | wc -l; }

check new_disk os1 1 Linux "disk os1"
check new_disk data1 1 "disk data1"

VM1='{"location":"East US","tags":{"app":"web"},"properties":{
  "hardwareProfile":{"vmSize":"Standard_B2s"},
  "storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":"'$DID/os1'"}},
    "dataDisks":[{"lun":0,"createOption":"Attach","caching":"ReadOnly","managedDisk":{"id":"'$DID/data1'"}},
                 {"lun":1,"createOption":"Empty","diskSizeGB":1,"name":"vm1-empty","deleteOption":"Delete"}]},
  "osProfile":{"computerName":"vm1","adminUsername":"azureuser","adminPassword":"'$PW'","customData":"'$CUSTOM'",
    "linuxConfiguration":{"disablePasswordAuthentication":false}},
  "userData":"'$CUSTOM'",
  "networkProfile":{"networkInterfaces":[{"id":"'$RGID'/providers/Microsoft.Network/networkInterfaces/nic1","properties":{"primary":true}}]}}}'
NET=$RG/providers/Microsoft.Network
arm PUT "$VMS/vm1?$V" "$VM1"
expect 400 InvalidResourceReference "PUT VM naming a network interface that does not exist: 400"
arm PUT "$NET/virtualNetworks/vnet1?api-version=2022-07-01" '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"default","properties":{"addressPrefix":"10.0.0.0/24"}}]}}'
expect 201 "" "virtual network vnet1"
arm PUT "$NET/networkInterfaces/nic1?api-version=2022-07-01" '{"location":"eastus","properties":{"ipConfigurations":[{"name":"ipconfig1","properties":{"subnet":{"id":"'$RGID'/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default"}}}]}}'
expect 201 "" "network interface nic1"
arm PUT "$VMS/vm1?$V" "$VM1"
expect 201 "" "PUT VM answers 201"
check test -n "$(header Azure-AsyncOperation)" "with Azure-AsyncOperation"
check test -n "$(header Location)" "and Location"
check test "$(header Retry-After)" = 1 "and Retry-After"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Creating "provisioningState Creating in the 201"
wait_op
check test "$OP_STATUS" = Succeeded "vmCreate succeeds"
arm GET "$VMS/vm1?$V"
expect 200 "" "GET VM"
GET1=$BODY
check test "$(echo "$GET1" | jq -r .properties.provisioningState)" = Succeeded "provisioningState Succeeded"
check test "$(echo "$GET1" | jq -r .id)" = "$VMID" "id"
check test "$(echo "$GET1" | jq -r .type)" = Microsoft.Compute/virtualMachines "type"
check test "$(echo "$GET1" | jq -r .location)" = eastus "location canonical"
check test "$(echo "$GET1" | jq -r .tags.app)" = web "tags"
check bash -c "echo '$GET1' | jq -r .properties.vmId | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'" "vmId is a GUID"
check test "$(echo "$GET1" | jq -r '.properties.timeCreated | test("^20")')" = true "timeCreated"
check test "$(echo "$GET1" | jq -r .properties.hardwareProfile.vmSize)" = Standard_B2s "vmSize kept"
check test "$(echo "$GET1" | jq -r .properties.storageProfile.osDisk.name)" = os1 "osDisk name is the disk's"
check test "$(echo "$GET1" | jq -r .properties.storageProfile.osDisk.caching)" = ReadWrite "osDisk caching defaults to ReadWrite"
check test "$(echo "$GET1" | jq -r '[.properties.storageProfile.dataDisks[] | "\(.lun):\(.name):\(.createOption):\(.caching)"] | join(",")')" \
  = "0:data1:Attach:ReadOnly,1:vm1-empty:Empty:None" "data disks by lun with name, createOption, caching"
check test "$(echo "$GET1" | jq -r '.properties.storageProfile.dataDisks[1].managedDisk.id')" = "$DID/vm1-empty" "Empty data disk's managedDisk.id"
check test "$(echo "$GET1" | jq -r '.properties.networkProfile.networkInterfaces[0].id')" = "$RGID/providers/Microsoft.Network/networkInterfaces/nic1" "NIC reference kept"
check test "$(echo "$GET1" | jq -r .properties.osProfile.adminUsername)" = azureuser "adminUsername kept"
check test "$(echo "$GET1" | jq -r '.properties.osProfile | has("adminPassword") or has("customData")')" = false "adminPassword and customData not returned"
check test "$(echo "$GET1" | jq -r '.properties | has("userData") or has("instanceView")')" = false "no userData, no instanceView without \$expand"
check bash -c "! grep -q -e '$PW' -e '$CUSTOM' <<<'$GET1'" "the secrets appear nowhere in the GET body"
check bash -c "! grep -a -q -e '$PW' -e '$CUSTOM' -e custom-data-secret '$VAR'/eastus/meta.db* '$VAR'/eastus/vmrpd.log" "nor in the sqlite database files or the log"
check test "$(sqlite3 "$VAR/eastus/meta.db" .dump | grep -c -e "$PW" -e "$CUSTOM")" = 0 "nor in the database dump"

# Attachment effects on the disks.
check test "$(disk_field os1 .managedBy)" = "$VMID" "os disk managedBy = VM id"
check test "$(disk_field os1 .properties.diskState)" = Attached "os disk diskState Attached"
check test "$(disk_field data1 .managedBy)" = "$VMID" "data disk managedBy"
check test "$(disk_field vm1-empty .properties.provisioningState)" = Succeeded "the Empty data disk was created"
check test "$(disk_field vm1-empty .properties.diskSizeGB)" = 1 "with its diskSizeGB"
check test "$(disk_field vm1-empty .managedBy)" = "$VMID" "and is attached"
check qemu-img info "$(nbd_uri "$D/vm1-empty")" "and exported over NBD like any disk (opened through a grant)"
check test "$(nvols)" = 3 "three volumes"
arm DELETE "$D/os1?$DV"
expect 409 OperationNotAllowed "deleting an attached disk is refused"

# instanceView and power actions.
iv_codes() { echo "$BODY" | jq -r "$1"'.statuses | map(.code) | join(",")'; }
arm GET "$VMS/vm1?$V&\$expand=instanceView"
check test "$(iv_codes .properties.instanceView)" = "ProvisioningState/succeeded,PowerState/running" "\$expand=instanceView statuses"
check test "$(echo "$BODY" | jq -r '[.properties.instanceView.disks[].name] | join(",")')" = "os1,data1,vm1-empty" "instanceView disks"
arm GET "$VMS/vm1/instanceView?$V"
expect 200 "" "GET …/instanceView"
check test "$(iv_codes '')" = "ProvisioningState/succeeded,PowerState/running" "instanceView resource"
power() { # action expected-state
  arm POST "$VMS/vm1/$1?$V"
  expect 202 "" "POST $1 answers 202"
  check test -n "$(header Azure-AsyncOperation)" "$1 with Azure-AsyncOperation"
  check test -n "$(header Location)" "$1 with Location"
  wait_op
  check test "$OP_STATUS" = Succeeded "$1 operation succeeds"
  arm GET "$VMS/vm1/instanceView?$V"
  check test "$(echo "$BODY" | jq -r '.statuses[1].code')" = "PowerState/$2" "after $1: PowerState/$2"
}
power powerOff stopped
power deallocate deallocated
arm POST "$VMS/vm1/restart?$V"
expect 409 OperationNotAllowed "restart of a deallocated VM is refused"
power start running
power restart running
arm POST "$VMS/nope/start?$V"
expect 404 ResourceNotFound "a power action on a missing VM"

# Lists.
arm GET "$VMS?$V"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = vm1 "list by resource group"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/virtualMachines?$V"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = vm1 "list by subscription"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/virtualMachines?$V&statusOnly=true"
check test "$(echo "$BODY" | jq -r '.value[0].properties.instanceView.statuses[1].code')" = PowerState/running "list with statusOnly=true carries the instance view"

# PATCH: tags and size; then detach and re-attach data disks.
arm PATCH "$VMS/vm1?$V" '{"tags":{"app":"web","tier":"gold"},"properties":{"hardwareProfile":{"vmSize":"Standard_D4s_v3"}}}'
expect 200 "" "PATCH tags and vmSize"
check test "$(echo "$BODY" | jq -r .properties.hardwareProfile.vmSize)" = Standard_D4s_v3 "vmSize changed"
check test "$(echo "$BODY" | jq -r '.tags | keys | join(",")')" = "app,tier" "tags changed"
check test "$(echo "$BODY" | jq -r '.properties.storageProfile.dataDisks | length')" = 2 "data disks untouched by a PATCH without dataDisks"
arm PATCH "$VMS/vm1?$V" '{"properties":{"storageProfile":{"dataDisks":[{"lun":1,"createOption":"Empty","diskSizeGB":1,"managedDisk":{"id":"'$DID/vm1-empty'"}}]}}}'
expect 200 "" "PATCH dataDisks without lun 0 detaches data1"
check test "$(echo "$BODY" | jq -r '[.properties.storageProfile.dataDisks[].lun] | join(",")')" = 1 "only lun 1 left"
check test "$(disk_field data1 '.managedBy // "none"')" = none "detached disk has no managedBy"
check test "$(disk_field data1 .properties.diskState)" = Unattached "detached disk is Unattached"
arm PATCH "$VMS/vm1?$V" '{"properties":{"storageProfile":{"dataDisks":[{"lun":1,"createOption":"Empty","diskSizeGB":1},{"lun":2,"createOption":"Attach","managedDisk":{"id":"'$DID/data1'"}}]}}}'
expect 200 "" "PATCH attaches data1 again at lun 2"
check test "$(disk_field data1 .managedBy)" = "$VMID" "re-attached disk managedBy"
arm PATCH "$VMS/vm1?$V" '{"properties":{"storageProfile":{"dataDisks":[{"lun":1,"createOption":"Empty","diskSizeGB":1},{"lun":2,"toBeDetached":true,"createOption":"Attach","managedDisk":{"id":"'$DID/data1'"}}]}}}'
expect 200 "" "PATCH with toBeDetached"
check test "$(disk_field data1 .properties.diskState)" = Unattached "toBeDetached detaches"
# PUT update: the same body again is idempotent (200), with data1 at lun 0 again.
arm PUT "$VMS/vm1?$V" "$VM1"
expect 200 "" "PUT on an existing VM answers 200"
check test "$(echo "$BODY" | jq -r '[.properties.storageProfile.dataDisks[] | "\(.lun):\(.name)"] | join(",")')" = "0:data1,1:vm1-empty" "PUT update restores the configuration"
check test "$(disk_field data1 .properties.diskState)" = Attached "and re-attaches data1"
check test "$(nvols)" = 3 "no new disk was made for the existing Empty lun"

# A PATCH adding an Empty disk is long running.
arm PATCH "$VMS/vm1?$V" '{"properties":{"storageProfile":{"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/data1'"}},{"lun":1,"createOption":"Empty","diskSizeGB":1},{"lun":3,"createOption":"Empty","diskSizeGB":1}]}}}'
expect 200 "" "PATCH adding an Empty disk"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Updating "is Updating"
wait_op
check test "$OP_STATUS" = Succeeded "and finishes"
check test "$(disk_field vm1_DataDisk_3 .properties.provisioningState)" = Succeeded "the new disk gets a default name and is made"

# Bad input: Azure's errors and nothing changed.
check new_disk os2 1 Linux "disk os2"
check new_disk data2 1 "disk data2"
before=$(store_dump eastus)
vols_before=$(nvols)
vmbody() { # storageProfile JSON [extra properties]
  echo '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":'"$1"'}}'
}
OS2='{"createOption":"Attach","managedDisk":{"id":"'$DID/os2'"}}'
arm PUT "$VMS/bad?$V" '{"properties":{"hardwareProfile":{"vmSize":"x"},"storageProfile":{"osDisk":'"$OS2"'}}}'
expect 400 LocationRequired "missing location"
arm PUT "$VMS/bad?$V" '{"location":"northpole","properties":{"hardwareProfile":{"vmSize":"x"},"storageProfile":{"osDisk":'"$OS2"'}}}'
expect 400 LocationNotAvailableForResourceType "a location no region serves"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":{"createOption":"Attach","managedDisk":{"id":"'$DID/nope'"}}}')"
expect 404 NotFound "an unknown OS disk"
check test "$(echo "$BODY" | jq -r .error.target)" = storageProfile.osDisk.managedDisk.id "with its target"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/nope'"}}]}')"
expect 404 NotFound "an unknown data disk"
check test "$(echo "$BODY" | jq -r .error.target)" = "storageProfile.dataDisks[0].managedDisk.id" "with its target"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":{"createOption":"Attach","managedDisk":{"id":"'$DID/os1'"}}}')"
expect 409 OperationNotAllowed "an OS disk attached to another VM"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/data1'"}}]}')"
expect 409 OperationNotAllowed "a data disk attached to another VM"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/data2'"}},{"lun":0,"createOption":"Empty","diskSizeGB":1}]}')"
expect 400 InvalidParameter "duplicate lun"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":64,"createOption":"Empty","diskSizeGB":1}]}')"
expect 400 InvalidParameter "lun 64"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/data2'"}},{"lun":1,"createOption":"Attach","managedDisk":{"id":"'$DID/data2'"}}]}')"
expect 400 InvalidParameter "the same disk at two luns"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":{"createOption":"Attach","diffDiskSettings":{"option":"Local"},"managedDisk":{"id":"'$DID/os2'"}}}')"
expect 400 InvalidParameter "ephemeral OS disk"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Attach","writeAcceleratorEnabled":true,"managedDisk":{"id":"'$DID/data2'"}}]}')"
expect 400 InvalidParameter "write accelerator"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":{"createOption":"Attach","name":"u","vhd":{"uri":"https://x.blob.core.windows.net/v/u.vhd"}}}')"
expect 400 InvalidParameter "unmanaged (vhd) OS disk"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Attach","vhd":{"uri":"https://x/y.vhd"}}]}')"
expect 400 InvalidParameter "unmanaged (vhd) data disk"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":{"createOption":"FromImage","managedDisk":{"id":"'$DID/os2'"}}}')"
expect 400 InvalidParameter "OS disk createOption FromImage"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Empty"}]}')"
expect 400 InvalidParameter "Empty data disk without diskSizeGB"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Empty","diskSizeGB":1,"name":"data2"}]}')"
expect 409 OperationNotAllowed "an Empty data disk whose name exists"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":1,"createOption":"Empty","diskSizeGB":1,"name":"fresh"},{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/data1'"}}]}')"
expect 409 OperationNotAllowed "a request that made an Empty disk before its error"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":0,"createOption":"Empty","diskSizeGB":1,"managedDisk":{"storageAccountType":"UltraSSD_LRS"}}]}')"
expect 400 InvalidParameter "an Empty data disk with an unsupported sku"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":{"createOption":"Attach","caching":"Fast","managedDisk":{"id":"'$DID/os2'"}}}')"
expect 400 InvalidParameter "an invalid caching value"
arm PUT "$VMS/bad?$V" '{"location":"eastus","properties":{"storageProfile":{"osDisk":'"$OS2"'}}}'
expect 400 InvalidParameter "missing vmSize"
arm PUT "$VMS/bad?$V" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"x"}}}'
expect 400 InvalidParameter "missing osDisk"
arm PUT "$VMS/bad?$V" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":5},"storageProfile":{"osDisk":'"$OS2"'}}}'
expect 400 InvalidRequestContent "vmSize of the wrong JSON type"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":"x"}')"
expect 400 InvalidRequestContent "dataDisks of the wrong JSON type"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[{"lun":"zero","createOption":"Empty","diskSizeGB":1}]}')"
expect 400 InvalidRequestContent "lun of the wrong JSON type (a string that is no integer)"
arm PUT "$VMS/bad?$V" "$(vmbody '{"osDisk":'"$OS2"',"dataDisks":[7]}')"
expect 400 InvalidRequestContent "a data disk entry that is not an object"
arm PUT "$VMS/bad?$V" '{"location":"eastus","properties":[]}'
expect 400 InvalidRequestContent "properties of the wrong JSON type"
arm PUT "$VMS/bad?$V" '{"location":'
expect 400 InvalidRequestContent "malformed JSON"
arm PUT "$VMS/bad?$V" ''
expect 400 InvalidRequestContent "no body"
for name in _vm vm- vm. 'a%21b' 'a%20b' "$(printf 'v%.0s' $(seq 65))"; do
  arm PUT "$VMS/$name?$V" "$(vmbody '{"osDisk":'"$OS2"'}')"
  expect 400 InvalidParameter "invalid VM name '$name'"
done
arm PUT "$VMS/bad?api-version=2019-01-01" "$(vmbody '{"osDisk":'"$OS2"'}')"
expect 400 NoRegisteredProviderFound "an api-version Compute does not have"
arm PUT "$VMS/bad" "$(vmbody '{"osDisk":'"$OS2"'}')"
expect 400 MissingApiVersionParameter "no api-version"
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/nope/providers/Microsoft.Compute/virtualMachines/x?$V" "$(vmbody '{"osDisk":'"$OS2"'}')"
expect 404 ResourceGroupNotFound "a missing resource group"
arm PATCH "$VMS/vm1?$V" '{"properties":{"storageProfile":{"osDisk":{"createOption":"Attach","managedDisk":{"id":"'$DID/os2'"}}}}}'
expect 400 PropertyChangeNotAllowed "PATCH swapping the OS disk"
arm PATCH "$VMS/vm1?$V" '{"properties":{"osProfile":{"computerName":"other"}}}'
expect 400 PropertyChangeNotAllowed "PATCH changing computerName"
arm PATCH "$VMS/vm1?$V" '{"properties":{"storageProfile":{"dataDisks":[{"lun":5,"createOption":"Attach","managedDisk":{"id":"'$DID/nope'"}}]}}}'
expect 404 NotFound "PATCH attaching a missing disk"
arm PATCH "$VMS/vm1?$V" '{"tags":"x"}'
expect 400 InvalidRequestContent "PATCH tags of the wrong JSON type"
arm PATCH "$VMS/nope?$V" '{"tags":{}}'
expect 404 ResourceNotFound "PATCH of a missing VM"
arm GET "$VMS/nope?$V"
expect 404 ResourceNotFound "GET of a missing VM"
arm GET "$VMS/nope/instanceView?$V"
expect 404 ResourceNotFound "instanceView of a missing VM"
check test "$(store_dump eastus)" = "$before" "none of the refused requests changed the store"
check test "$(nvols)" = "$vols_before" "and no volume was made"

# Delete: deleteOption Delete deletes the disk, Detach leaves it Unattached.
arm PUT "$VMS/vm2?$V" "$(vmbody '{"osDisk":{"createOption":"Attach","deleteOption":"Delete","managedDisk":{"id":"'$DID/os2'"}},"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID/data2'"}}]}')"
expect 201 "" "PUT vm2"
wait_op
check test "$OP_STATUS" = Succeeded "vm2 created"
arm DELETE "$VMS/vm2?$V"
expect 202 "" "DELETE VM answers 202"
check test -n "$(header Azure-AsyncOperation)" "with Azure-AsyncOperation"
check test -n "$(header Location)" "and Location"
wait_op
check test "$OP_STATUS" = Succeeded "vmDelete succeeds"
arm GET "$VMS/vm2?$V"
expect 404 ResourceNotFound "vm2 is gone"
arm GET "$D/os2?$DV"
expect 404 ResourceNotFound "its deleteOption=Delete OS disk is deleted"
check test "$(disk_field data2 .properties.diskState)" = Unattached "its Detach data disk is left Unattached"
check test "$(disk_field data2 '.managedBy // "none"')" = none "without managedBy"
arm DELETE "$VMS/vm2?$V"
expect 204 "" "deleting a missing VM is 204"

# scripts/vm-qemu prints a QEMU command line for vm1's disks.
QEMU=$(VMRP_ENDPOINTS=$ENDPOINTS "$VMRP_SRC/scripts/vm-qemu" vrg vm1 2>"$VAR/vmq.err") || cat "$VAR/vmq.err"
check bash -c "grep -q '^qemu-system-x86_64 ' <<<'$QEMU'" "vm-qemu prints a qemu-system-x86_64 command"
check bash -c "grep -q -- '-smp 2 -m 4096' <<<'$QEMU'" "sized from vmSize Standard_B2s"
# Each file= is the URI of a fresh grant (nbd+unix:///<accessId>.<secret>?socket=…) on its disk.
vmq_grant() { grep -o 'file=[^,]*' <<<"$QEMU" | sed -n "$1p" | sed 's|^file=nbd+unix:///\([^.]*\)\..*|\1|'; }
granted() { arm GET "$D/$1/vmrpNbdAccess?$DV"; echo "$BODY" | jq -e --arg id "$2" '[.value[].accessId] | index($id)' >/dev/null; }
check granted os1 "$(vmq_grant 1)" "the OS disk first (through a grant on os1)"
check granted data1 "$(vmq_grant 2)" "then data disks by lun (a grant on data1)"
check qemu-img info "$(grep -o 'file=[^,]*' <<<"$QEMU" | head -1 | cut -d= -f2-)" "and the URI opens the disk"
check test "$(grep -o 'serial=[a-z0-9]*' <<<"$QEMU" | tr '\n' ,)" = "serial=os,serial=lun0,serial=lun1,serial=lun3," "four virtio disks named os, lun0, lun1, lun3"
check bash -c "grep -o 'file=[^,]*' <<<'$QEMU' | cut -d= -f2- | while read -r u; do qemu-img info \"\$u\" >/dev/null || exit 1; done" "every drive URI opens (qemu-img info)"

# The official JS SDK (@azure/arm-compute).
if [ -d "$VMRP_SRC/tests/clients/node_modules/@azure/arm-compute" ]; then
  if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/vms.mjs" "$ENDPOINTS" eastus; then
    ok "JS SDK virtual machine flow"
  else
    STATUS=; BODY=; fail "JS SDK virtual machine flow"
  fi
else
  echo "# @azure/arm-compute missing (scripts/deps test): JS SDK part skipped"
fi

# A resource-group delete removes the VM (detaching its disks) and the disks.
arm DELETE "$RG?api-version=2021-04-01"
expect 202 "" "delete the resource group"
loc=$(header Location)
for _ in $(seq 100); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
check test "$STATUS" = 200 "resource group delete finishes"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE id LIKE '%/resourceGroups/vrg%'")" = 0 "no VM or disk rows are left"
check test "$(nvols)" = 0 "every disk volume is deleted"
finish
