// Deferred writes (Database.deferred) and one write per row per batch (coalesceWrites): memory
// and events at once, the disk with the next durable commit or the flush timer, the same stored
// state as writing each change, and event tokens never reused after a crash lost deferred writes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import type { WriteOp } from '../../../src/manager/db/backend.js';
import {
  type Change,
  coalesceWrites,
  DEFERRED_FLUSH_MS,
  Database,
} from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { collectEvents, parseSubscription } from '../../../src/manager/events/event-from.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { tempDir } from '../../helpers/tmp.js';

/** A real SQLite backend whose applied batches are recorded. */
function open(dir: string) {
  const backend = new SqliteBackend(join(dir, 'berth.db'), MODEL);
  const batches: WriteOp[][] = [];
  const apply = backend.apply.bind(backend);
  backend.apply = (ops, meta) => {
    batches.push(ops);
    apply(ops, meta);
  };
  const db = new Database(MODEL, backend);
  const changes: Change[] = [];
  db.onCommit((c) => changes.push(...c));
  return { backend, db, batches, changes };
}

test('coalesceWrites: one op per row, later values win, inserts absorb later updates', () => {
  const row = { name_label: 'live' };
  const ops: WriteOp[] = [
    { op: 'update', cls: 'VM', ref: 'a', changes: { name_label: 'x', power_state: 'Running' } },
    { op: 'update', cls: 'VM', ref: 'b', changes: { name_label: 'b1' } },
    { op: 'update', cls: 'VM', ref: 'a', changes: { name_label: 'y' } },
    { op: 'insert', cls: 'VM', ref: 'c', record: row },
    { op: 'update', cls: 'VM', ref: 'c', changes: { name_label: 'z' } },
    { op: 'delete', cls: 'VM', ref: 'b' },
    { op: 'update', cls: 'VM', ref: 'b', changes: { name_label: 'b2' } },
    { op: 'update', cls: 'VM_metrics', ref: 'a', changes: { memory_actual: 1 } },
  ];
  assert.deepEqual(coalesceWrites(ops), [
    { op: 'update', cls: 'VM', ref: 'a', changes: { name_label: 'y', power_state: 'Running' } },
    { op: 'update', cls: 'VM', ref: 'b', changes: { name_label: 'b1' } },
    { op: 'insert', cls: 'VM', ref: 'c', record: row },
    { op: 'delete', cls: 'VM', ref: 'b' },
    { op: 'update', cls: 'VM', ref: 'b', changes: { name_label: 'b2' } },
    { op: 'update', cls: 'VM_metrics', ref: 'a', changes: { memory_actual: 1 } },
  ]);
  // The input is not modified.
  assert.deepEqual(ops[0], {
    op: 'update',
    cls: 'VM',
    ref: 'a',
    changes: { name_label: 'x', power_state: 'Running' },
  });
});

test('a transaction writes each row once, with several columns in one statement', (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'one' }));
  a.batches.length = 0;
  a.db.transaction(() => {
    a.db.update('VM', vm, { name_label: 'two', name_description: 'd' });
    a.db.update('VM', vm, { other_config: { k: 'v' }, name_label: 'three' });
  });
  assert.equal(a.batches.length, 1);
  assert.deepEqual(a.batches[0], [
    {
      op: 'update',
      cls: 'VM',
      ref: vm,
      changes: { name_label: 'three', name_description: 'd', other_config: { k: 'v' } },
    },
  ]);
  // Events still see every change (two mods, coalesced per object by event.from).
  assert.deepEqual(
    a.changes.slice(-2).map((c) => [c.op, c.ref]),
    [
      ['mod', vm],
      ['mod', vm],
    ],
  );
  a.backend.close();
  const b = open(dir);
  const row = b.db.get('VM', vm)!;
  assert.equal(row.name_label, 'three');
  assert.equal(row.name_description, 'd');
  assert.deepEqual(row.other_config, { k: 'v' });
  b.backend.close();
});

