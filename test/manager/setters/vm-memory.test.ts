// VM memory setters through the real dispatcher (JSON-RPC): xapi's order and power-state rules,
// Berth's bounds, and the balloon of a running VM (xapi_vm.ml, vm_memory_constraints.ml).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness, MiB } from './harness.js';

const memory = (r: Record<string, any>) => [
  r.memory_static_min,
  r.memory_dynamic_min,
  r.memory_dynamic_max,
  r.memory_static_max,
];

test('set_memory_static_max 1, 0, -1 and set_memory_limits with -1 are refused; the record is unchanged', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  const before = memory(h.record('VM', vm));
  for (const v of [1, 0, -1]) {
    const e = await h.failure('VM.set_memory_static_max', vm, v);
    assert.equal(e[0], 'MEMORY_CONSTRAINT_VIOLATION', `static_max ${v}`);
    assert.match(e[1], /memory_static_max/);
  }
  for (const args of [
    [-1, 256 * MiB, 256 * MiB, 256 * MiB],
    [-1, -1, -1, -1],
    [0, 256 * MiB, -1, 256 * MiB],
  ]) {
    const e = await h.failure('VM.set_memory_limits', vm, ...args);
    assert.equal(e[0], 'MEMORY_CONSTRAINT_VIOLATION', JSON.stringify(args));
  }
  assert.equal((await h.failure('VM.set_memory', vm, 1))[0], 'MEMORY_CONSTRAINT_VIOLATION');
  assert.equal((await h.failure('VM.set_memory_static_min', vm, -1))[0], 'MEMORY_CONSTRAINT_VIOLATION');
  assert.deepEqual(memory(h.record('VM', vm)), before);
});

test('the order static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max: MEMORY_CONSTRAINT_VIOLATION_ORDER', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm(); // all four 256 MiB
  const order = ['MEMORY_CONSTRAINT_VIOLATION_ORDER'];
  assert.deepEqual(await h.failure('VM.set_memory_static_max', vm, 128 * MiB), order);
  assert.deepEqual(await h.failure('VM.set_memory_static_min', vm, 512 * MiB), order);
  assert.deepEqual(await h.failure('VM.set_memory_dynamic_max', vm, 512 * MiB), order);
  assert.deepEqual(await h.failure('VM.set_memory_dynamic_min', vm, 512 * MiB), order);
  assert.deepEqual(await h.failure('VM.set_memory_static_range', vm, 300 * MiB, 512 * MiB), order);
  assert.deepEqual(await h.failure('VM.set_memory_dynamic_range', vm, 200 * MiB, 100 * MiB), order);
  assert.deepEqual(
    await h.failure('VM.set_memory_limits', vm, 128 * MiB, 512 * MiB, 600 * MiB, 512 * MiB),
    order,
  );

  // The single-field setters are ranges with the other bound kept (message_forwarding.ml).
  await h.call('VM.set_memory_static_max', vm, 1024 * MiB);
  await h.call('VM.set_memory_dynamic_max', vm, 512 * MiB);
  await h.call('VM.set_memory_static_min', vm, 128 * MiB);
  await h.call('VM.set_memory_dynamic_min', vm, 200 * MiB);
  let r = h.record('VM', vm);
  assert.deepEqual(memory(r), [128 * MiB, 200 * MiB, 512 * MiB, 1024 * MiB]);
  assert.equal(r.memory_target, 200 * MiB, 'memory_target := dynamic_min, as xapi');

  await h.call('VM.set_memory_limits', vm, 64 * MiB, 2048 * MiB, 100 * MiB, 1024 * MiB);
  r = h.record('VM', vm);
  assert.deepEqual(memory(r), [64 * MiB, 100 * MiB, 1024 * MiB, 2048 * MiB]);
  assert.equal(r.memory_target, 100 * MiB);

  // set_memory: static_max = dynamic range = value, static_min kept.
  await h.call('VM.set_memory', vm, 768 * MiB);
  assert.deepEqual(memory(h.record('VM', vm)), [64 * MiB, 768 * MiB, 768 * MiB, 768 * MiB]);
  assert.deepEqual(await h.failure('VM.set_memory', vm, 32 * MiB), order, 'below static_min');
  // Berth's upper bound: 4 TiB.
  assert.equal(
    (await h.failure('VM.set_memory', vm, 8 * 1024 * 1024 * MiB))[0],
    'MEMORY_CONSTRAINT_VIOLATION',
  );
});

