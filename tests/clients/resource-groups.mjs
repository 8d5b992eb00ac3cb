// The resource-group flow through the official JS SDK (@azure/identity +
// @azure/arm-resources) against a running region.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node resource-groups.mjs ENDPOINTS_JSON REGION
// Prints one line per step and "N passed, 0 failed" at the end; exits non-zero
// on the first failure.
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';

const [endpointsFile, regionName] = process.argv.slice(2);
const { region, base, cred } = connect(endpointsFile, regionName);
const client = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper();

const rg = `sdk-rg-${process.pid}`;
await step('token from the v2.0 authority with the default management.azure.com scope', async () => {
  const t = await cred.getToken('https://management.azure.com/.default');
  assert.ok(t.token.split('.').length === 3);
});
await step('create resource group', async () => {
  const r = await client.resourceGroups.createOrUpdate(rg, { location: region.name, tags: { env: 'test' } });
  assert.equal(r.name, rg);
  assert.equal(r.location, region.name);
  assert.equal(r.properties.provisioningState, 'Succeeded');
});
await step('get resource group', async () => {
  const r = await client.resourceGroups.get(rg);
  assert.deepEqual(r.tags, { env: 'test' });
});
await step('update tags', async () => {
  const r = await client.resourceGroups.update(rg, { tags: { env: 'prod', owner: 'sdk' } });
  assert.deepEqual(r.tags, { env: 'prod', owner: 'sdk' });
});
await step('check existence', async () => {
  assert.equal((await client.resourceGroups.checkExistence(rg)).body, true);
});
await step('list resource groups (paged)', async () => {
  const names = [];
  for await (const g of client.resourceGroups.list()) names.push(g.name);
  assert.ok(names.includes(rg));
});
await step('delete resource group (long-running operation)', async () => {
  await client.resourceGroups.beginDeleteAndWait(rg, { updateIntervalInMs: 100 });
  assert.equal((await client.resourceGroups.checkExistence(rg)).body, false);
});
await step('get a missing group is ResourceGroupNotFound', async () => {
  await assert.rejects(client.resourceGroups.get(rg), (e) => e.statusCode === 404 && e.code === 'ResourceGroupNotFound');
});
console.log(`${step.passed} passed, 0 failed`);
