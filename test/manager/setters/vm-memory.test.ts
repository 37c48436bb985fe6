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