test('static and memory-limit setters need a halted VM; the dynamic range of a running VM moves its balloon', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm({
    memory_static_min: 128 * MiB,
    memory_dynamic_min: 256 * MiB,
    memory_dynamic_max: 512 * MiB,
    memory_static_max: 1024 * MiB,
  });
  // Halted: no balloon, and set_memory_target_live is for running VMs only.
  await h.call('VM.set_memory_dynamic_range', vm, 256 * MiB, 768 * MiB);
  assert.deepEqual(await h.failure('VM.set_memory_target_live', vm, 300 * MiB), [
    'VM_BAD_POWER_STATE',
    vm,
    'running',
    'halted',
  ]);
  assert.equal(h.agent.calls.filter(([c]) => c === 'balloon').length, 0);

  await h.call('VM.start', vm, false, false);
  const uuid = h.record('VM', vm).uuid;
  const bad = ['VM_BAD_POWER_STATE', vm, 'halted', 'running'];
  assert.deepEqual(await h.failure('VM.set_memory_static_max', vm, 2048 * MiB), bad);
  assert.deepEqual(await h.failure('VM.set_memory_static_min', vm, 64 * MiB), bad);
  assert.deepEqual(await h.failure('VM.set_memory_static_range', vm, 64 * MiB, 2048 * MiB), bad);
  assert.deepEqual(
    await h.failure('VM.set_memory_limits', vm, 64 * MiB, 1024 * MiB, 256 * MiB, 512 * MiB),
    bad,
  );
  assert.deepEqual(await h.failure('VM.set_memory', vm, 512 * MiB), bad);

  await h.call('VM.set_memory_dynamic_range', vm, 256 * MiB, 600 * MiB);
  assert.deepEqual(h.agent.calls.at(-1), ['balloon', uuid, 600 * MiB]);
  await h.call('VM.set_memory_dynamic_max', vm, 700 * MiB);
  assert.deepEqual(h.agent.calls.at(-1), ['balloon', uuid, 700 * MiB]);
  assert.equal(h.record('VM', vm).memory_dynamic_max, 700 * MiB);
  // An out-of-order range reaches neither the guest nor the record.
  const balloons = h.agent.calls.length;
  assert.equal(
    (await h.failure('VM.set_memory_dynamic_max', vm, 2048 * MiB))[0],
    'MEMORY_CONSTRAINT_VIOLATION_ORDER',
  );
  assert.equal(h.agent.calls.length, balloons);
  assert.equal(h.record('VM', vm).memory_dynamic_max, 700 * MiB);

  await h.call('VM.set_memory_target_live', vm, 300 * MiB);
  assert.deepEqual(h.agent.calls.at(-1), ['balloon', uuid, 300 * MiB]);
  assert.equal(h.record('VM', vm).memory_target, 300 * MiB);
  assert.equal(
    (await h.failure('VM.set_memory_target_live', vm, 64 * MiB))[0],
    'MEMORY_CONSTRAINT_VIOLATION',
  );
});

test('a control domain stays pinned at static_max; so does a VM with nested virtualisation', async (t) => {
  const h = await harness(t);
  const dom0 = [...h.m.manager.db.all('VM')].find(([, r]) => r.is_control_domain)![0];
  const r = h.record('VM', dom0);
  assert.deepEqual(
    await h.failure(
      'VM.set_memory_dynamic_range',
      dom0,
      Number(r.memory_static_max) / 2,
      Number(r.memory_static_max),
    ),
    ['MEMORY_CONSTRAINT_VIOLATION_MAXPIN', 'control domain'],
  );
  const vm = await h.newVm({ platform: { 'nested-virt': 'true' } });
  assert.deepEqual(await h.failure('VM.set_memory_dynamic_min', vm, 128 * MiB), [
    'MEMORY_CONSTRAINT_VIOLATION_MAXPIN',
    'nested virt',
  ]);
  await h.call('VM.set_memory', vm, 512 * MiB); // pinned: allowed
});

