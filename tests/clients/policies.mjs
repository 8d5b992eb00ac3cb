// A protection policy (Microsoft.Vmrp/protectionPolicies) through the
// official JS SDK's generic resources (@azure/arm-resources
// ResourceManagementClient.resources: ...ById), as a client with no
// vmrp-specific code manages any resource type.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node policies.mjs ENDPOINTS_JSON REGION GROUP VM_ID
// Prints one line per step and "N passed, 0 failed"; exits non-zero on the
// first failure.
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';

const [endpointsFile, regionName, group, vmId] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const client = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper('JS SDK: ');
const api = '2026-12-01';
const id = `/subscriptions/${region.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Vmrp/protectionPolicies/js-policy`;
const secret = 'js-sdk-webhook-secret-0123456789abcdef';

await step('resources.beginCreateOrUpdateByIdAndWait creates a policy', async () => {
  const r = await client.resources.beginCreateOrUpdateByIdAndWait(id, api, {
    location: region.name,
    tags: { owner: 'js' },
    properties: {
      virtualMachines: [vmId],
      schedules: [{ scheduleRunFrequency: 'Daily', scheduleRunTimes: ['02:30'] }],
      timeZone: 'Europe/Berlin',
      retention: { keepDaily: 7, keepWeekly: 4 },
      notifications: { webhooks: ['https://hooks.example.com/js'], secret },
    },
  }, poll);
  assert.equal(r.properties.provisioningState, 'Succeeded');
  assert.equal(r.properties.notifications.secretSet, true);
  assert.equal(JSON.stringify(r).includes(secret), false);
});
await step('resources.getById reads it back (the secret never)', async () => {
  const r = await client.resources.getById(id, api);
  assert.equal(r.type, 'Microsoft.Vmrp/protectionPolicies');
  assert.deepEqual(r.tags, { owner: 'js' });
  assert.equal(r.properties.retention.keepWeekly, 4);
  assert.equal(r.properties.notifications.secret, undefined);
  assert.equal(r.properties.vmrpActor, undefined);
});
await step('resources.beginUpdateByIdAndWait merges a change (PATCH)', async () => {
  const r = await client.resources.beginUpdateByIdAndWait(id, api, { properties: { retention: { keepDaily: 14 } } }, poll);
  assert.equal(r.properties.retention.keepDaily, 14);
  assert.equal(r.properties.retention.keepWeekly, 4);
});
await step('resources.listByResourceGroup lists it', async () => {
  const ids = [];
  for await (const r of client.resources.listByResourceGroup(group)) ids.push(r.id.toLowerCase());
  assert.ok(ids.includes(id.toLowerCase()));
});
await step('a bad schedule is a 400 InvalidParameter naming the member', async () => {
  await assert.rejects(
    client.resources.beginCreateOrUpdateByIdAndWait(id, api, {
      location: region.name,
      properties: { virtualMachines: [vmId], schedules: ['R/yesterday/PT1H'], retention: { keepLast: 1 } },
    }, poll),
    (e) => e.statusCode === 400 && e.code === 'InvalidParameter' && e.message.startsWith('properties.schedules[0]'));
});
await step('resources.beginDeleteByIdAndWait deletes it', async () => {
  await client.resources.beginDeleteByIdAndWait(id, api, poll);
  await assert.rejects(client.resources.getById(id, api), (e) => e.statusCode === 404);
});
console.log(`${step.passed} passed, 0 failed`);
