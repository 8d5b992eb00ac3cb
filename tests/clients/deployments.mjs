// Azure's documented restore point steps as template deployments through the
// official JS SDK (@azure/arm-resourcesdeployments 2.0.0, api-version
// 2026-06-01; the template as an object): Microsoft's sample templates
// unchanged — a collection, a restore point, a disk from a disk restore point,
// a whole VM — with validate, whatIf (Create, then NoChange), createOrUpdate,
// get, listByResourceGroup, deploymentOperations.list, exportTemplate and
// delete.  Ends with a line "RESULT {json}": the disk restore points and the
// disks restored from them, which the calling test compares over NBD.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node deployments.mjs ENDPOINTS_JSON REGION RESOURCE_GROUP VM_ID TEMPLATES_DIR
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, stepper } from './region.mjs';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName, rg, vmId, dir] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const client = new DeploymentsClient(cred, region.subscriptionId, { endpoint: base });
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper('JS SDK: ');

const rgId = `/subscriptions/${region.subscriptionId}/resourceGroups/${rg}`;
const computeId = `${rgId}/providers/Microsoft.Compute`;
const seed = (file) => JSON.parse(readFileSync(`${dir}/seed/${file}`, 'utf8'));
const deployment = (file, values) => ({
  properties: {
    mode: 'Incremental',
    template: seed(file),
    parameters: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v }])),
  },
});
const same = (a, b) => assert.equal(a.toLowerCase(), b.toLowerCase());
const collectionId = `${computeId}/restorePointCollections/rpc`;
const restorePointId = `${collectionId}/restorePoints/rp1`;
const collection = deployment('CreateRestorePointCollection.json', { RestorePointCollectionName: 'rpc', VMResourceId: vmId });

