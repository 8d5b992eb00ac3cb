// Cross-region copy of a restore point through the official JS SDK
// (@azure/arm-compute), the client configured for ONE region's endpoint: a
// collection in OTHER_REGION whose source is the collection SRC_COLLECTION
// of REGION, a restore point in it copied from SRC_RP (beginCreateAndWait
// with sourceRestorePoint, the operation polled where the copy lives), its
// instance view (every disk restore point's replicationStatus succeeded,
// 100 %), its sourceRestorePoint, and each copied disk restore point
// (replicationState Succeeded, completionPercent 100, sourceResourceLocation
// REGION).  The group, the source collection and restore point are the
// calling test's (tests/arm/copy_clients.sh).  CLIENT_REGION (default REGION)
// is the endpoint every request goes to: OTHER_REGION's sends the requests for
// REGION's resources through its forwarding.  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node copy.mjs ENDPOINTS_JSON REGION RG SRC_COLLECTION SRC_RP OTHER_REGION [CLIENT_REGION]
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName, rg, srcColl, srcRp, other, clientRegion = regionName] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, clientRegion);
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper('SDK: ');

const P = `/subscriptions/${region.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute`;
const srcCollId = `${P}/restorePointCollections/${srcColl}`;
const srcRpId = `${srcCollId}/restorePoints/${srcRp}`;
const dst = `sdk-dst-${clientRegion}`;
const copy = 'sdk-c1';
const drpIds = (rp) => [rp.sourceMetadata.storageProfile.osDisk, ...rp.sourceMetadata.storageProfile.dataDisks]
  .map((d) => d.diskRestorePoint.id);

const source = await compute.restorePoints.get(rg, srcColl, srcRp);
const nDisks = drpIds(source).length;
await step(`restorePointCollections.createOrUpdate in ${other} with source.id the ${regionName} collection`, async () => {
  const c = await compute.restorePointCollections.createOrUpdate(rg, dst, { location: other, source: { id: srcCollId } });
  assert.equal(c.provisioningState, 'Succeeded');
  assert.equal(c.location, other);
  assert.equal(c.source.id.toLowerCase(), srcCollId.toLowerCase());
  assert.equal(c.source.location, regionName);
});
await step('restorePoints.beginCreateAndWait with sourceRestorePoint', async () => {
  const r = await compute.restorePoints.beginCreateAndWait(rg, dst, copy, { sourceRestorePoint: { id: srcRpId } }, poll);
  assert.equal(r.provisioningState, 'Succeeded');
});
let got;
await step("restorePoints.get with expand 'instanceView': every disk restore point replicated, 100 %", async () => {
  got = await compute.restorePoints.get(rg, dst, copy, { expand: 'instanceView' });
  assert.equal(got.provisioningState, 'Succeeded');
  const drps = got.instanceView.diskRestorePoints;
  assert.equal(drps.length, nDisks, JSON.stringify(drps));
  for (const d of drps) {
    assert.equal(d.replicationStatus.status.code, 'ReplicationState/succeeded', JSON.stringify(d));
    assert.equal(d.replicationStatus.completionPercent, 100, JSON.stringify(d));
  }
});
await step('restorePoints.get of the copy returns sourceRestorePoint.id', async () => {
  const r = await compute.restorePoints.get(rg, dst, copy);
  assert.equal(r.sourceRestorePoint?.id, srcRpId, JSON.stringify(r.sourceRestorePoint));
});
await step('sourceMetadata.storageProfile names the copied disk restore points', async () => {
  const ids = drpIds(got);
  assert.equal(ids.length, nDisks);
  for (const id of ids) {
    assert.ok(id.toLowerCase().startsWith(`${P}/restorePointCollections/${dst}/restorePoints/${copy}/diskRestorePoints/`.toLowerCase()), id);
  }
});
await step(`diskRestorePoint.get of each copy: Succeeded, 100 %, sourceResourceLocation ${regionName}`, async () => {
  for (const id of drpIds(got)) {
    const d = await compute.diskRestorePoint.get(rg, dst, copy, id.split('/').pop());
    assert.equal(d.replicationState, 'Succeeded', JSON.stringify(d));
    assert.equal(d.completionPercent, 100, JSON.stringify(d));
    assert.equal(d.sourceResourceLocation, regionName, JSON.stringify(d));
  }
});
console.log(`${step.passed} SDK steps passed`);
