// region.mjs — what every SDK test script starts with: the region of
// var/endpoints.json named on the command line, a credential for its service
// principal (its own authority, no instance discovery), a poller setting for
// the long-running calls, and `step`, which runs one named check and prints
// "ok - <prefix><name>".
import { readFileSync } from 'node:fs';
import { ClientSecretCredential } from '@azure/identity';

export function connect(endpointsFile, regionName) {
  const region = JSON.parse(readFileSync(endpointsFile, 'utf8')).regions.find((r) => r.name === regionName);
  const base = region.armEndpoint.replace(/\/$/, '');
  const cred = new ClientSecretCredential(region.tenantId, region.clientId, region.clientSecret, {
    authorityHost: base,
    disableInstanceDiscovery: true,
  });
  return { region, base, cred, poll: { updateIntervalInMs: 100 } };
}

export function stepper(prefix = '') {
  const s = async (name, fn) => {
    await fn();
    s.passed++;
    console.log(`ok - ${prefix}${name}`);
  };
  s.passed = 0;
  return s;
}
