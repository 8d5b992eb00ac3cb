"""deployments.py — Azure's documented restore point steps as template
deployments through Debian's Python SDK (azure-mgmt-resource 22.0.0,
ResourceManagementClient, api-version 2022-09-01; azure-identity 1.13):
Microsoft's sample templates unchanged — a collection, a restore point, a disk
from a disk restore point, a whole VM — with begin_validate,
begin_create_or_update(...).result(), get, list_by_resource_group,
deployment_operations.list, export_template, begin_what_if and begin_delete.

  /usr/bin/python3 deployments.py ENDPOINTS_JSON REGION RESOURCE_GROUP VM_ID TEMPLATES_DIR

Prints "ok - Python SDK: <step>" per step (an assertion stops it, exit 1), then
"RESULT {json}": the disk restore points and the disks restored from them,
which the calling test compares over NBD.  Run it with REQUESTS_CA_BUNDLE set
to the regions' CA.
"""
import json
import os
import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.resource.resources.models import Deployment, DeploymentProperties, DeploymentWhatIf, \
    DeploymentWhatIfProperties

endpoints, region_name, rg, vm_id, tdir = sys.argv[1:6]
region = next(r for r in json.load(open(endpoints))["regions"] if r["name"] == region_name)
base = region["armEndpoint"].rstrip("/")
sub = region["subscriptionId"]
# The /adfs authority: MSAL asks no instance discovery of it (README, az CLI).
cred = ClientSecretCredential("adfs", region["clientId"], region["clientSecret"], authority=base)
scopes = [base + "/.default"]
client = ResourceManagementClient(cred, sub, base_url=base, credential_scopes=scopes)
compute = ComputeManagementClient(cred, sub, base_url=base, credential_scopes=scopes)

rg_id = f"/subscriptions/{sub}/resourceGroups/{rg}"
compute_id = f"{rg_id}/providers/Microsoft.Compute"
collection_id = f"{compute_id}/restorePointCollections/rpc"
restore_point_id = f"{collection_id}/restorePoints/rp1"
passed = 0


def step(name):
    def run(fn):
        global passed
        fn()
        passed += 1
        print(f"ok - Python SDK: {name}", flush=True)
    return run


def seed(name):
    with open(os.path.join(tdir, "seed", name)) as f:
        return json.load(f)


def deployment(name, values, what_if=False):
    kind, props = (DeploymentWhatIf, DeploymentWhatIfProperties) if what_if else (Deployment, DeploymentProperties)
    return kind(properties=props(mode="Incremental", template=seed(name),
                                 parameters={k: {"value": v} for k, v in values.items()}))


def same(a, b):
    assert a.lower() == b.lower(), (a, b)


def missing(get):
    try:
        get()
    except ResourceNotFoundError:
        return True
    return False


collection = {"RestorePointCollectionName": "rpc", "VMResourceId": vm_id}


@step("deployments.begin_validate")
def _():
    v = client.deployments.begin_validate(rg, "collection", deployment("CreateRestorePointCollection.json", collection)).result()
    assert v.properties.provisioning_state == "Succeeded", v.properties.provisioning_state
    assert [r.id for r in v.properties.validated_resources] == [collection_id]
    assert missing(lambda: compute.restore_point_collections.get(rg, "rpc"))


@step("deployments.begin_what_if: Create")
def _():
    w = client.deployments.begin_what_if(rg, "collection",
                                         deployment("CreateRestorePointCollection.json", collection, True)).result()
    assert [(c.resource_id, c.change_type) for c in w.changes] == [(collection_id, "Create")], w.changes
    assert missing(lambda: compute.restore_point_collections.get(rg, "rpc"))


@step("deployments.begin_create_or_update: CreateRestorePointCollection.json")
def _():
    d = client.deployments.begin_create_or_update(rg, "collection",
                                                  deployment("CreateRestorePointCollection.json", collection)).result()
    assert d.properties.provisioning_state == "Succeeded", d.properties.provisioning_state
    assert [r.id for r in d.properties.output_resources] == [collection_id]
    same(compute.restore_point_collections.get(rg, "rpc").source.id, vm_id)


@step("deployments.begin_create_or_update: CreateRestorePoint.json")
def _():
    d = client.deployments.begin_create_or_update(rg, "restorepoint", deployment(
        "CreateRestorePoint.json", {"RestorePointCollectionName": "rpc", "RestorePointName": "rp1"})).result()
    assert d.properties.provisioning_state == "Succeeded", d.properties.provisioning_state
    assert [r.id for r in d.properties.output_resources] == [restore_point_id]


