// Virtual machines through the official JS SDK (@azure/arm-compute, which
// sends api-version 2026-04-01 for VMs) against a running region: disks and
// a VM with an Empty data disk created with the long-running pollers, get
// with the instance view, list, power off / start, delete.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node vms.mjs ENDPOINTS_JSON REGION
// Prints one line per step and "N passed, 0 failed" at the end; exits non-zero
// on the first failure.
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const resources = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper();
const codes = (iv) => iv.statuses.map((s) => s.code);

const rg = `sdk-vm-${process.pid}`;
const vmName = 'sdkvm';
const secret = `Sdk-Secret-${process.pid}-x9`;
let osDiskId;
await step('resource group and OS disk (disks.beginCreateOrUpdateAndWait)', async () => {
  await resources.resourceGroups.createOrUpdate(rg, { location: region.name });
  const d = await compute.disks.beginCreateOrUpdateAndWait(
    rg, 'sdk-os', { location: region.name, creationData: { createOption: 'Empty' }, diskSizeGB: 1, osType: 'Linux' }, poll);
  assert.equal(d.provisioningState, 'Succeeded');
  osDiskId = d.id;
});
await step('virtualMachines.beginCreateOrUpdateAndWait with an Empty data disk', async () => {
  const vm = await compute.virtualMachines.beginCreateOrUpdateAndWait(rg, vmName, {
    location: region.name,
    tags: { via: 'sdk' },
    hardwareProfile: { vmSize: 'Standard_B1s' },
    storageProfile: {
      osDisk: { createOption: 'Attach', osType: 'Linux', managedDisk: { id: osDiskId } },
      dataDisks: [{ lun: 0, createOption: 'Empty', diskSizeGB: 1, name: 'sdk-data' }],
    },
    osProfile: { computerName: vmName, adminUsername: 'azureuser', adminPassword: secret },
  }, poll);
  assert.equal(vm.provisioningState, 'Succeeded');
  assert.equal(vm.hardwareProfile.vmSize, 'Standard_B1s');
  assert.equal(vm.storageProfile.osDisk.managedDisk.id.toLowerCase(), osDiskId.toLowerCase());
  assert.equal(vm.storageProfile.dataDisks[0].lun, 0);
  assert.match(vm.vmId, /^[0-9a-f-]{36}$/);
  assert.equal(vm.osProfile.adminPassword, undefined);
  assert.ok(!JSON.stringify(vm).includes(secret));
});
await step('the disks are attached (managedBy, diskState)', async () => {
  for (const name of ['sdk-os', 'sdk-data']) {
    const d = await compute.disks.get(rg, name);
    assert.equal(d.diskState, 'Attached');
    assert.match(d.managedBy, /virtualMachines\/sdkvm$/);
  }
});
await step('get with expand instanceView', async () => {
  const vm = await compute.virtualMachines.get(rg, vmName, { expand: 'instanceView' });
  assert.deepEqual(codes(vm.instanceView), ['ProvisioningState/succeeded', 'PowerState/running']);
  assert.deepEqual(vm.instanceView.disks.map((d) => d.name), ['sdk-os', 'sdk-data']);
});
await step('list (resource group) and listAll (subscription)', async () => {
  const inRg = [];
  for await (const v of compute.virtualMachines.list(rg)) inRg.push(v.name);
  assert.deepEqual(inRg, [vmName]);
  const all = [];
  for await (const v of compute.virtualMachines.listAll()) all.push(v.name);
  assert.ok(all.includes(vmName));
});
await step('beginPowerOffAndWait', async () => {
  await compute.virtualMachines.beginPowerOffAndWait(rg, vmName, poll);
  const iv = await compute.virtualMachines.instanceView(rg, vmName);
  assert.equal(codes(iv)[1], 'PowerState/stopped');
});
await step('beginStartAndWait', async () => {
  await compute.virtualMachines.beginStartAndWait(rg, vmName, poll);
  const vm = await compute.virtualMachines.get(rg, vmName, { expand: 'instanceView' });
  assert.equal(codes(vm.instanceView)[1], 'PowerState/running');
});
await step('update (PATCH) tags', async () => {
  const vm = await compute.virtualMachines.beginUpdateAndWait(rg, vmName, { tags: { via: 'sdk', step: 'patch' } }, poll);
  assert.deepEqual(vm.tags, { via: 'sdk', step: 'patch' });
});
await step('beginDeleteAndWait detaches the disks (deleteOption Detach)', async () => {
  await compute.virtualMachines.beginDeleteAndWait(rg, vmName, poll);
  await assert.rejects(compute.virtualMachines.get(rg, vmName), (e) => e.statusCode === 404 && e.code === 'ResourceNotFound');
  const d = await compute.disks.get(rg, 'sdk-data');
  assert.equal(d.diskState, 'Unattached');
  assert.equal(d.managedBy, undefined);
});
await step('a VM with a missing disk is refused with 404 NotFound', async () => {
  await assert.rejects(
    compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'bad', {
      location: region.name, hardwareProfile: { vmSize: 'x' },
      storageProfile: { osDisk: { createOption: 'Attach', managedDisk: { id: `${osDiskId}-nope` } } },
    }, poll),
    (e) => e.statusCode === 404 && e.code === 'NotFound');
});
await step('delete the resource group', async () => {
  await resources.resourceGroups.beginDeleteAndWait(rg, poll);
});
console.log(`${step.passed} passed, 0 failed`);
