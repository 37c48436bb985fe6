// Placement through the API, on a manager with two hosts (the second one's records made in the
// database, each host with its own stand-in agent): VM.start_on / resume_on run on the named
// host's agent and the VM is resident there; VM.start honours affinity, skips hosts that cannot
// boot the VM and reserves memory; a disk on an SR plugged only on host A keeps the VM off B.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { harness, MiB, RecordingAgent } from '../setters/harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

async function twoHosts(t: Parameters<typeof harness>[0]) {
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'placement-host-b', { address: '192.0.2.2' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const started = (agent: RecordingAgent, op = 'start') =>
    agent.calls.filter(([c]) => c === op).map(([, u]) => u);
  return { ...h, a, b, agentA: h.agent, agentB, started };
}

test('VM.start_on runs the VM on the named host: its agent, resident_on, console address, later operations', async (t) => {
  const h = await twoHosts(t);
  const vm = await h.newVm();
  const uuid = h.record('VM', vm).uuid;
  await h.call('VM.start_on', vm, h.b, false, false);
  assert.deepEqual(h.started(h.agentB), [uuid]);
  assert.deepEqual(h.started(h.agentA), []);
  const rec = h.record('VM', vm);
  assert.equal(rec.power_state, 'Running');
  assert.equal(rec.resident_on, h.b);
  assert.equal(rec.scheduled_to_be_resident_on, 'OpaqueRef:NULL');
  const console = h.record('console', rec.consoles[0]);
  assert.match(console.location, /^https:\/\/192\.0\.2\.2\/console/);
  // Everything on the running VM goes to its host's agent.
  await h.call('VM.pause', vm);
  await h.call('VM.unpause', vm);
  await h.call('VM.hard_shutdown', vm);
  assert.deepEqual(
    h.agentB.calls.map(([c]) => c),
    ['start', 'pause', 'unpause', 'shutdown'],
  );
  assert.deepEqual(
    h.agentA.calls.map(([c]) => c),
    [],
  );
  assert.equal(h.record('VM', vm).resident_on, 'OpaqueRef:NULL');
});

test('VM.resume_on resumes on the named host if it sees the suspend image; VM.resume picks one', async (t) => {
  const h = await twoHosts(t);
  const { db } = h.m.manager;
  const vm = await h.newVm();
  await h.call('VM.start_on', vm, h.a, false, false);
  await h.call('VM.suspend', vm);
  // The image went to the default SR, plugged on A only: B cannot resume it.
  const sr = String(h.record('VDI', h.record('VM', vm).suspend_VDI).SR);
  assert.deepEqual(await h.failure('VM.resume_on', vm, h.b, false, false), ['VM_REQUIRES_SR', vm, sr]);
  assert.deepEqual(await h.call('VM.get_possible_hosts', vm), [h.a]);
  await h.call('VM.resume', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, h.a);
  assert.equal(h.started(h.agentA, 'resume').length, 1);

  // Once B sees that SR too, it can resume the VM.
  const pbdA = h.record('PBD', h.record('SR', sr).PBDs[0]);
  db.create('PBD', { SR: sr, host: h.b, device_config: pbdA.device_config, currently_attached: true });
  await h.call('VM.suspend', vm);
  await h.call('VM.resume_on', vm, h.b, false, false);
  assert.equal(h.record('VM', vm).resident_on, h.b);
  assert.equal(h.started(h.agentB, 'resume').length, 1);
  await h.call('VM.suspend', vm);
  assert.equal(h.started(h.agentB, 'suspend').length, 1);
});

test('VM.start: affinity first, then the host with room; the chosen host is reserved while starting', async (t) => {
  const h = await twoHosts(t);
  const vm = await h.newVm();
  await h.call('VM.set_affinity', vm, h.a);
  await h.call('VM.start', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, h.a);
  await h.call('VM.hard_shutdown', vm);

  // Affinity to a host that cannot boot the VM (disabled) is passed over.
  h.m.manager.db.update('host', h.a, { enabled: false });
  await h.call('VM.start', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, h.b);
  await h.call('VM.hard_shutdown', vm);
  h.m.manager.db.update('host', h.a, { enabled: true });

  // While the agent starts the VM, its host holds the reservation (scheduled_to_be_resident_on)
  // and compute_free_memory counts it.
  const free = await h.call('host.compute_free_memory', h.b);
  let during: { scheduled: string; free: number } | undefined;
  const start = h.agentB.start.bind(h.agentB);
  h.agentB.start = async (spec) => {
    during = {
      scheduled: String(h.record('VM', vm).scheduled_to_be_resident_on),
      free: Number(await h.call('host.compute_free_memory', h.b)),
    };
    return start(spec);
  };
  await h.call('VM.set_affinity', vm, h.b);
  await h.call('VM.start', vm, false, false);
  const need = 256 * MiB + (await h.call('VM.compute_memory_overhead', vm));
  assert.deepEqual(during, { scheduled: h.b, free: free - need });
  assert.equal(await h.call('host.compute_free_memory', h.b), free - need);
  assert.equal(h.record('VM', vm).scheduled_to_be_resident_on, 'OpaqueRef:NULL');
});

test('a disk on an SR plugged only on host A: VM_REQUIRES_SR on B, get_possible_hosts lists only A', async (t) => {
  const h = await twoHosts(t);
  const sr = String(h.record('pool', h.m.manager.svc.poolRef()).default_SR);
  const pbdHosts = (h.record('SR', sr).PBDs as string[]).map((p) => h.record('PBD', p).host);
  assert.deepEqual(pbdHosts, [h.a]);
  const vm = await h.newVm();
  const vdi = await h.call(
    'VDI.create',
    vdiRecord(sr, 4 * MiB, { name_label: 'placement-disk', name_description: '' }),
  );
  await h.call('VBD.create', vbdRecord(vm, vdi));
  assert.deepEqual(await h.call('VM.get_possible_hosts', vm), [h.a]);
  const requires = ['VM_REQUIRES_SR', vm, sr];
  assert.deepEqual(await h.failure('VM.assert_can_boot_here', vm, h.b), requires);
  assert.deepEqual(await h.failure('VM.start_on', vm, h.b, false, false), requires);
  assert.equal(h.record('VM', vm).power_state, 'Halted');
  assert.deepEqual(h.record('VM', vm).current_operations, {});
  assert.equal(await h.call('VM.assert_can_boot_here', vm, h.a), '');
  // Without a host, and even with affinity to B, it starts on A.
  await h.call('VM.set_affinity', vm, h.b);
  await h.call('VM.start', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, h.a);
  assert.equal(h.started(h.agentB).length, 0);
  await h.call('VM.hard_shutdown', vm);
  // A disabled: no host can boot it.
  h.m.manager.db.update('host', h.a, { enabled: false });
  assert.deepEqual(await h.call('VM.get_possible_hosts', vm), []);
  assert.deepEqual(await h.failure('VM.start', vm, false, false), ['NO_HOSTS_AVAILABLE']);
});

test("start_on's errors: HOST_DISABLED, HOST_OFFLINE, HOST_NOT_ENOUGH_FREE_MEMORY, VM_BAD_POWER_STATE", async (t) => {
  const h = await twoHosts(t);
  const { db, svc } = h.m.manager;
  const vm = await h.newVm();

  db.update('host', h.b, { enabled: false });
  assert.deepEqual(await h.failure('VM.start_on', vm, h.b, false, false), ['HOST_DISABLED', h.b]);
  assert.deepEqual(await h.failure('VM.assert_can_boot_here', vm, h.b), ['HOST_DISABLED', h.b]);
  db.update('host', h.b, { enabled: true });

  svc.hosts.detach(h.b); // its agent is gone
  assert.deepEqual(await h.failure('VM.start_on', vm, h.b, false, false), ['HOST_OFFLINE', h.b]);
  assert.deepEqual(await h.call('VM.get_possible_hosts', vm), [h.a]);
  await h.call('VM.start', vm, false, false); // placement skips the unreachable host
  assert.equal(h.record('VM', vm).resident_on, h.a);
  assert.deepEqual(await h.failure('VM.start_on', vm, h.a, false, false), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
  // A running VM: the host checks only (a migration's), its own host passes.
  assert.equal(await h.call('VM.assert_can_boot_here', vm, h.a), '');
  assert.deepEqual(await h.failure('VM.assert_can_boot_here', vm, h.b), ['HOST_OFFLINE', h.b]);
  await h.call('VM.pause', vm);
  assert.deepEqual((await h.failure('VM.assert_can_boot_here', vm, h.a))[0], 'VM_BAD_POWER_STATE');
  await h.call('VM.unpause', vm);
  svc.hosts.attach(h.b, h.agentB);

  // A host whose memory is taken: the figures xapi gives, [needed, available].
  const metrics = String(h.record('host', h.b).metrics);
  db.update('host_metrics', metrics, { memory_total: 512 * MiB });
  db.update('host', h.b, { memory_overhead: 64 * MiB });
  assert.equal(await h.call('host.compute_memory_overhead', h.b), 64 * MiB);
  const vm2 = await h.newVm();
  const needed = 256 * MiB + (await h.call('VM.compute_memory_overhead', vm2));
  assert.equal(await h.call('host.compute_free_memory', h.b), 448 * MiB);
  const taken = await h.newVm({ memory_dynamic_min: 200 * MiB });
  db.update('VM', taken, { power_state: 'Running', resident_on: h.b });
  const available = 448 * MiB - 200 * MiB - (await h.call('VM.compute_memory_overhead', taken));
  assert.equal(await h.call('host.compute_free_memory', h.b), available);
  const noMemory = ['HOST_NOT_ENOUGH_FREE_MEMORY', String(needed), String(available)];
  assert.deepEqual(await h.failure('VM.start_on', vm2, h.b, false, false), noMemory);
  // VM.start with no host that has the memory: the chosen host says why (as xapi's fallback).
  db.update('host', h.a, { enabled: false });
  assert.deepEqual(await h.failure('VM.start', vm2, false, false), noMemory);
  assert.equal(h.record('VM', vm2).scheduled_to_be_resident_on, 'OpaqueRef:NULL');
});
