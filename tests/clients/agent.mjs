// A VM's guest agent and its application-consistent restore points through
// the official JS SDK (@azure/arm-compute): virtualMachineExtensions (create
// or update, get with instanceView, list), the VM's instance view (vmAgent),
// restore points with consistencyMode ApplicationConsistent and
// FileSystemConsistent.  The resource group, the running VM `vm1`, its
// collection `rpc` and a listening agent are the calling test's
// (tests/arm/agent.sh).  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node agent.mjs ENDPOINTS_JSON REGION RG SOCKET
import assert from 'node:assert/strict';
import { connect, stepper } from './region.mjs';
import { ComputeManagementClient } from '@azure/arm-compute';

const [endpointsFile, regionName, rg, socket] = process.argv.slice(2);
const { region, base, cred, poll } = connect(endpointsFile, regionName);
const compute = new ComputeManagementClient(cred, region.subscriptionId, { endpoint: base });
const step = stepper();

await step('virtualMachineExtensions.beginCreateOrUpdateAndWait (Vmrp.QemuGuestAgent)', async () => {
  const e = await compute.virtualMachineExtensions.beginCreateOrUpdateAndWait(rg, 'vm1', 'qga', {
    location: region.name, publisher: 'Vmrp', typePropertiesType: 'QemuGuestAgent', typeHandlerVersion: '1.0',
    settings: { socket },
  }, poll);
  assert.equal(e.provisioningState, 'Succeeded');
  assert.equal(e.publisher, 'Vmrp');
  assert.equal(e.typePropertiesType, 'QemuGuestAgent');
  assert.equal(e.settings.socket, socket);
});
await step('virtualMachineExtensions.get with instanceView, list', async () => {
  const e = await compute.virtualMachineExtensions.get(rg, 'vm1', 'qga', { expand: 'instanceView' });
  assert.equal(e.instanceView.statuses[0].code, 'ProvisioningState/succeeded');
  const l = await compute.virtualMachineExtensions.list(rg, 'vm1');
  assert.deepEqual(l.value.map((x) => x.name), ['qga']);
});
await step('virtualMachines.instanceView: vmAgent Ready', async () => {
  const iv = await compute.virtualMachines.instanceView(rg, 'vm1');
  assert.equal(iv.vmAgent.statuses[0].displayStatus, 'Ready');
  assert.ok(iv.vmAgent.vmAgentVersion.length > 0);
});
for (const mode of ['ApplicationConsistent', 'FileSystemConsistent']) {
  await step(`restorePoints.beginCreateAndWait consistencyMode ${mode}`, async () => {
    const rp = await compute.restorePoints.beginCreateAndWait(rg, 'rpc', `sdk-${mode}`, { consistencyMode: mode }, poll);
    assert.equal(rp.provisioningState, 'Succeeded');
    assert.equal(rp.consistencyMode, mode);
  });
}
console.log(`${step.passed} SDK steps passed`);
