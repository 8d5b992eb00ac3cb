#!/usr/bin/env bash
# Microsoft.Network as VM templates declare it — virtual networks (subnets
# also as child resources), network security groups, network interfaces,
# public IP addresses — stored, checked and protected while referenced, no
# network emulated: PUT/GET/DELETE/list (group, subscription, /resources,
# provider metadata) with the template's own bodies and api-versions; bad
# input answered with Azure's codes and nothing stored; a NIC a VM uses, a
# subnet, NSG or public IP a NIC uses cannot be deleted; a VM must name an
# existing NIC no other VM has; a group delete removes them all.  Clients:
# curl, azure-mgmt-network (/usr/bin/python3), @azure/arm-network
# (tests/clients/network.mjs) and the az CLI (az resource).
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
RGID=/subscriptions/$SUB/resourceGroups/nrg
RG=$EAST$RGID
N=$RG/providers/Microsoft.Network
NID=$RGID/providers/Microsoft.Network
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group nrg"

# ---- the template's resources, in its bodies and api-versions ----
VNET='{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},
  "subnets":[{"name":"default","properties":{"addressPrefix":"10.0.0.0/24"}}]}}'
arm PUT "$N/virtualNetworks/vnet?api-version=2020-11-01" "$VNET"
expect 201 "" "virtual network (api-version 2020-11-01)"
check test "$(echo "$BODY" | jq -r '[.properties.provisioningState, .properties.subnets[0].id, .properties.subnets[0].properties.addressPrefix, (.etag | startswith("W/\""))] | join(",")')" \
  = "Succeeded,$NID/virtualNetworks/vnet/subnets/default,10.0.0.0/24,true" "Succeeded, the subnet's id and prefix, a weak etag"
arm PUT "$N/networkSecurityGroups/nsg?api-version=2019-02-01" '{"location":"eastus","properties":{"securityRules":[]}}'
expect 201 "" "network security group (2019-02-01)"
check test "$(echo "$BODY" | jq '.properties.defaultSecurityRules | length')" = 6 "with Azure's six default rules"
arm PUT "$N/publicIpAddresses/pip?api-version=2020-08-01" '{"location":"eastus","properties":{"publicIpAllocationMethod":"Dynamic"},"sku":{"name":"Basic"}}'
expect 201 "" "public IP address (publicIpAddresses, publicIpAllocationMethod, 2020-08-01)"
check test "$(echo "$BODY" | jq -c '[.type, .properties.publicIPAllocationMethod, .sku.name, (.properties | has("ipAddress"))]')" \
  = '["Microsoft.Network/publicIPAddresses","Dynamic","Basic",false]' "in Azure's spelling, no address allocated"
NIC='{"location":"eastus","properties":{"ipConfigurations":[{"name":"ipconfig1","properties":{
  "subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"privateIPAllocationMethod":"Dynamic",
  "publicIpAddress":{"id":"'$NID'/publicIpAddresses/pip","properties":{"deleteOption":"Detach"}}}}],
  "networkSecurityGroup":{"id":"'$NID'/networkSecurityGroups/nsg"}}}'
arm PUT "$N/networkInterfaces/nic?api-version=2021-03-01" "$NIC"
expect 201 "" "network interface (2021-03-01)"
check test "$(echo "$BODY" | jq -r '.properties.ipConfigurations[0] | [.id, .properties.primary, .properties.publicIPAddress.id] | join(",")')" \
  = "$NID/networkInterfaces/nic/ipConfigurations/ipconfig1,true,$NID/publicIpAddresses/pip" "its ip configuration: id, primary, public IP"
arm PUT "$N/networkInterfaces/nic?api-version=2021-03-01" "$NIC"
expect 200 "" "the same PUT again: 200"
arm PUT "$N/networkInterfaces/static?api-version=2022-07-01" '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"privateIPAllocationMethod":"static","privateIPAddress":"10.0.0.9"}}]}}'
expect 201 "" "a NIC with a Static address in its subnet"
check test "$(echo "$BODY" | jq -r '.properties.ipConfigurations[0].properties | .privateIPAllocationMethod + " " + .privateIPAddress')" = "Static 10.0.0.9" "keeps the address it was given"
arm DELETE "$N/networkInterfaces/static?api-version=2022-07-01"
expect 200 "" "delete it"

