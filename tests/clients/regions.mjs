// One ARM namespace through the official JS SDK (@azure/arm-compute): with
// the client configured for ONE region's endpoint, a disk is created in the
// other region (the long-running create polled where it lives), read,
// listed with the group's other disks, and deleted.  The resource group is
// the calling test's (tests/arm/regions.sh).  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node regions.mjs ENDPOINTS_JSON REGION RG OTHER_REGION
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName, rg, other] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper();

await step(`disks.beginCreateOrUpdateAndWait in ${other} through ${regionName}`, async () => {
  const d = await compute.disks.beginCreateOrUpdateAndWait(rg, 'sdk-far', {
    location: other, creationData: { createOption: 'Empty' }, diskSizeGB: 1,
  }, poll);
  assert.equal(d.provisioningState, 'Succeeded');
  assert.equal(d.location, other);
});
await step('disks.get and disks.listByResourceGroup show it', async () => {
  assert.equal((await compute.disks.get(rg, 'sdk-far')).location, other);
  const names = [];
  for await (const d of compute.disks.listByResourceGroup(rg)) names.push(d.name);
  assert.ok(names.includes('sdk-far'), `listed: ${names}`);
});
await step('disks.beginDeleteAndWait', async () => {
  await compute.disks.beginDeleteAndWait(rg, 'sdk-far', poll);
  await assert.rejects(compute.disks.get(rg, 'sdk-far'), (e) => e.statusCode === 404);
});
console.log(`${step.passed} SDK steps passed`);
