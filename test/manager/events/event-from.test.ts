import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { EventService } from '../../../src/manager/events/event-service.js';
import { formatToken, parseToken } from '../../../src/manager/events/event-from.js';
import { tempDir } from '../../helpers/tmp.js';

function setup(t: import('node:test').TestContext) {
  const backend = new SqliteBackend(join(tempDir(t), 'berth.db'), MODEL);
  const db = new Database(MODEL, backend);
  const events = new EventService(db, (_c, row) => row);
  t.after(() => {
    events.stop();
    backend.close();
  });
  return { db, events };
}

test('tokens: empty means everything; malformed tokens fail as xapi does', () => {
  assert.equal(parseToken(''), 0);
  assert.equal(parseToken(formatToken(42)), 42);
  assert.equal(formatToken(7, 3), '00000000000000000007,00000000000000000003');
  assert.throws(
    () => parseToken('garbage'),
    (e: any) => e.code === 'EVENT_FROM_TOKEN_PARSE_FAILURE' && e.params[0] === 'garbage',
  );
});

test('empty token returns every object as add; later changes are coalesced per object', async (t) => {
  const { db, events } = setup(t);
  const a = db.create('VM', baseVmRecord({ name_label: 'a' }));
  const first = await events.from('s', ['vm'], '', 0);
  assert.deepEqual(
    first.events.map((e) => [e.operation, e.ref]),
    [['add', a]],
  );
  assert.equal(first.valid_ref_counts.vm, 1);
  assert.equal(first.valid_ref_counts.task, 0);

  db.update('VM', a, { name_label: 'a1' });
  db.update('VM', a, { name_label: 'a2' });
  const b = db.create('VM', baseVmRecord({ name_label: 'b' }));
  db.update('VM', b, { name_label: 'b1' });
  const gone = db.create('VM', baseVmRecord({ name_label: 'temp' }));
  db.destroy('VM', gone);
  const second = await events.from('s', ['VM'], first.token, 0);
  const summary = second.events.map((e) => [e.operation, e.ref, e.snapshot?.name_label]);
  assert.deepEqual(summary, [
    ['add', b, 'b1'],
    ['mod', a, 'a2'],
  ]);
  db.destroy('VM', a);
  const third = await events.from('s', ['*'], second.token, 0);
  assert.deepEqual(
    third.events.map((e) => [e.operation, e.class, e.ref, 'snapshot' in e]),
    [['del', 'vm', a, false]],
  );
});

test('event.from blocks until a matching change and honours per-object subscriptions', async (t) => {
  const { db, events } = setup(t);
  const a = db.create('VM', baseVmRecord());
  const b = db.create('VM', baseVmRecord());
  const { token } = await events.from('s', ['vm'], '', 0);
  const started = Date.now();
  const pending = events.from('s', [`VM/${b}`], token, 10);
  setTimeout(() => db.update('VM', a, { name_label: 'ignored' }), 20);
  setTimeout(() => db.update('VM', b, { name_label: 'seen' }), 60);
  const batch = await pending;
  assert.deepEqual(
    batch.events.map((e) => e.ref),
    [b],
  );
  assert.ok(Date.now() - started < 5000);
});

test('event.from times out with an empty batch and a fresh token', async (t) => {
  const { events } = setup(t);
  const r = await events.from('s', ['vm'], formatToken(1_000_000), 0.05);
  assert.deepEqual(r.events, []);
  assert.match(r.token, /^\d{20},\d{20}$/);
});

test('a logout wakes a blocked event.from with SESSION_INVALID', async (t) => {
  const { events } = setup(t);
  const p = events.from('sess', ['vm'], formatToken(1_000_000), 30);
  setTimeout(() => events.sessionEnded('sess'), 10);
  await assert.rejects(p, (e: any) => e.code === 'SESSION_INVALID' && e.params[0] === 'sess');
});

test('inject bumps an object and returns a token that replays it', async (t) => {
  const { db, events } = setup(t);
  const a = db.create('VM', baseVmRecord());
  const token = events.inject('VM', a);
  const r = await events.from('s', ['vm'], token, 0);
  assert.deepEqual(
    r.events.map((e) => [e.operation, e.ref]),
    [['mod', a]],
  );
  assert.throws(
    () => events.inject('vm', a),
    (e: any) => e.code === 'HANDLE_INVALID',
  );
});

test('legacy register/next delivers changes with snapshots, including deletions', async (t) => {
  const { db, events } = setup(t);
  await assert.rejects(events.next('s'), (e: any) => e.code === 'SESSION_NOT_REGISTERED');
  events.register('s', ['vm']);
  const a = db.create('VM', baseVmRecord({ name_label: 'x' }));
  const added = await events.next('s');
  assert.deepEqual(
    added.map((e) => [e.operation, e.ref, e.snapshot?.name_label]),
    [['add', a, 'x']],
  );
  const pending = events.next('s');
  setTimeout(() => db.destroy('VM', a), 10);
  const deleted = await pending;
  assert.deepEqual(
    deleted.map((e) => [e.operation, e.ref, e.snapshot?.name_label]),
    [['del', a, 'x']],
  );
});

test('commits a blocked event.from does not subscribe to leave it asleep; ordering and coalescing kept', async (t) => {
  const { db, events } = setup(t);
  const vm = db.create('VM', baseVmRecord({ name_label: 'watched' }));
  const net = db.create('network', { name_label: 'n', other_config: {} });
  const { token } = await events.from('s', ['vm'], '', 0);
  let scans = 0;
  const changesSince = db.changesSince.bind(db);
  (db as unknown as { changesSince: typeof changesSince }).changesSince = (since) => {
    scans++;
    return changesSince(since);
  };
  const watchers = Array.from({ length: 10 }, () => events.from('s', ['vm'], token, 30));
  await new Promise((r) => setImmediate(r));
  const scansBlocked = scans;
  for (let i = 0; i < 20; i++) db.update('network', net, { name_description: `n${i}` });
  await new Promise((r) => setImmediate(r));
  assert.equal(scans, scansBlocked, 'no watcher woke for network changes');
  // A VM change wakes them all; the batch is computed once, coalesced, in order (add before mod).
  const created = db.create('VM', baseVmRecord({ name_label: 'second' }));
  db.update('VM', vm, { name_label: 'one' });
  db.update('VM', vm, { name_label: 'two' });
  const batches = await Promise.all(watchers);
  for (const b of batches) {
    assert.equal(b, batches[0], 'one shared batch');
    assert.deepEqual(
      b.events.map((e) => [e.operation, e.ref]),
      [
        ['add', created],
        ['mod', vm],
      ],
    );
    assert.equal((b.events[1].snapshot as { name_label: string }).name_label, 'two');
  }
  // A '*' watcher does wake for any class.
  const all = events.from('s', ['*'], batches[0].token, 30);
  db.update('network', net, { name_description: 'last' });
  const b = await all;
  assert.deepEqual(
    b.events.map((e) => [e.class, e.ref]),
    [['network', net]],
  );
});