# ---- reads, back-references, lists ----
arm GET "$N/virtualNetworks/vnet/subnets/default?api-version=2024-05-01"
expect 200 "" "GET the subnet as a child resource"
check test "$(echo "$BODY" | jq -r '.properties.ipConfigurations[0].id')" = "$NID/networkInterfaces/nic/ipConfigurations/ipconfig1" "the subnet lists the NIC's ip configuration"
arm GET "$N/virtualNetworks/vnet/subnets?api-version=2024-05-01"
check test "$(echo "$BODY" | jq -r '.value[].name')" = default "list the subnets"
arm GET "$N/publicIPAddresses/pip?api-version=2022-07-01"
check test "$(echo "$BODY" | jq -r .properties.ipConfiguration.id)" = "$NID/networkInterfaces/nic/ipConfigurations/ipconfig1" "the public IP names its ip configuration"
arm GET "$N/networkSecurityGroups/nsg?api-version=2022-07-01"
check test "$(echo "$BODY" | jq -r '.properties.networkInterfaces[0].id')" = "$NID/networkInterfaces/nic" "the NSG names its NIC"
arm GET "$N/networkInterfaces?api-version=2022-07-01"
check test "$(echo "$BODY" | jq -r '.value[].name')" = nic "list the group's NICs"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Network/virtualNetworks?api-version=2022-07-01"
check test "$(echo "$BODY" | jq -r '.value[].name')" = vnet "list the subscription's VNets"
arm GET "$RG/resources?api-version=2021-04-01"
check test "$(echo "$BODY" | jq -r '[.value[].type] | sort | join(",")')" \
  = "Microsoft.Network/networkInterfaces,Microsoft.Network/networkSecurityGroups,Microsoft.Network/publicIPAddresses,Microsoft.Network/virtualNetworks" \
  "GET …/resources lists the four"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Network?api-version=2021-04-01"
check test "$(echo "$BODY" | jq -r '[.resourceTypes[].resourceType] | join(",")')" \
  = "virtualNetworks,virtualNetworks/subnets,networkSecurityGroups,networkInterfaces,publicIPAddresses" "provider metadata lists the types"
arm PATCH "$N/networkSecurityGroups/nsg?api-version=2022-07-01" '{"Tags":{"env":"test"}}'
expect 200 "" "PATCH an NSG's tags (UpdateTags)"
check test "$(echo "$BODY" | jq -c '[.tags.env, (.properties.defaultSecurityRules | length)]')" = '["test",6]' "tags set, the rest kept"
arm PATCH "$N/networkSecurityGroups/nope?api-version=2022-07-01" '{"tags":{}}'
expect 404 ResourceNotFound "PATCH a missing NSG"
arm GET "$N/virtualNetworks/nope?api-version=2022-07-01"
expect 404 ResourceNotFound "GET a missing VNet"

