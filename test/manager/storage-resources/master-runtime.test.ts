// MasterStorageRuntime's ordering: one start however often a master is announced, a demotion
// during a start stops what it made, a failed start is logged and leaves no runtime.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MasterStorageRuntime } from '../../../src/manager/storage-resources/runtime/master-runtime.js';
import type { StorageRuntime } from '../../../src/manager/storage-resources/runtime/storage-runtime.js';

function fakeStarts() {
  const log: string[] = [];
  let n = 0;
  const start = async () => {
    const id = ++n;
    log.push(`start ${id}`);
    await new Promise((r) => setTimeout(r, 20));
    log.push(`started ${id}`);
    return {
      stop: async () => {
        log.push(`stop ${id}`);
      },
    } as unknown as StorageRuntime;
  };
  return { log, start };
}

test('announced master twice: one start; end stops it; begin again starts a new one', async () => {
  const { log, start } = fakeStarts();
  const rt = new MasterStorageRuntime(start);
  void rt.begin();
  await rt.begin();
  assert.deepEqual(log, ['start 1', 'started 1']);
  const first = rt.runtime;
  assert.ok(first);
  await rt.end();
  assert.equal(rt.runtime, undefined);
  await rt.begin();
  assert.notEqual(rt.runtime, first);
  assert.deepEqual(log, ['start 1', 'started 1', 'stop 1', 'start 2', 'started 2']);
});

test('a demotion during a start stops what the start made', async () => {
  const { log, start } = fakeStarts();
  const rt = new MasterStorageRuntime(start);
  void rt.begin();
  await rt.end();
  assert.equal(rt.runtime, undefined);
  assert.deepEqual(log, ['start 1', 'started 1', 'stop 1']);
});

test('a start that throws leaves no runtime; the next promotion tries again', async () => {
  let fail = true;
  const rt = new MasterStorageRuntime(async () => {
    if (fail) throw new Error('database is locked');
    return { stop: async () => {} } as unknown as StorageRuntime;
  });
  await rt.begin();
  assert.equal(rt.runtime, undefined);
  fail = false;
  await rt.end();
  await rt.begin();
  assert.ok(rt.runtime);
});