await step('deployments.validate', async () => {
  const v = await client.deployments.validate(rg, 'collection', collection, poll);
  assert.equal(v.properties.provisioningState, 'Succeeded');
  assert.deepEqual(v.properties.validatedResources.map((r) => r.id), [collectionId]);
  await assert.rejects(compute.restorePointCollections.get(rg, 'rpc'), (e) => e.statusCode === 404);
});
await step('deployments.whatIf: Create', async () => {
  const w = await client.deployments.whatIf(rg, 'collection', collection, poll);
  assert.deepEqual(w.changes.map((c) => [c.resourceId, c.changeType]), [[collectionId, 'Create']]);
  await assert.rejects(compute.restorePointCollections.get(rg, 'rpc'), (e) => e.statusCode === 404);
});
await step('deployments.beginCreateOrUpdateAndWait: CreateRestorePointCollection.json', async () => {
  const d = await client.deployments.beginCreateOrUpdateAndWait(rg, 'collection', collection, poll);
  assert.equal(d.properties.provisioningState, 'Succeeded');
  assert.deepEqual(d.properties.outputResources.map((r) => r.id), [collectionId]);
  const c = await compute.restorePointCollections.get(rg, 'rpc');
  same(c.source.id, vmId);
});
await step('deployments.whatIf of the same deployment: NoChange', async () => {
  const w = await client.deployments.whatIf(rg, 'collection', collection, poll);
  assert.deepEqual(w.changes.map((c) => [c.resourceId, c.changeType]), [[collectionId, 'NoChange']]);
});
await step('deployments.beginCreateOrUpdateAndWait: CreateRestorePoint.json', async () => {
  const d = await client.deployments.beginCreateOrUpdateAndWait(rg, 'restorepoint',
    deployment('CreateRestorePoint.json', { RestorePointCollectionName: 'rpc', RestorePointName: 'rp1' }), poll);
  assert.equal(d.properties.provisioningState, 'Succeeded');
  assert.deepEqual(d.properties.outputResources.map((r) => r.id), [restorePointId]);
});
await step('deployments.get', async () => {
  const d = await client.deployments.get(rg, 'restorepoint');
  assert.equal(d.properties.provisioningState, 'Succeeded');
  assert.equal(d.properties.parameters.RestorePointName.value, 'rp1');
  assert.equal(d.properties.parameters.RestorePointCollectionResourceId.type, 'String');
  assert.match(d.properties.templateHash, /^[0-9]+$/);
});
await step('deploymentOperations.list', async () => {
  const ops = [];
  for await (const o of client.deploymentOperations.list(rg, 'restorepoint')) ops.push(o);
  const creates = ops.filter((o) => o.properties.provisioningOperation === 'Create');
  assert.equal(creates.length, 1);
  const p = creates[0].properties;
  assert.equal(p.targetResource.id, restorePointId);
  assert.equal(p.targetResource.resourceType, 'Microsoft.Compute/restorePointCollections/restorePoints');
  assert.equal(p.provisioningState, 'Succeeded');
  assert.equal(p.statusCode, 'Created');
  assert.ok(p.timestamp instanceof Date && !Number.isNaN(p.timestamp.getTime()));
  assert.match(p.duration, /^PT[0-9.]+S$/);
});
await step('deployments.exportTemplate', async () => {
  const e = await client.deployments.exportTemplate(rg, 'restorepoint');
  assert.deepEqual(e.template, seed('CreateRestorePoint.json'));
});
const rp = await compute.restorePoints.get(rg, 'rpc', 'rp1');
const drpOs = rp.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id;
const drpData = rp.sourceMetadata.storageProfile.dataDisks[0].diskRestorePoint.id;
await step('deployments.beginCreateOrUpdateAndWait: CreateDiskFromDiskRestorePoint.json', async () => {
  const d = await client.deployments.beginCreateOrUpdateAndWait(rg, 'disk',
    deployment('CreateDiskFromDiskRestorePoint.json', { DiskName: 'restored', DiskRestorePointResourceId: drpOs }), poll);
  assert.equal(d.properties.provisioningState, 'Succeeded');
  const disk = await compute.disks.get(rg, 'restored');
  assert.equal(disk.creationData.createOption, 'Restore');
  same(disk.creationData.sourceResourceId, drpOs);
});
await step('deployments.beginCreateOrUpdateAndWait: RestoreVMFromRestorePoint.json', async () => {
  const d = await client.deployments.beginCreateOrUpdateAndWait(rg, 'restorevm', deployment('RestoreVMFromRestorePoint.json', {
    location: region.name, networkInterfaceName: 'nic1', networkSecurityGroupName: 'nsg1', subnetName: 'default',
    virtualNetworkName: 'vnet1', publicIpAddressName: 'pip1', virtualMachineName: 'vm-restored',
    virtualMachineComputerName: 'restored', virtualMachineSize: 'Standard_D2s_v3', adminUsername: 'azureuser',
    adminPassword: `js-${process.pid}-never-shown`, osdiskRestorePointResourceId: drpOs,
    datadiskRestorePointResourceId: drpData, restoredOSDiskName: 'vm-restored-os', restoredDataDiskName: 'vm-restored-data',
  }), poll);
  assert.equal(d.properties.provisioningState, 'Succeeded');
  assert.equal(d.properties.outputResources.length, 7);
  assert.equal(d.properties.parameters.adminPassword.type, 'SecureString');
  assert.equal('value' in d.properties.parameters.adminPassword, false);
  const vm = await compute.virtualMachines.get(rg, 'vm-restored');
  assert.equal(vm.provisioningState, 'Succeeded');
  same(vm.storageProfile.osDisk.managedDisk.id, `${computeId}/disks/vm-restored-os`);
  assert.deepEqual(vm.storageProfile.dataDisks.map((x) => [x.lun, x.managedDisk.id.toLowerCase()]),
    [[0, `${computeId}/disks/vm-restored-data`.toLowerCase()]]);
  for (const n of ['vm-restored-os', 'vm-restored-data']) {
    const disk = await compute.disks.get(rg, n);
    assert.equal(disk.diskSizeGB, 1024);
    assert.equal(disk.sku.name, 'Premium_LRS');
  }
});
await step('deployments.listByResourceGroup', async () => {
  const names = [];
  for await (const d of client.deployments.listByResourceGroup(rg)) names.push(d.name);
  assert.deepEqual(names.sort(), ['collection', 'disk', 'restorepoint', 'restorevm']);
});
await step('deployments.delete: the history entry only', async () => {
  await client.deployments.delete(rg, 'restorepoint', poll);
  await assert.rejects(client.deployments.get(rg, 'restorepoint'),
    (e) => e.statusCode === 404 && e.code === 'DeploymentNotFound');
  const r = await compute.restorePoints.get(rg, 'rpc', 'rp1');
  assert.equal(r.provisioningState, 'Succeeded');
});
console.log(`${step.passed} passed, 0 failed`);
console.log(`RESULT ${JSON.stringify({
  drpOs, drpData,
  restored: `${computeId}/disks/restored`,
  vmOs: `${computeId}/disks/vm-restored-os`,
  vmData: `${computeId}/disks/vm-restored-data`,
})}`);