# ---- bad input: Azure's errors, nothing stored ----
BEFORE=$(store_dump eastus)
bad() { # TYPE/NAME BODY CODE DESCRIPTION
  arm PUT "$N/$1?api-version=2022-07-01" "$2"
  expect 400 "$3" "$4"
}
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0/16"]}}}' InvalidAddressPrefixFormat "a malformed address prefix"
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.1/16"]}}}' InvalidCIDRNotation "host bits in an address prefix"
bad virtualNetworks/v2 '{"location":"eastus","properties":{}}' InvalidRequestFormat "no address space"
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.1.0.0/24"}}]}}' NetcfgSubnetRangeOutsideVnet "a subnet outside the space"
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.0.0.0/24"}},{"name":"b","properties":{"addressPrefix":"10.0.0.128/25"}}]}}' NetcfgSubnetRangesOverlap "overlapping subnets"
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.0.0.0/24"}},{"name":"A","properties":{"addressPrefix":"10.0.1.0/24"}}]}}' DuplicateResourceName "two subnets of one name"
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":"10.0.0.0/16"}}}' InvalidRequestContent "addressPrefixes not an array"
bad virtualNetworks/v2 '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":["a"]}}' InvalidRequestContent "a subnet that is no object"
bad networkSecurityGroups/n2 '{"location":"eastus","properties":{"securityRules":[{"name":"r","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound","priority":"50"}}]}}' SecurityRuleInvalidPriority "a rule of priority \"50\""
bad networkSecurityGroups/n2 '{"location":"eastus","properties":{"securityRules":[{"name":"r","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound"}}]}}' SecurityRuleParameterMissing "a rule without priority"
bad networkSecurityGroups/n2 '{"location":"eastus","properties":{"securityRules":[{"name":"r","properties":{"protocol":"Gre","access":"Allow","direction":"Inbound","priority":100}}]}}' InvalidParameter "an unknown protocol"
bad networkSecurityGroups/n2 '{"location":"eastus","properties":{"securityRules":[{"name":"r","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound","priority":100}},{"name":"s","properties":{"protocol":"Udp","access":"Deny","direction":"inbound","priority":100}}]}}' SecurityRuleConflict "two inbound rules of one priority"
bad publicIPAddresses/p2 '{"location":"eastus","properties":{"dnsSettings":{"domainNameLabel":"Bad_Label"}}}' InvalidDomainNameLabel "a domain name label Azure refuses"
bad publicIPAddresses/p2 '{"location":"eastus","properties":{"publicIPAllocationMethod":"Sometimes"}}' InvalidParameter "an unknown allocation method"
bad publicIPAddresses/p2 '{"location":"eastus","properties":{"idleTimeoutInMinutes":"99"}}' PublicIPIdleTimeoutIsOutOfRange "an idle timeout of \"99\" minutes"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[]}}' NetworkInterfaceMustHaveAtLeastOneIpConfiguration "a NIC without ip configurations"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/nope"}}}]}}' InvalidResourceReference "a NIC in a missing subnet"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{}}]}}' InvalidResourceReference "a NIC without a subnet"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"publicIPAddress":{"id":"'$NID'/publicIPAddresses/nope"}}}]}}' InvalidResourceReference "a NIC with a missing public IP"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"}}}],"networkSecurityGroup":{"id":"'$NID'/virtualNetworks/vnet"}}}' InvalidResourceReference "a NIC whose NSG id names a VNet"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"publicIPAddress":{"id":"'$NID'/publicIPAddresses/pip"}}}]}}' PublicIPAddressInUse "a public IP another NIC holds"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"privateIPAllocationMethod":"Static"}}]}}' InvalidRequestFormat "Static without an address"
bad networkInterfaces/n2 '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"privateIPAllocationMethod":"Static","privateIPAddress":"10.0.1.4"}}]}}' PrivateIPAddressNotInSubnet "a Static address outside its subnet"
bad 'networkInterfaces/bad%20name' '{"location":"eastus"}' InvalidResourceName "an invalid name"
arm PUT "$N/networkInterfaces/n2?api-version=2099-01-01" "$NIC"
expect 400 NoRegisteredProviderFound "an api-version Microsoft.Network never had"
arm PUT "$N/loadBalancers/lb?api-version=2022-07-01" '{"location":"eastus"}'
check test "$STATUS" = 400 "a Network type vmrp does not serve: 400"
check test "$(store_dump eastus)" = "$BEFORE" "nothing stored by the refused requests"

# ---- in use: nothing referenced goes ----
arm DELETE "$N/publicIPAddresses/pip?api-version=2022-07-01"
expect 400 PublicIPAddressCannotBeDeleted "delete a public IP a NIC holds"
arm DELETE "$N/networkSecurityGroups/nsg?api-version=2022-07-01"
expect 400 InUseNetworkSecurityGroupCannotBeDeleted "delete an NSG a NIC uses"
arm DELETE "$N/virtualNetworks/vnet?api-version=2022-07-01"
expect 400 InUseSubnetCannotBeDeleted "delete a VNet whose subnet a NIC uses"
arm DELETE "$N/virtualNetworks/vnet/subnets/default?api-version=2022-07-01"
expect 400 InUseSubnetCannotBeDeleted "delete the subnet a NIC uses"
arm PUT "$N/virtualNetworks/vnet?api-version=2022-07-01" '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}'
expect 400 InUseSubnetCannotBeDeleted "a VNet PUT that drops the used subnet"
arm PUT "$N/virtualNetworks/vnet/subnets/second?api-version=2022-07-01" '{"properties":{"addressPrefix":"10.0.1.0/24"}}'
expect 201 "" "PUT a second subnet as a child resource"
arm GET "$N/virtualNetworks/vnet?api-version=2022-07-01"
check test "$(echo "$BODY" | jq -r '[.properties.subnets[].name] | join(",")')" = default,second "the VNet has both"
arm PUT "$N/virtualNetworks/vnet/subnets/third?api-version=2022-07-01" '{"properties":{"addressPrefix":"10.0.1.128/25"}}'
expect 400 NetcfgSubnetRangesOverlap "a child subnet overlapping another"
arm DELETE "$N/virtualNetworks/vnet/subnets/second?api-version=2022-07-01"
expect 200 "" "delete the unused subnet"
arm DELETE "$N/virtualNetworks/vnet/subnets/second?api-version=2022-07-01"
expect 204 "" "again: 204"

