// The grant lifecycle through the official JS SDK (@azure/arm-compute 25.1.1,
// DiskRP api-version 2026-03-02): beginGrantAccessAndWait on a disk restore
// point (the result comes from the Location URL), a second grant returning
// the same URL, the blob readable through it, beginRevokeAccessAndWait taking
// effect at once; the same on an unattached disk, whose diskState is
// ActiveSAS meanwhile.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node sas-grants.mjs ENDPOINTS_JSON REGION RG COLLECTION RP DRP DISK
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ComputeManagementClient } from '@azure/arm-compute';
import { PageBlobClient } from '@azure/storage-blob';

const [endpointsFile, regionName, rg, coll, rp, drp, disk] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper('arm-compute: ');
const readable = async (url) => {
  try {
    await new PageBlobClient(url).getProperties();
    return true;
  } catch (e) {
    if (e.statusCode === 403) return false;
    throw e;
  }
};

let url;
await step('diskRestorePoint.beginGrantAccessAndWait returns a SAS URL', async () => {
  const r = await compute.diskRestorePoint.beginGrantAccessAndWait(rg, coll, rp, drp,
    { access: 'Read', durationInSeconds: 600 }, poll);
  assert.match(r.accessSAS, /^https:\/\/.*sig=/);
  url = r.accessSAS;
  assert.equal(await readable(url), true);
});
await step('a second grant extends it: the same URL', async () => {
  const r = await compute.diskRestorePoint.beginGrantAccessAndWait(rg, coll, rp, drp,
    { access: 'Read', durationInSeconds: 1200 }, poll);
  assert.equal(r.accessSAS, url);
});
await step('beginRevokeAccessAndWait: the URL stops working at once', async () => {
  await compute.diskRestorePoint.beginRevokeAccessAndWait(rg, coll, rp, drp, poll);
  assert.equal(await readable(url), false);
});
await step('disks.beginGrantAccessAndWait on an unattached disk: ActiveSAS', async () => {
  const r = await compute.disks.beginGrantAccessAndWait(rg, disk, { access: 'Read', durationInSeconds: 600 }, poll);
  url = r.accessSAS;
  assert.equal(await readable(url), true);
  assert.equal((await compute.disks.get(rg, disk)).diskState, 'ActiveSAS');
});
await step('disks.beginRevokeAccessAndWait: Unattached, the URL refused', async () => {
  await compute.disks.beginRevokeAccessAndWait(rg, disk, poll);
  assert.equal((await compute.disks.get(rg, disk)).diskState, 'Unattached');
  assert.equal(await readable(url), false);
});
await step('access Write on a disk restore point is refused', async () => {
  await assert.rejects(compute.diskRestorePoint.beginGrantAccessAndWait(rg, coll, rp, drp,
    { access: 'Write', durationInSeconds: 60 }, poll), (e) => e.statusCode === 400);
});
