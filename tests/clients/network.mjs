// Microsoft.Network through the official JS SDK (@azure/arm-network, which
// sends api-version 2026-01-01) against a running region: a VNet with a
// subnet, an NSG with a rule, a public IP with a DNS label, a NIC using all
// three, created with the long-running pollers; get, list, tags, the
// refused deletes of what is in use, then the deletes in order.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node network.mjs ENDPOINTS_JSON REGION
// Prints one line per step and "N passed, 0 failed" at the end; exits non-zero
// on the first failure.
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ResourceManagementClient } from '@azure/arm-resources';
import { NetworkManagementClient } from '@azure/arm-network';

const [endpointsFile, regionName] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const resources = new ResourceManagementClient(cred, region.subscriptionId, { endpoint: base });
const network = new NetworkManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper();
const rg = `sdk-net-${process.pid}`;
const location = region.name;

let subnetId, nsgId, pipId;
await step('virtualNetworks.beginCreateOrUpdateAndWait with a subnet', async () => {
  await resources.resourceGroups.createOrUpdate(rg, { location });
  const v = await network.virtualNetworks.beginCreateOrUpdateAndWait(rg, 'vnet', {
    location, addressSpace: { addressPrefixes: ['10.1.0.0/16'] },
    subnets: [{ name: 'default', addressPrefix: '10.1.0.0/24' }],
  }, poll);
  assert.equal(v.provisioningState, 'Succeeded');
  subnetId = v.subnets[0].id;
  assert.ok(subnetId.endsWith('/virtualNetworks/vnet/subnets/default'));
});
await step('networkSecurityGroups with a rule, publicIPAddresses with a DNS label', async () => {
  const n = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(rg, 'nsg', {
    location, securityRules: [{ name: 'ssh', protocol: 'Tcp', access: 'Allow', direction: 'Inbound', priority: 1000,
      sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: '*', destinationAddressPrefix: '*' }],
  }, poll);
  assert.equal(n.securityRules[0].priority, 1000);
  assert.equal(n.defaultSecurityRules.length, 6);
  nsgId = n.id;
  const p = await network.publicIPAddresses.beginCreateOrUpdateAndWait(rg, 'pip', {
    location, sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static', dnsSettings: { domainNameLabel: `sdk${process.pid}` },
  }, poll);
  assert.equal(p.dnsSettings.fqdn, `sdk${process.pid}.${location}.cloudapp.azure.com`);
  pipId = p.id;
});
await step('networkInterfaces.beginCreateOrUpdateAndWait using all three', async () => {
  const nic = await network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'nic', {
    location, networkSecurityGroup: { id: nsgId },
    ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnetId }, publicIPAddress: { id: pipId } }],
  }, poll);
  assert.equal(nic.ipConfigurations[0].subnet.id, subnetId);
  assert.equal(nic.ipConfigurations[0].privateIPAllocationMethod, 'Dynamic');
  const s = await network.subnets.get(rg, 'vnet', 'default');
  assert.equal(s.ipConfigurations[0].id, nic.ipConfigurations[0].id);
});
await step('list by group and subscription, updateTags', async () => {
  const names = [];
  for await (const n of network.networkInterfaces.list(rg)) names.push(n.name);
  assert.deepEqual(names, ['nic']);
  let found = false;
  for await (const v of network.virtualNetworks.listAll()) found = found || v.id.includes(`/resourceGroups/${rg}/`);
  assert.ok(found);
  const t = await network.networkSecurityGroups.updateTags(rg, 'nsg', { tags: { via: 'sdk' } });
  assert.deepEqual(t.tags, { via: 'sdk' });
});
await step('what the NIC uses cannot be deleted (400, Azure\'s codes)', async () => {
  for (const [op, code] of [[() => network.virtualNetworks.beginDeleteAndWait(rg, 'vnet', poll), 'InUseSubnetCannotBeDeleted'],
    [() => network.networkSecurityGroups.beginDeleteAndWait(rg, 'nsg', poll), 'InUseNetworkSecurityGroupCannotBeDeleted'],
    [() => network.publicIPAddresses.beginDeleteAndWait(rg, 'pip', poll), 'PublicIPAddressCannotBeDeleted']]) {
    await assert.rejects(op(), (e) => e.statusCode === 400 && e.code === code);
  }
});
await step('a NIC in a missing subnet: 400 InvalidResourceReference', async () => {
  await assert.rejects(network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'bad', {
    location, ipConfigurations: [{ name: 'c', subnet: { id: `${subnetId}-nope` } }],
  }, poll), (e) => e.statusCode === 400 && e.code === 'InvalidResourceReference');
});
await step('beginDeleteAndWait: the NIC, then the rest', async () => {
  await network.networkInterfaces.beginDeleteAndWait(rg, 'nic', poll);
  await network.publicIPAddresses.beginDeleteAndWait(rg, 'pip', poll);
  await network.networkSecurityGroups.beginDeleteAndWait(rg, 'nsg', poll);
  await network.virtualNetworks.beginDeleteAndWait(rg, 'vnet', poll);
  await assert.rejects(network.virtualNetworks.get(rg, 'vnet'), (e) => e.statusCode === 404 && e.code === 'ResourceNotFound');
  await resources.resourceGroups.beginDeleteAndWait(rg, poll);
});
console.log(`${step.passed} passed, 0 failed`);