# ---- a VM and its NIC ----
D=$RG/providers/Microsoft.Compute/disks
arm PUT "$D/os?api-version=2024-03-02" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}'
wait_op
vm() { # NAME NIC
  echo '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},
    "storageProfile":{"osDisk":{"createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/'$1'"}}},
    "networkProfile":{"networkInterfaces":[{"id":"'$NID'/networkInterfaces/'$2'","properties":{"deleteOption":"Detach"}}]}}}'
}
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm?api-version=2021-07-01" "$(vm os nope)"
expect 400 InvalidResourceReference "a VM naming a missing NIC"
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm?api-version=2021-07-01" "$(vm os nic)"
expect 201 "" "a VM with the NIC"
wait_op
arm GET "$N/networkInterfaces/nic?api-version=2022-07-01"
check test "$(echo "$BODY" | jq -r .properties.virtualMachine.id)" = "$RGID/providers/Microsoft.Compute/virtualMachines/vm" "the NIC names its VM"
arm DELETE "$N/networkInterfaces/nic?api-version=2022-07-01"
expect 400 NicInUse "delete a NIC a VM uses"
arm PUT "$D/os2?api-version=2024-03-02" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm2?api-version=2021-07-01" "$(vm os2 nic)"
expect 400 NicInUse "a second VM with the same NIC"
arm DELETE "$RG/providers/Microsoft.Compute/virtualMachines/vm?api-version=2021-07-01"
wait_op
check test "$OP_STATUS" = Succeeded "delete the VM"
arm GET "$N/networkInterfaces/nic?api-version=2022-07-01"
expect 200 "" "its NIC (deleteOption Detach) stays"
check test "$(echo "$BODY" | jq -r '.properties | has("virtualMachine")')" = false "and names no VM any more"
# deleteOption Delete: the NIC goes with the VM, and its public IP marked Delete with it
arm PUT "$N/publicIPAddresses/pip3?api-version=2022-07-01" '{"location":"eastus"}'
arm PUT "$N/networkInterfaces/nic3?api-version=2022-07-01" '{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/vnet/subnets/default"},"publicIPAddress":{"id":"'$NID'/publicIPAddresses/pip3","properties":{"deleteOption":"delete"}}}}]}}'
expect 201 "" "a NIC whose public IP is deleteOption Delete"
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm3?api-version=2021-07-01" "$(vm os2 nic3 | sed 's/"Detach"/"DELETE"/')"
expect 201 "" "a VM whose NIC is deleteOption Delete"
check test "$(echo "$BODY" | jq -r '.properties.networkProfile.networkInterfaces[0].properties.deleteOption')" = Delete "stored as Azure spells it"
wait_op
arm DELETE "$RG/providers/Microsoft.Compute/virtualMachines/vm3?api-version=2021-07-01"
wait_op
arm GET "$N/networkInterfaces/nic3?api-version=2022-07-01"
expect 404 ResourceNotFound "the VM's delete took its NIC"
arm GET "$N/publicIPAddresses/pip3?api-version=2022-07-01"
expect 404 ResourceNotFound "and the NIC's public IP"

