"""policies.py — a protection policy (Microsoft.Vmrp/protectionPolicies)
through Debian's Python SDK generic resources (azure-mgmt-resource,
ResourceManagementClient.resources ..._by_id), as any resource type is
managed without a type-specific client.

  /usr/bin/python3 policies.py ENDPOINTS_JSON REGION RESOURCE_GROUP VM_ID

Prints "ok - Python SDK: <step>" per step (an assertion stops it, exit 1).
Run it with REQUESTS_CA_BUNDLE set to the regions' CA.
"""
import json
import sys

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.resource.resources.models import GenericResource

endpoints, region_name, rg, vm_id = sys.argv[1:5]
region = next(r for r in json.load(open(endpoints))["regions"] if r["name"] == region_name)
base = region["armEndpoint"].rstrip("/")
sub = region["subscriptionId"]
cred = ClientSecretCredential("adfs", region["clientId"], region["clientSecret"], authority=base)
client = ResourceManagementClient(cred, sub, base_url=base, credential_scopes=[base + "/.default"])
api = "2026-12-01"
pid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Vmrp/protectionPolicies/py-policy"
secret = "python-sdk-webhook-secret-0123456789"


def step(name):
    def run(fn):
        fn()
        print(f"ok - Python SDK: {name}", flush=True)
    return run


@step("resources.begin_create_or_update_by_id creates a policy")
def _():
    r = client.resources.begin_create_or_update_by_id(pid, api, GenericResource(
        location=region_name, tags={"owner": "py"},
        properties={"virtualMachines": [vm_id], "schedules": ["R/2026-12-07T00:00:00Z/PT6H"],
                    "retention": {"keepLast": 4, "keepWithin": "P2D"},
                    "retentionLock": {"duration": "P1D", "mode": "Governance"},
                    "notifications": {"webhooks": ["https://hooks.example.com/py"], "secret": secret}})).result()
    assert r.properties["provisioningState"] == "Succeeded", r.properties
    assert r.properties["notifications"]["secretSet"] is True


@step("resources.get_by_id reads it back, without the secret")
def _():
    r = client.resources.get_by_id(pid, api)
    assert r.type == "Microsoft.Vmrp/protectionPolicies" and r.tags == {"owner": "py"}
    assert "secret" not in r.properties["notifications"] and secret not in json.dumps(r.as_dict())
    assert r.properties["retentionLock"] == {"duration": "P1D", "mode": "Governance"}, r.properties


@step("an unknown member is refused (400 InvalidParameter naming it)")
def _():
    try:
        client.resources.begin_create_or_update_by_id(pid, api, GenericResource(
            location=region_name, properties={"virtualMachines": [vm_id], "schedules": ["R/2026-12-07T00:00:00Z/PT6H"],
                                              "retention": {"keepLast": 4}, "retension": {"keepLast": 9}})).result()
        raise AssertionError("accepted")
    except HttpResponseError as e:
        assert e.status_code == 400 and "properties.retension" in str(e), e
    r = client.resources.get_by_id(pid, api)
    assert r.properties["retention"] == {"keepLast": 4, "keepWithin": "P2D"}, r.properties


@step("resources.begin_delete_by_id deletes it")
def _():
    client.resources.begin_delete_by_id(pid, api).result()
    try:
        client.resources.get_by_id(pid, api)
        raise AssertionError("still there")
    except ResourceNotFoundError:
        pass
