// Template deployments against the fastest sequential REST client, one region.
//
// 1. The same 100 resources (bench/arm/deploy100.json: a copy loop of 80
//    disks, a collection, a serial loop of 19 restore points of a VM) made
//    twice, each in a resource group of its own with its own VM:
//    - sequentially by this client: PUT, then its Azure-AsyncOperation polled
//      every POLL_MS until terminal, then the next (one keep-alive TLS
//      connection, no SDK: the fastest honest sequential client);
//    - by one deployment of the template: PUT, its status polled the same way;
//    ROUNDS of each, alternating which goes first, each in fresh groups.
//    Overhead = deployment wall time / sequential wall time - 1; the chain =
//    the collection and its restore points sequentially (their serial order
//    is the deployment's critical path); overlap =
//    the sum of the deployment operations' own durations / its wall time
//    (> 1: independent resources ran at the same time).
// 2. POST validate of bench/arm/eval800.json (800 disks from copy loops with
//    nested expressions): median of REPS, after one warm-up.
// Prints one line of `key value` pairs: validate800_ms, seq_ms, seq_chain_ms,
// deploy_ms, ops_sum_ms (medians), runs (each round's wall times).  Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem VMRP_TOKEN=... node deployments.mjs BASE SUBSCRIPTION REPS ROUNDS
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [base, sub, repsArg, roundsArg] = process.argv.slice(2);
const reps = Number(repsArg || 7);
const rounds = Number(roundsArg || 3);
const here = dirname(fileURLToPath(import.meta.url));
const token = process.env.VMRP_TOKEN;
const POLL_MS = 5;
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function call(method, url, body) {
  const u = new URL(url, base);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(u, {
      method, agent,
      headers: { Authorization: `Bearer ${token}`, ...(data ? { 'Content-Type': 'application/json' } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function must(method, url, body) {
  const r = await call(method, url, body);
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

// Waits for a PUT's long-running operation (if it started one); returns the
// terminal status.
async function settle(r) {
  const aao = r.headers['azure-asyncoperation'];
  if (!aao) return r.body?.properties?.provisioningState ?? 'Succeeded';
  for (;;) {
    const s = await must('GET', aao);
    if (!['InProgress', 'Running', 'Accepted'].includes(s.body.status)) return s.body.status;
    await sleep(POLL_MS);
  }
}

const rgUrl = (rg) => `/subscriptions/${sub}/resourceGroups/${rg}`;
const compute = (rg) => `${rgUrl(rg)}/providers/Microsoft.Compute`;

// A resource group with a VM of two 1 GiB disks (untimed set-up).
async function group(rg) {
  await must('PUT', `${rgUrl(rg)}?api-version=2021-04-01`, { location: 'eastus' });
  for (const d of ['os', 'data']) {
    await settle(await must('PUT', `${compute(rg)}/disks/${d}?api-version=2024-03-02`,
      { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } }));
  }
  const vm = `${compute(rg)}/virtualMachines/vm1`;
  await settle(await must('PUT', `${vm}?api-version=2024-07-01`, {
    location: 'eastus', properties: {
      hardwareProfile: { vmSize: 'Standard_D2s_v3' },
      storageProfile: {
        osDisk: { osType: 'Linux', createOption: 'Attach', managedDisk: { id: `${compute(rg)}/disks/os` } },
        dataDisks: [{ lun: 0, createOption: 'Attach', managedDisk: { id: `${compute(rg)}/disks/data` } }],
      },
    },
  }));
  return vm;
}

// The template's 100 requests, in its order, as a sequential client sends them.
function requests(rg, vmId) {
  const out = [];
  for (let i = 0; i < 80; i++) {
    out.push([`${compute(rg)}/disks/disk-${i}?api-version=2024-03-02`,
      { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } }]);
  }
  out.push([`${compute(rg)}/restorePointCollections/rpc?api-version=2024-07-01`,
    { location: 'eastus', properties: { source: { id: vmId } } }]);
  for (let i = 0; i < 19; i++) {
    out.push([`${compute(rg)}/restorePointCollections/rpc/restorePoints/rp-${i}?api-version=2024-07-01`, { properties: {} }]);
  }
  return out;
}

const seconds = (iso) => Number(/^PT([0-9.]+)S$/.exec(iso)?.[1] ?? NaN);
const result = {};

const template = JSON.parse(readFileSync(`${here}/deploy100.json`, 'utf8'));

// One sequential pass in a fresh group: [wall ms, the chain's ms].
async function sequential(rg) {
  const vm = await group(rg);
  const t0 = performance.now();
  let tChain = 0;
  for (const [i, [url, body]] of requests(rg, vm).entries()) {
    if (i === 80) tChain = performance.now();
    const st = await settle(await must('PUT', url, body));
    if (st !== 'Succeeded') throw new Error(`${url}: ${st}`);
  }
  const t1 = performance.now();
  return [t1 - t0, t1 - tChain];
}

// One deployment in a fresh group: [wall ms, sum of its operations' ms].
async function deployment(rg) {
  const vm = await group(rg);
  const dep = `${rgUrl(rg)}/providers/Microsoft.Resources/deployments/bench`;
  const t0 = performance.now();
  const st = await settle(await must('PUT', `${dep}?api-version=2021-04-01`,
    { properties: { mode: 'Incremental', template, parameters: { vmId: { value: vm } } } }));
  const wall = performance.now() - t0;
  if (st !== 'Succeeded') throw new Error(`deployment: ${st}`);
  const ops = (await must('GET', `${rgUrl(rg)}/deployments/bench/operations?api-version=2021-04-01`)).body.value
    .filter((o) => o.properties.provisioningOperation === 'Create');
  if (ops.length !== 100) throw new Error(`deployment: ${ops.length} operations`);
  return [wall, 1000 * ops.reduce((s, o) => s + seconds(o.properties.duration), 0)];
}

// Rounds alternate which goes first, so that the machine's drift is not
// charged to one side; medians of the rounds.
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const seq = [], chain = [], dep = [], ops = [];
for (let r = 0; r < rounds; r++) {
  const runs = [async () => { const [w, c] = await sequential(`bench-seq-${r}`); seq.push(w); chain.push(c); },
                async () => { const [w, o] = await deployment(`bench-dep-${r}`); dep.push(w); ops.push(o); }];
  if (r % 2) runs.reverse();
  for (const run of runs) await run();
}
Object.assign(result, { seq_ms: median(seq), seq_chain_ms: median(chain), deploy_ms: median(dep), ops_sum_ms: median(ops) });
const runs = `seq=${seq.map((x) => x.toFixed(0)).join('/')},deploy=${dep.map((x) => x.toFixed(0)).join('/')}`;

const eval800 = JSON.parse(readFileSync(`${here}/eval800.json`, 'utf8'));
await must('PUT', `${rgUrl('bench-eval')}?api-version=2021-04-01`, { location: 'eastus' });
const validate = `${rgUrl('bench-eval')}/providers/Microsoft.Resources/deployments/eval/validate?api-version=2021-04-01`;
const times = [];
for (let i = 0; i <= reps; i++) {
  const t0 = performance.now();
  const r = await must('POST', validate, { properties: { mode: 'Incremental', template: eval800 } });
  if (i > 0) times.push(performance.now() - t0);
  if ((r.body.properties.validatedResources ?? []).length !== 800) throw new Error('validate: not 800 resources');
}
times.sort((a, b) => a - b);
result.validate800_ms = times[Math.floor(times.length / 2)];
const keys = ['validate800_ms', 'seq_ms', 'seq_chain_ms', 'deploy_ms', 'ops_sum_ms'];
console.log(`${keys.map((k) => `${k} ${result[k].toFixed(1)}`).join(' ')} runs ${runs}`);