# ---- the Python SDK (azure-mgmt-network, Debian's) ----
out=$(REQUESTS_CA_BUNDLE=$CA /usr/bin/python3 - "$EAST" "$TOKEN" "$SUB" <<'EOF' 2>&1
import sys, time
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient
base, tok, sub = sys.argv[1:4]
class Cred:
    def get_token(self, *scopes, **kw): return AccessToken(tok, int(time.time()) + 3600)
c = NetworkManagementClient(Cred(), sub, base_url=base, credential_scopes=[base + "/.default"])
v = c.virtual_networks.begin_create_or_update("nrg", "pyvnet", {"location": "eastus",
    "address_space": {"address_prefixes": ["10.9.0.0/16"]},
    "subnets": [{"name": "s", "address_prefix": "10.9.1.0/24"}]}).result()
print(v.provisioning_state, v.subnets[0].id.endswith("/pyvnet/subnets/s"))
n = c.network_interfaces.begin_create_or_update("nrg", "pynic", {"location": "eastus",
    "ip_configurations": [{"name": "c", "subnet": {"id": v.subnets[0].id}}]}).result()
print(n.ip_configurations[0].subnet.id == v.subnets[0].id, n.ip_configurations[0].private_ip_allocation_method)
print(sorted(x.name for x in c.network_interfaces.list("nrg")))
try:
    c.virtual_networks.begin_delete("nrg", "pyvnet").result(); print("deleted")
except HttpResponseError as e:
    print(e.error.code)
c.network_interfaces.begin_delete("nrg", "pynic").result()
c.virtual_networks.begin_delete("nrg", "pyvnet").result()
print(sorted(x.name for x in c.virtual_networks.list("nrg")))
EOF
)
check test "$out" = $'Succeeded True\nTrue Dynamic\n[\'nic\', \'pynic\']\nInUseSubnetCannotBeDeleted\n[\'vnet\']' \
  "azure-mgmt-network: create, get, list, a refused and two accepted deletes ($out)"

# ---- the JS SDK (@azure/arm-network) ----
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/network.mjs" "$ENDPOINTS" eastus; then
  ok "JS SDK network flow"
else
  STATUS=; BODY=; fail "JS SDK network flow"
fi

# ---- the az CLI ----
# (Debian's az 2.45 'az network' fails to load with Debian's azure-mgmt-network
# — ApplicationGatewaySkuName missing — before it sends anything; 'az resource'
# drives the same REST surface, its api-version taken from the provider's
# metadata.)
az_login "$EAST"
check az resource create -g nrg -n azvnet --resource-type Microsoft.Network/virtualNetworks -l eastus -o none \
  --properties '{"addressSpace":{"addressPrefixes":["10.5.0.0/16"]},"subnets":[{"name":"s1","properties":{"addressPrefix":"10.5.1.0/24"}}]}' \
  "az resource create: a VNet"
check az resource create -g nrg -n azpip --resource-type Microsoft.Network/publicIPAddresses -l eastus -o none \
  --properties '{"publicIPAllocationMethod":"Static","dnsSettings":{"domainNameLabel":"azlabel"}}' "az resource create: a public IP"
check test "$(az resource show -g nrg -n azpip --resource-type Microsoft.Network/publicIPAddresses --query properties.dnsSettings.fqdn -o tsv)" \
  = azlabel.eastus.cloudapp.azure.com "az resource show: the fqdn of its label"
check az resource create -g nrg -n aznic --resource-type Microsoft.Network/networkInterfaces -l eastus -o none \
  --properties '{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"'$NID'/virtualNetworks/azvnet/subnets/s1"},"publicIPAddress":{"id":"'$NID'/publicIPAddresses/azpip"}}}]}' \
  "az resource create: a NIC"
check test "$(az resource list -g nrg --resource-type Microsoft.Network/networkInterfaces --query '[].name' -o tsv | sort | tr '\n' ,)" \
  = aznic,nic, "az resource list: the NICs"
check bash -c "! az resource delete --ids '$NID/virtualNetworks/azvnet' --verbose >'$VAR/azdel' 2>&1 && grep -q InUseSubnetCannotBeDeleted '$VAR/azdel'" \
  "az resource delete of a used VNet: InUseSubnetCannotBeDeleted"
check az resource delete --ids "$NID/networkInterfaces/aznic" "az resource delete: the NIC"
check az resource delete --ids "$NID/virtualNetworks/azvnet" "az resource delete: then its VNet"

# ---- the group goes with all of it ----
arm DELETE "$RG?api-version=2021-04-01"
expect 202 "" "delete the resource group"
for _ in $(seq 300); do
  arm GET "$RG?api-version=2021-04-01"; [ "$STATUS" = 404 ] && break; sleep 0.1
done
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE id LIKE '%/resourceGroups/nrg%'")" = 0 \
  "no network rows are left"
finish