test('deferred writes: memory and events at once, the disk with the next durable commit', (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'one' }));
  const other = a.db.create('VM', baseVmRecord({ name_label: 'other' }));
  const genBefore = a.db.currentGeneration;
  a.batches.length = 0;
  a.db.deferred(() => a.db.update('VM', vm, { current_operations: { t1: 'start' } }));
  assert.equal(a.batches.length, 0, 'nothing stored yet');
  assert.deepEqual(a.db.get('VM', vm)!.current_operations, { t1: 'start' });
  assert.equal(a.changes.at(-1)!.ref, vm, 'published at once');
  const events = collectEvents(a.db, parseSubscription(['vm']), genBefore, (_c, r) => r);
  assert.deepEqual(
    events.map((e) => [e.operation, e.ref]),
    [['mod', vm]],
  );
  // A durable commit stores the pending write first, in the same batch, one op per row.
  a.db.transaction(() => {
    a.db.update('VM', other, { name_label: 'other2' });
    a.db.update('VM', vm, { current_operations: {}, power_state: 'Running' });
  });
  assert.equal(a.batches.length, 1);
  assert.deepEqual(a.batches[0], [
    { op: 'update', cls: 'VM', ref: vm, changes: { current_operations: {}, power_state: 'Running' } },
    { op: 'update', cls: 'VM', ref: other, changes: { name_label: 'other2' } },
  ]);
  a.backend.close();
  const b = open(dir);
  assert.deepEqual(b.db.get('VM', vm)!.current_operations, {});
  assert.equal(b.db.get('VM', vm)!.power_state, 'Running');
  b.backend.close();
});

test('deferred writes reach the disk after DEFERRED_FLUSH_MS without another commit', async (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'one' }));
  a.batches.length = 0;
  const task = a.db.deferred(() => a.db.create('task', { name_label: 'sync call' }));
  a.db.deferred(() => a.db.update('VM', vm, { name_label: 'renamed' }));
  assert.equal(a.batches.length, 0);
  await new Promise((r) => setTimeout(r, DEFERRED_FLUSH_MS + 200));
  assert.equal(a.batches.length, 1);
  assert.deepEqual(
    a.batches[0].map((o) => [o.op, o.cls]),
    [
      ['insert', 'task'],
      ['update', 'VM'],
    ],
  );
  a.backend.close();
  const b = open(dir);
  assert.equal(b.db.get('VM', vm)!.name_label, 'renamed');
  assert.ok(b.db.has('task', task));
  b.backend.close();
});

test('a rolled-back durable commit keeps the deferred writes pending; a failed deferred one leaves nothing', (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'one' }));
  a.db.deferred(() => a.db.update('VM', vm, { name_label: 'deferred' }));
  assert.throws(() =>
    a.db.transaction(() => {
      a.db.update('VM', vm, { name_description: 'rolled back' });
      throw new Error('boom');
    }),
  );
  assert.throws(() =>
    a.db.deferred(() => {
      a.db.update('VM', vm, { name_description: 'rolled back too' });
      throw new Error('boom');
    }),
  );
  assert.equal(a.db.get('VM', vm)!.name_description, '');
  // The store refuses one durable batch: that transaction is undone, the deferred write stays.
  const apply = a.backend.apply;
  a.backend.apply = () => {
    a.backend.apply = apply;
    throw new Error('disk full');
  };
  assert.throws(() => a.db.update('VM', vm, { name_description: 'refused' }), /disk full/);
  assert.equal(a.db.get('VM', vm)!.name_description, '');
  assert.equal(a.db.get('VM', vm)!.name_label, 'deferred');
  a.db.flush();
  a.backend.close();
  const b = open(dir);
  assert.equal(b.db.get('VM', vm)!.name_label, 'deferred');
  assert.equal(b.db.get('VM', vm)!.name_description, '');
  b.backend.close();
});

test('after a crash that lost deferred writes, the restart generation passes every token handed out', (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'one' }));
  for (let i = 0; i < 50; i++) a.db.deferred(() => a.db.update('VM', vm, { name_label: `n${i}` }));
  const lastTokenGen = a.db.currentGeneration;
  // "Crash": the process dies without flushing (the backend is just dropped).
  a.backend.close();
  const b = open(dir);
  assert.equal(b.db.get('VM', vm)!.name_label, 'one', 'the deferred writes were lost');
  assert.ok(b.db.currentGeneration > lastTokenGen, 'no generation is handed out twice');
  // A client holding the old token still sees the object (as mod, the restart rule).
  const events = collectEvents(b.db, parseSubscription(['vm']), lastTokenGen, (_c, r) => r);
  assert.ok(events.some((e) => e.ref === vm));
  b.backend.close();
});
