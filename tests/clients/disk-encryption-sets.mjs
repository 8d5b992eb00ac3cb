// Customer-managed keys through the official JS SDK (@azure/arm-compute
// 25.1.1, DiskRP api-version 2026-03-02): a disk encryption set over a key
// of a PKCS#11 token, a disk in it, both read back, the set's rotation to a
// second key, the refusal to delete a set in use, then the deletes.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node disk-encryption-sets.mjs ENDPOINTS_JSON REGION KEY_URL_1 KEY_URL_2
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName, keyUrl1, keyUrl2] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const arm = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper('sdk: ');

const rg = `sdk-des-${process.pid}`;
const loc = region.name;
const token = new URL(keyUrl1).hostname.split('.')[0];
const vault = `/subscriptions/${region.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${token}`;
let setId;
await step('diskEncryptionSets.beginCreateOrUpdateAndWait', async () => {
  await arm.resourceGroups.createOrUpdate(rg, { location: loc });
  const s = await compute.diskEncryptionSets.beginCreateOrUpdateAndWait(rg, 'des1', {
    location: loc,
    identity: { type: 'SystemAssigned' },
    encryptionType: 'EncryptionAtRestWithCustomerKey',
    activeKey: { keyUrl: keyUrl1, sourceVault: { id: vault } },
  }, poll);
  assert.equal(s.provisioningState, 'Succeeded');
  assert.equal(s.activeKey.keyUrl, keyUrl1);
  assert.equal(s.identity.type, 'SystemAssigned');
  assert.match(s.identity.principalId, /^[0-9a-f-]{36}$/);
  setId = s.id;
});
await step('disks.beginCreateOrUpdateAndWait in the set', async () => {
  const d = await compute.disks.beginCreateOrUpdateAndWait(rg, 'd1', {
    location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1,
    encryption: { type: 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: setId },
  }, poll);
  assert.equal(d.provisioningState, 'Succeeded');
  assert.equal(d.encryption.type, 'EncryptionAtRestWithCustomerKey');
  assert.equal(d.encryption.diskEncryptionSetId.toLowerCase(), setId.toLowerCase());
});
await step('diskEncryptionSets.get and listByResourceGroup', async () => {
  const s = await compute.diskEncryptionSets.get(rg, 'des1');
  assert.equal(s.encryptionType, 'EncryptionAtRestWithCustomerKey');
  assert.deepEqual(s.previousKeys, []);
  const all = [];
  for await (const x of compute.diskEncryptionSets.listByResourceGroup(rg)) all.push(x.name);
  assert.deepEqual(all, ['des1']);
});
await step('diskEncryptionSets.beginUpdateAndWait: rotation to another key', async () => {
  const s = await compute.diskEncryptionSets.beginUpdateAndWait(rg, 'des1', { activeKey: { keyUrl: keyUrl2 } }, poll);
  assert.equal(s.activeKey.keyUrl, keyUrl2);
  assert.ok(s.lastKeyRotationTimestamp instanceof Date);
  const d = await compute.disks.get(rg, 'd1');
  assert.equal(d.encryption.diskEncryptionSetId.toLowerCase(), setId.toLowerCase());
});
await step('diskEncryptionSets.beginDeleteAndWait refused while a disk is in the set', async () => {
  await assert.rejects(compute.diskEncryptionSets.beginDeleteAndWait(rg, 'des1', poll),
    (e) => e.statusCode === 409 && e.code === 'OperationNotAllowed');
});
await step('deletes: the disk, then the set', async () => {
  await compute.disks.beginDeleteAndWait(rg, 'd1', poll);
  await compute.diskEncryptionSets.beginDeleteAndWait(rg, 'des1', poll);
  await assert.rejects(compute.diskEncryptionSets.get(rg, 'des1'), (e) => e.statusCode === 404);
  await arm.resourceGroups.beginDeleteAndWait(rg, poll);
});
console.log(`${step.passed} passed`);
