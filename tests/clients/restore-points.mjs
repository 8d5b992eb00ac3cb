// Restore points through the official JS SDK (@azure/arm-compute 25.1.1, which
// sends api-version 2026-04-01 for Compute and 2026-03-02 for DiskRP): disks,
// a VM, a collection, restore points (with excludeDisks), instance view, disk
// restore points, deletes.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node restore-points.mjs ENDPOINTS_JSON REGION
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const arm = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper();

const rg = `sdk-rp-${process.pid}`;
const loc = region.name;
const diskId = (n) => `/subscriptions/${region.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/disks/${n}`;
let rp;
await step('resource group and two disks', async () => {
  await arm.resourceGroups.createOrUpdate(rg, { location: loc });
  for (const n of ['os', 'data']) {
    const d = await compute.disks.beginCreateOrUpdateAndWait(rg, n,
      { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, poll);
    assert.equal(d.provisioningState, 'Succeeded');
  }
});
await step('a VM with both disks', async () => {
  const vm = await compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'vm1', {
    location: loc,
    hardwareProfile: { vmSize: 'Standard_D2s_v3' },
    storageProfile: {
      osDisk: { osType: 'Linux', createOption: 'Attach', managedDisk: { id: diskId('os') } },
      dataDisks: [{ lun: 0, createOption: 'Attach', managedDisk: { id: diskId('data') } }],
    },
  }, poll);
  assert.equal(vm.provisioningState, 'Succeeded');
});
const vmId = `/subscriptions/${region.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vm1`;
await step('restorePointCollections.createOrUpdate', async () => {
  const c = await compute.restorePointCollections.createOrUpdate(rg, 'rpc', { location: loc, source: { id: vmId } });
  assert.equal(c.source.id.toLowerCase(), vmId.toLowerCase());
  assert.equal(c.provisioningState, 'Succeeded');
});
await step('restorePoints.beginCreateAndWait', async () => {
  rp = await compute.restorePoints.beginCreateAndWait(rg, 'rpc', 'rp1', {}, poll);
  assert.equal(rp.provisioningState, 'Succeeded');
  assert.equal(rp.consistencyMode, 'CrashConsistent');
});
await step('restorePoints.beginCreateAndWait with excludeDisks', async () => {
  const r = await compute.restorePoints.beginCreateAndWait(rg, 'rpc', 'rp2', { excludeDisks: [{ id: diskId('data') }] }, poll);
  assert.equal(r.provisioningState, 'Succeeded');
  assert.equal(r.excludeDisks.length, 1);
});
await step('restorePoints.get with instanceView', async () => {
  const r = await compute.restorePoints.get(rg, 'rpc', 'rp1', { expand: 'instanceView' });
  assert.equal(r.instanceView.diskRestorePoints.length, 2);
  assert.equal(r.instanceView.statuses[0].code, 'ProvisioningState/succeeded');
  assert.ok(r.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id.includes('/diskRestorePoints/os_'));
});
await step('diskRestorePoint.listByRestorePoint and get', async () => {
  const names = [];
  for await (const d of compute.diskRestorePoint.listByRestorePoint(rg, 'rpc', 'rp2')) names.push(d.name);
  assert.equal(names.length, 1);
  assert.ok(names[0].startsWith('os_'));
  const d = await compute.diskRestorePoint.get(rg, 'rpc', 'rp2', names[0]);
  assert.equal(d.sourceResourceId.toLowerCase(), diskId('os').toLowerCase());
  assert.ok(d.familyId);
});
await step('disks.beginCreateOrUpdateAndWait from a disk restore point (createOption Restore)', async () => {
  const drp = rp.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id;
  const d = await compute.disks.beginCreateOrUpdateAndWait(rg, 'restored',
    { location: loc, creationData: { createOption: 'Restore', sourceResourceId: drp } }, poll);
  assert.equal(d.provisioningState, 'Succeeded');
  assert.equal(d.creationData.createOption, 'Restore');
  assert.equal(d.diskSizeGB, 1);
});
await step('restorePointCollections.get with restorePoints', async () => {
  const c = await compute.restorePointCollections.get(rg, 'rpc', { expand: 'restorePoints' });
  assert.deepEqual(c.restorePoints.map((r) => r.name).sort(), ['rp1', 'rp2']);
});
await step('restorePoints.beginDeleteAndWait', async () => {
  await compute.restorePoints.beginDeleteAndWait(rg, 'rpc', 'rp2', poll);
  await assert.rejects(compute.restorePoints.get(rg, 'rpc', 'rp2'), (e) => e.statusCode === 404);
});
await step('restorePointCollections.beginDeleteAndWait', async () => {
  await compute.restorePointCollections.beginDeleteAndWait(rg, 'rpc', poll);
  await assert.rejects(compute.restorePointCollections.get(rg, 'rpc'), (e) => e.statusCode === 404);
});
await step('resource group delete', async () => {
  await arm.resourceGroups.beginDeleteAndWait(rg, poll);
});
console.log(`${step.passed} passed, 0 failed`);
