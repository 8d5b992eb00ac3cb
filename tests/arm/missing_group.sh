#!/usr/bin/env bash
# A request under a resource group that does not exist is answered as ARM
# answers it, whatever the resource type: 404 ResourceGroupNotFound
# "Resource group 'x' could not be found." (GET, list, DELETE, actions); in
# a group that exists, a missing resource is still ResourceNotFound (GET)
# or 204 (DELETE).  The Python SDK (azure-mgmt-compute, /usr/bin/python3)
# reads it as ResourceNotFoundError with that code.
. "$VMRP_SRC/tests/lib/harness.sh"
start_regions
TOKEN=$(token "$EAST")
C=api-version=2024-07-01
DV=api-version=2024-03-02
R=api-version=2021-04-01
NO=$EAST/subscriptions/$SUB/resourceGroups/nogroup
HAS=$EAST/subscriptions/$SUB/resourceGroups/hasgroup
arm PUT "$HAS?$R" '{"location":"eastus"}'
expect 201 "" "resource group hasgroup"

CP=providers/Microsoft.Compute
RPT=$CP/restorePointCollections/c/restorePoints/rp
for req in "GET $CP/disks/d?$DV" "GET $CP/disks?$DV" "DELETE $CP/disks/d?$DV" "POST $CP/disks/d/beginGetAccess?$DV" \
           "GET $CP/virtualMachines/vm?$C" "GET $CP/virtualMachines?$C" "DELETE $CP/virtualMachines/vm?$C" \
           "POST $CP/virtualMachines/vm/start?$C" "GET $CP/virtualMachines/vm/extensions?$C" \
           "GET $CP/virtualMachines/vm/extensions/e?$C" "DELETE $CP/virtualMachines/vm/extensions/e?$C" \
           "GET $CP/restorePointCollections/c?$C" "GET $CP/restorePointCollections?$C" \
           "DELETE $CP/restorePointCollections/c?$C" "GET $RPT?$C" "DELETE $RPT?$C" "GET $RPT/diskRestorePoints?$DV" \
           "GET $RPT/diskRestorePoints/drp?$DV" "POST $RPT/diskRestorePoints/drp/beginGetAccess?$DV" \
           "GET resources?$R"; do
  set -- $req
  body=; [ "$1" = POST ] && body='{"access":"Read","durationInSeconds":60}'
  arm "$1" "$NO/$2" "$body"
  expect 404 ResourceGroupNotFound "$1 ${2%%\?*} in a missing group: ResourceGroupNotFound"
done
check test "$(echo "$BODY" | jq -r .error.message)" = "Resource group 'nogroup' could not be found." "Azure's message"

arm GET "$HAS/$CP/disks/d?$DV"
expect 404 ResourceNotFound "GET a missing disk in an existing group: ResourceNotFound"
arm GET "$HAS/$CP/virtualMachines/vm?$C"
expect 404 ResourceNotFound "GET a missing VM in an existing group: ResourceNotFound"
arm DELETE "$HAS/$CP/disks/d?$DV"
expect 204 "" "DELETE a missing disk in an existing group: 204"
arm GET "$HAS/$CP/disks?$DV"
expect 200 "" "list the disks of an existing, empty group"

# The Python SDK, as a user of azure-mgmt-compute meets it.
PY=/usr/bin/python3
if "$PY" -c 'import azure.mgmt.compute' 2>/dev/null; then
  out=$(REQUESTS_CA_BUNDLE=$CA "$PY" - "$EAST" "$TOKEN" "$SUB" <<'EOF' 2>&1
import sys, time
from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
base, tok, sub = sys.argv[1:4]
class Cred:
    def get_token(self, *scopes, **kw): return AccessToken(tok, int(time.time()) + 3600)
c = ComputeManagementClient(Cred(), sub, base_url=base, credential_scopes=[base + "/.default"])
for what, call in (("disk", lambda: c.disks.get("nogroup", "d")),
                   ("vm", lambda: c.virtual_machines.get("nogroup", "vm")),
                   ("list", lambda: list(c.disks.list_by_resource_group("nogroup")))):
    try:
        call(); print(what, "found")
    except ResourceNotFoundError as e:
        print(what, e.error.code if e.error else e)
EOF
)
  check test "$out" = $'disk ResourceGroupNotFound\nvm ResourceGroupNotFound\nlist ResourceGroupNotFound' \
    "azure-mgmt-compute: ResourceNotFoundError with code ResourceGroupNotFound ($out)"
else
  fail "/usr/bin/python3 has no azure.mgmt.compute (scripts/deps test installs python3-azure)"
fi
finish