@step("deployments.get")
def _():
    d = client.deployments.get(rg, "restorepoint")
    assert d.properties.provisioning_state == "Succeeded"
    assert d.properties.parameters["RestorePointName"]["value"] == "rp1"
    assert d.properties.parameters["RestorePointCollectionResourceId"]["type"] == "String"
    assert d.properties.template_hash.isdigit(), d.properties.template_hash


@step("deployment_operations.list")
def _():
    ops = [o for o in client.deployment_operations.list(rg, "restorepoint")
           if o.properties.provisioning_operation == "Create"]
    assert len(ops) == 1, ops
    p = ops[0].properties
    assert p.target_resource.id == restore_point_id, p.target_resource.id
    assert p.target_resource.resource_type == "Microsoft.Compute/restorePointCollections/restorePoints"
    assert p.provisioning_state == "Succeeded", p.provisioning_state
    assert p.status_code == "Created", p.status_code
    assert p.timestamp is not None and p.duration.startswith("PT"), (p.timestamp, p.duration)


@step("deployments.export_template")
def _():
    assert client.deployments.export_template(rg, "restorepoint").template == seed("CreateRestorePoint.json")


rp = compute.restore_points.get(rg, "rpc", "rp1")
drp_os = rp.source_metadata.storage_profile.os_disk.disk_restore_point.id
drp_data = rp.source_metadata.storage_profile.data_disks[0].disk_restore_point.id


@step("deployments.begin_create_or_update: CreateDiskFromDiskRestorePoint.json")
def _():
    d = client.deployments.begin_create_or_update(rg, "disk", deployment(
        "CreateDiskFromDiskRestorePoint.json", {"DiskName": "restored", "DiskRestorePointResourceId": drp_os})).result()
    assert d.properties.provisioning_state == "Succeeded", d.properties.provisioning_state
    disk = compute.disks.get(rg, "restored")
    assert disk.creation_data.create_option == "Restore"
    same(disk.creation_data.source_resource_id, drp_os)


@step("deployments.begin_create_or_update: RestoreVMFromRestorePoint.json")
def _():
    d = client.deployments.begin_create_or_update(rg, "restorevm", deployment("RestoreVMFromRestorePoint.json", {
        "location": region_name, "networkInterfaceName": "nic1", "networkSecurityGroupName": "nsg1",
        "subnetName": "default", "virtualNetworkName": "vnet1", "publicIpAddressName": "pip1",
        "virtualMachineName": "vm-restored", "virtualMachineComputerName": "restored",
        "virtualMachineSize": "Standard_D2s_v3", "adminUsername": "azureuser",
        "adminPassword": f"py-{os.getpid()}-never-shown", "osdiskRestorePointResourceId": drp_os,
        "datadiskRestorePointResourceId": drp_data, "restoredOSDiskName": "vm-restored-os",
        "restoredDataDiskName": "vm-restored-data"})).result()
    assert d.properties.provisioning_state == "Succeeded", d.properties.provisioning_state
    assert len(d.properties.output_resources) == 7
    assert d.properties.parameters["adminPassword"] == {"type": "SecureString"}, d.properties.parameters["adminPassword"]
    vm = compute.virtual_machines.get(rg, "vm-restored")
    assert vm.provisioning_state == "Succeeded"
    same(vm.storage_profile.os_disk.managed_disk.id, f"{compute_id}/disks/vm-restored-os")
    assert [(x.lun, x.managed_disk.id.lower()) for x in vm.storage_profile.data_disks] == \
        [(0, f"{compute_id}/disks/vm-restored-data".lower())]
    for n in ("vm-restored-os", "vm-restored-data"):
        disk = compute.disks.get(rg, n)
        assert (disk.disk_size_gb, disk.sku.name) == (1024, "Premium_LRS"), (disk.disk_size_gb, disk.sku.name)


@step("deployments.list_by_resource_group")
def _():
    names = sorted(d.name for d in client.deployments.list_by_resource_group(rg))
    assert names == ["collection", "disk", "restorepoint", "restorevm"], names


@step("deployments.begin_delete: the history entry only")
def _():
    client.deployments.begin_delete(rg, "restorepoint").result()
    assert missing(lambda: client.deployments.get(rg, "restorepoint"))
    assert compute.restore_points.get(rg, "rpc", "rp1").provisioning_state == "Succeeded"


print(f"{passed} passed, 0 failed")
print("RESULT " + json.dumps({"drpOs": drp_os, "drpData": drp_data, "restored": f"{compute_id}/disks/restored",
                              "vmOs": f"{compute_id}/disks/vm-restored-os",
                              "vmData": f"{compute_id}/disks/vm-restored-data"}))
