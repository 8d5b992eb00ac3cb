// A restore point with a retention lock through the official JS SDKs
// (@azure/arm-compute, whose RestorePoint model has no vmrpRetentionLock, and
// @azure/arm-resources' generic resources, which keep every property): the
// typed get still works, the typed delete fails with the lock's 409, the
// generic get shows the lock.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node retention-lock.mjs ENDPOINTS_JSON REGION GROUP COLLECTION RESTORE_POINT
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName, rg, coll, name] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const arm = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper('JS SDK: ');
const id = `/subscriptions/${region.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/restorePointCollections/${coll}/restorePoints/${name}`;

await step('restorePoints.get of a locked restore point works', async () => {
  const rp = await compute.restorePoints.get(rg, coll, name);
  assert.equal(rp.name, name);
  assert.equal(rp.provisioningState, 'Succeeded');
});
await step('restorePoints.beginDeleteAndWait fails with 409 RestorePointRetentionLocked', async () => {
  await assert.rejects(compute.restorePoints.beginDeleteAndWait(rg, coll, name, poll), (e) => {
    assert.equal(e.statusCode, 409);
    assert.equal(e.code, 'RestorePointRetentionLocked');
    return true;
  });
});
await step('resources.getById shows properties.vmrpRetentionLock', async () => {
  const r = await arm.resources.getById(id, '2024-07-01');
  assert.equal(r.properties.vmrpRetentionLock.mode, 'Compliance');
  assert.match(r.properties.vmrpRetentionLock.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});
console.log(`${step.passed} passed`);