test('VCPUs_max: 1..128 and ≥ VCPUs_at_startup, on a halted VM; VCPUs_at_startup: 1..VCPUs_max', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm({ VCPUs_max: 2, VCPUs_at_startup: 2 });
  const order = 'VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max';
  assert.deepEqual(await h.failure('VM.set_VCPUs_max', vm, 100000), [
    'VALUE_NOT_SUPPORTED',
    'VCPUs_max',
    '100000',
    'Berth starts guests with at most 128 vCPUs',
  ]);
  assert.deepEqual(await h.failure('VM.set_VCPUs_max', vm, 0), ['INVALID_VALUE', order, '0']);
  assert.deepEqual(await h.failure('VM.set_VCPUs_max', vm, 1), ['INVALID_VALUE', order, '1']);
  await h.call('VM.set_VCPUs_max', vm, 128);
  assert.deepEqual(await h.failure('VM.set_VCPUs_at_startup', vm, 0), ['INVALID_VALUE', order, '0']);
  assert.deepEqual(await h.failure('VM.set_VCPUs_at_startup', vm, 129), ['INVALID_VALUE', order, '129']);
  await h.call('VM.set_VCPUs_at_startup', vm, 4);
  await h.call('VM.set_VCPUs_max', vm, 4);
  assert.equal(h.record('VM', vm).VCPUs_max, 4);

  await h.call('VM.start', vm, false, false);
  assert.deepEqual(await h.failure('VM.set_VCPUs_max', vm, 8), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
  // xapi allows VCPUs_at_startup on a running VM (it applies at the next start).
  await h.call('VM.set_VCPUs_at_startup', vm, 2);

  const dom0 = [...h.m.manager.db.all('VM')].find(([, r]) => r.is_control_domain)![0];
  assert.deepEqual(await h.failure('VM.set_VCPUs_at_startup', dom0, 1), [
    'OPERATION_NOT_ALLOWED',
    'set_VCPUs_at_startup is not allowed on dom0',
  ]);
  assert.equal((await h.failure('VM.set_VCPUs_max', dom0, 2))[0], 'OPERATION_NOT_ALLOWED');
});

test('set_VCPUs_number_live: running only, 0 < n ≤ VCPUs_max, hot-plugged by the agent or NOT_IMPLEMENTED', async (t) => {
  const plain = await harness(t);
  const vm = await plain.newVm({ VCPUs_max: 4, VCPUs_at_startup: 2 });
  assert.deepEqual(await plain.failure('VM.set_VCPUs_number_live', vm, 3), [
    'VM_BAD_POWER_STATE',
    vm,
    'running',
    'halted',
  ]);
  await plain.call('VM.start', vm, false, false);
  const range = 'VCPU values must satisfy: 0 < VCPUs ≤ VCPUs_max';
  assert.deepEqual(await plain.failure('VM.set_VCPUs_number_live', vm, 5), ['INVALID_VALUE', range, '5']);
  assert.deepEqual(await plain.failure('VM.set_VCPUs_number_live', vm, 0), ['INVALID_VALUE', range, '0']);
  // This agent cannot hot-plug: xapi's answer for a backend without the feature.
  assert.deepEqual(await plain.failure('VM.set_VCPUs_number_live', vm, 3), [
    'NOT_IMPLEMENTED',
    'VM.set_VCPUs_number_live',
  ]);
  await plain.call('VM.set_VCPUs_number_live', vm, 2); // already 2: nothing to plug
  assert.deepEqual(await plain.failure('VM.add_to_VCPUs_params_live', vm, 'weight', '512'), [
    'NOT_IMPLEMENTED',
    'add_to_VCPUs_params_live',
  ]);

  const hot = await harness(t, { hotplug: true });
  const vm2 = await hot.newVm({ VCPUs_max: 4, VCPUs_at_startup: 1 });
  await hot.call('VM.start', vm2, false, false);
  await hot.call('VM.set_VCPUs_number_live', vm2, 3);
  const r = hot.record('VM', vm2);
  assert.deepEqual(hot.agent.calls.at(-1), ['setVcpus', r.uuid, 3]);
  assert.equal(r.VCPUs_at_startup, 3);
  assert.equal(hot.record('VM_metrics', r.metrics).VCPUs_number, 3);
});

test('shadow multiplier: ≥ 1, halted for the field, running for the live call', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  assert.deepEqual(await h.failure('VM.set_HVM_shadow_multiplier', vm, 0.5), [
    'INVALID_VALUE',
    'multiplier',
    '0.5',
  ]);
  await h.call('VM.set_HVM_shadow_multiplier', vm, 2);
  assert.equal(h.record('VM', vm).HVM_shadow_multiplier, 2);
  assert.equal((await h.failure('VM.set_shadow_multiplier_live', vm, 2))[0], 'VM_BAD_POWER_STATE');
  await h.call('VM.start', vm, false, false);
  assert.deepEqual(await h.failure('VM.set_HVM_shadow_multiplier', vm, 3), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
  assert.deepEqual(await h.failure('VM.set_shadow_multiplier_live', vm, 0), [
    'INVALID_VALUE',
    'multiplier',
    '0.',
  ]);
  await h.call('VM.set_shadow_multiplier_live', vm, 1.5);
});
