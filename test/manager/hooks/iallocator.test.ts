// VM placement by the pool's iallocator (src/manager/vm/iallocator.ts) on a two-host test pool
// (the second host's records in the database, its own stand-in agent): the example least-loaded
// allocator (examples/iallocator/) picks the host with the most free memory and VM.start runs the
// VM there; the request is Ganeti's allocate request; failures and bad answers refuse the start
// with IALLOCATOR_FAILED and leave the VM halted.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hooksProcedures } from '../../../src/agent/hooks/rpc.js';
import { hooksClient } from '../../../src/shared/host/hooks.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { harness, RecordingAgent } from '../setters/harness.js';

const EXAMPLE = join(import.meta.dirname, '../../../examples/iallocator/least-loaded');

async function pool(t: Parameters<typeof harness>[0], memoryB: number) {
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'ialloc-host-b', { address: '192.0.2.2', memoryTotal: memoryB });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const dir = tempDir(t, 'berth-ialloc-');
  mkdirSync(join(dir, 'ia'), { mode: 0o755 });
  copyFileSync(EXAMPLE, join(dir, 'ia', 'least-loaded'));
  chmodSync(join(dir, 'ia', 'least-loaded'), 0o755);
  const procs = hooksProcedures({ dir: join(dir, 'hooks'), iallocatorDir: join(dir, 'ia') }) as Record<
    string,
    (...a: unknown[]) => unknown
  >;
  (h.agent as unknown as { hooks: unknown }).hooks = hooksClient(async (name, args) => procs[name](...args));
  const useAllocator = (name: string) =>
    h.call('pool.add_to_other_config', svc.poolRef(), 'berth-iallocator', name);
  const allocator = (name: string, body: string) => {
    writeFileSync(join(dir, 'ia', name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, 'ia', name), 0o755);
  };
  return { h, a, b, agentB, dir, useAllocator, allocator };
}

test('least-loaded: VM.start goes to the host with the most free memory, wherever xapi would go', async (t) => {
  const { h, a, b, agentB, useAllocator } = await pool(t, 1024 * 1024 ** 3); // B: 1 TiB
  const vm = await h.newVm();
  await h.call('VM.set_affinity', vm, a); // xapi's own choice would be A
  await useAllocator('least-loaded');
  await h.call('VM.start', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, b);
  assert.deepEqual(
    agentB.calls.map(([c]) => c),
    ['start'],
  );
  assert.deepEqual(h.agent.calls, []);
});

test('least-loaded: a host the VM cannot boot on (disabled) is drained and passed over', async (t) => {
  const { h, a, b, useAllocator } = await pool(t, 1024 * 1024 ** 3);
  await h.call('host.disable', b);
  await useAllocator('least-loaded');
  const vm = await h.newVm();
  await h.call('VM.start', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, a);
});

test('the request is Ganeti’s allocate request over the pool', async (t) => {
  const { h, a, b, dir, useAllocator, allocator } = await pool(t, 16 * 1024 ** 3);
  allocator(
    'capture',
    `cp "$1" ${join(dir, 'request.json')}; echo '{"success": true, "info": "", "result": ["ialloc-host-b"]}'`,
  );
  await useAllocator('capture');
  const vm = await h.newVm({ name_label: 'ialloc-vm', memory_static_max: 512 * 1024 ** 2 });
  await h.call('VM.start', vm, false, false);
  assert.equal(h.record('VM', vm).resident_on, b);
  const req = JSON.parse(readFileSync(join(dir, 'request.json'), 'utf8'));
  assert.equal(req.version, 2);
  assert.equal(req.request.type, 'allocate');
  assert.equal(req.request.name, h.record('VM', vm).uuid);
  assert.equal(req.request.memory, 512);
  assert.equal(req.request.required_nodes, 1);
  const nameA = h.record('host', a).name_label;
  assert.deepEqual(Object.keys(req.nodes).sort(), [nameA, 'ialloc-host-b'].sort());
  assert.equal(req.nodes['ialloc-host-b'].total_memory, 16 * 1024);
  assert.equal(req.nodes['ialloc-host-b'].offline, false);
  assert.equal(req.nodes[nameA].master_candidate, true);
});

test('a failing allocator or a bad answer refuses the start with IALLOCATOR_FAILED; the VM stays halted', async (t) => {
  const { h, agentB, useAllocator, allocator } = await pool(t, 16 * 1024 ** 3);
  const vm = await h.newVm();
  const cases: [string, string, string][] = [
    ['garbage', 'echo "not json"', 'the answer is not JSON'],
    ['refuses', `echo '{"success": false, "info": "pool full", "result": []}'`, 'no placement: pool full'],
    [
      'unknown',
      `echo '{"success": true, "info": "", "result": ["nowhere"]}'`,
      'the answer names an unknown node "nowhere"',
    ],
    [
      'two',
      `echo '{"success": true, "info": "", "result": ["a", "b"]}'`,
      '"result" must list exactly one node name',
    ],
    ['crashes', 'echo boom >&2; exit 3', 'exited 3'],
  ];
  for (const [name, body, why] of cases) {
    allocator(name, body);
    await useAllocator(name);
    const e = await h.failure('VM.start', vm, false, false);
    assert.deepEqual(e.slice(0, 3), ['IALLOCATOR_FAILED', name, why], name);
    assert.equal(h.record('VM', vm).power_state, 'Halted');
    assert.equal(h.record('VM', vm).scheduled_to_be_resident_on, 'OpaqueRef:NULL');
    await h.call('pool.remove_from_other_config', h.m.manager.svc.poolRef(), 'berth-iallocator');
  }
  // A name outside the allow-list rule never reaches the file system.
  await useAllocator('../../bin/true');
  assert.deepEqual((await h.failure('VM.start', vm, false, false)).slice(0, 1), ['INVALID_VALUE']);
  assert.deepEqual(agentB.calls, []);
  assert.deepEqual(h.agent.calls, []);
});
