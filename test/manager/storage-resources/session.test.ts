// Sessions: open persists the report with identities, attributes, references and parents; open
// twice is one session; updates, statistics and explicit parent edits land.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Controller,
  CTRL_CLASSES,
  controllerReport,
  Drive,
  Enclosure,
  idOf,
  openStore,
  res,
} from './fixtures.js';

test('sessionOpen persists resources with identity, label, references as record ids, parents', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('10.0.0.1', ['S1', 'S2']), 5);
  const ctrl = idOf(store, Controller, '10.0.0.1');
  const enc = idOf(store, Enclosure, 'enc-10.0.0.1');
  const d1 = idOf(store, Drive, 'S1');
  assert.equal(q.rootRecord('ctrl-a'), ctrl);
  const drive = q.resource(d1)!;
  assert.equal(drive.label, 'Drive S1');
  assert.equal(drive.scope, null);
  assert.deepEqual(drive.reportedBy, ['ctrl-a']);
  assert.deepEqual(drive.attributes, { enclosure: { record: enc }, serial: 'S1', status: 'OK' });
  assert.deepEqual(q.parents(d1), [enc]);
  assert.deepEqual(q.parents(enc), [ctrl]);
  assert.deepEqual(q.children(ctrl), [enc]);
  assert.deepEqual(
    q.ancestors(d1),
    [ctrl, enc].sort((a, b) => a - b),
  );
  assert.equal(q.descendants(ctrl).length, 3);
  // The root itself is not "reported by" itself (it is the scannable).
  assert.deepEqual(q.resource(ctrl)!.reportedBy, []);
  assert.equal(q.resourcesOfRoot('ctrl-a').length, 4);
});

test('a storage id with several values and a reference: JSON of values, reference as record id', async (t) => {
  const { store, q } = openStore(t);
  const { cls, attr } = await import('./fixtures.js');
  const Slot = cls('ctrl', 'Slot', 'global', ['enclosure', 'number'], {
    enclosure: attr('ResourceReference'),
    number: attr('Integer'),
  });
  await store.sessionOpen(
    'ctrl-a',
    [...CTRL_CLASSES, Slot],
    [
      res(1, Controller, { address: 'c' }),
      res(2, Enclosure, { serial: 'E' }),
      res(3, Slot, { enclosure: { handle: 2 }, number: 7 }),
    ],
    5,
  );
  const enc = idOf(store, Enclosure, 'E');
  const slot = q.resourcesOfClass('ctrl.Slot')[0];
  assert.equal(q.resource(slot.id)!.storageId, `[${enc},7]`);
  assert.equal(slot.label, `Slot (${enc}, 7)`);
});

test('open twice is one session; the second open maps handles afresh; close twice is fine', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('c', ['S1']), 5);
  const d1 = idOf(store, Drive, 'S1');
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('c', ['S1']), 5);
  assert.deepEqual(store.openSessions(), ['ctrl-a']);
  assert.equal(idOf(store, Drive, 'S1'), d1, 'same record, not a new one');
  assert.equal(q.resourcesOfClass('ctrl.Drive').length, 1);
  await store.sessionClose('ctrl-a');
  await store.sessionClose('ctrl-a');
  assert.deepEqual(store.openSessions(), []);
  await assert.rejects(
    store.sessionUpdateResource('ctrl-a', 3, { status: 'X' }),
    /no open session for root ctrl-a/,
  );
});

test('updates, added resources, parent edits and statistics land', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('c', ['S1']), 5);
  const d1 = idOf(store, Drive, 'S1');
  await store.sessionUpdateResource(
    'ctrl-a',
    3,
    { status: 'FAILED', size: 1024 },
    {
      temperature: [
        [10, 31],
        [20, 35],
      ],
    },
  );
  assert.equal(q.resource(d1)!.attributes.status, 'FAILED');
  assert.equal(q.resource(d1)!.attributes.size, 1024);
  assert.deepEqual(q.latestStatistics(d1), { temperature: [20, 35] });
  assert.deepEqual(q.statisticHistory(d1, 'temperature'), [
    [10, 31],
    [20, 35],
  ]);

  await store.sessionAddResources('ctrl-a', [
    res(4, Drive, { serial: 'S2', status: 'OK', enclosure: { handle: 2 } }),
  ]);
  const d2 = idOf(store, Drive, 'S2');
  await store.sessionResourceAddParent('ctrl-a', 4, 3);
  assert.deepEqual(q.parents(d2), [d1]);
  await store.sessionResourceRemoveParent('ctrl-a', 4, 3);
  assert.deepEqual(q.parents(d2), []);
});

test('statistics history is bounded; the latest value is kept', async (t) => {
  const { store, q } = openStore(t);
  const { STATISTIC_HISTORY } = await import('../../../src/manager/storage-resources/statistics.js');
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('c', ['S1']), 5);
  const samples: [number, number][] = Array.from({ length: STATISTIC_HISTORY + 50 }, (_, i) => [i, i * 2]);
  await store.sessionUpdateResource('ctrl-a', 3, {}, { temperature: samples });
  const d1 = idOf(store, Drive, 'S1');
  const kept = q.statisticHistory(d1, 'temperature');
  assert.equal(kept.length, STATISTIC_HISTORY);
  assert.deepEqual(kept[0], [50, 100]);
  assert.deepEqual(q.latestStatistics(d1).temperature, [
    STATISTIC_HISTORY + 49,
    (STATISTIC_HISTORY + 49) * 2,
  ]);
});

test('calls sent together commit together, each its own: one refused call leaves the others', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('c', ['S1', 'S2']), 5);
  const results = await Promise.allSettled([
    store.sessionUpdateResource('ctrl-a', 3, { status: 'A' }),
    store.sessionUpdateResource('ctrl-a', 99, { status: 'B' }),
    store.sessionUpdateResource('ctrl-a', 4, { status: 'C' }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal(q.resource(idOf(store, Drive, 'S1'))!.attributes.status, 'A');
  assert.equal(q.resource(idOf(store, Drive, 'S2'))!.attributes.status, 'C');
});

test('a restarted store reads what was committed; a file of a newer schema is refused', async (t) => {
  const first = openStore(t);
  await first.store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('c', ['S1']), 5);
  first.store.close();
  const { ResourceStore } = await import('../../../src/manager/storage-resources/store.js');
  const again = new ResourceStore({ path: first.path });
  assert.equal(again.queries.resourcesOfClass('ctrl.Drive').length, 1);
  assert.deepEqual(again.openSessions(), [], 'sessions are not persisted: plugins reopen them');
  // Classes were persisted: a session of another root may name them without declaring them.
  await again.sessionOpen('ctrl-b', [], controllerReport('d', ['S2']), 5);
  assert.equal(again.queries.resourcesOfClass('ctrl.Drive').length, 2);
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(first.path);
  db.prepare("UPDATE _resource_meta SET value = '99' WHERE key = 'schema_version'").run();
  db.close();
  again.close();
  assert.throws(
    () => new ResourceStore({ path: first.path }),
    /storage resource schema 99 is newer than this Berth/,
  );
});
