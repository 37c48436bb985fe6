// The deletion cascade (reference §6 _delete_resource): a deleted root takes its scoped records
// and the globals only it reported; referrers go first, recursively; edges, relation keys,
// attributes go; alerts are lowered and kept as history; propagation rows go.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CTRL_CLASSES,
  Controller,
  controllerReport,
  Drive,
  Enclosure,
  idOf,
  Lun,
  openStore,
  res,
} from './fixtures.js';

test('deleting a root takes its scoped records, its orphaned globals and their referrers', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen(
    'a',
    CTRL_CLASSES,
    [
      ...controllerReport('ca', ['A1', 'SHARED']),
      res(10, Lun, { lun_id: 'L1', serial: 's1', drive: { handle: 3 } }, [3]),
    ],
    5,
  );
  await store.sessionOpen('b', CTRL_CLASSES, controllerReport('cb', ['SHARED']), 5);
  const shared = idOf(store, Drive, 'SHARED');
  const ctrlB = idOf(store, Controller, 'cb');
  const deleted = await store.removeRoot('a');
  assert.equal(deleted.length, 4, 'controller, enclosure, A1, LUN; SHARED stays');
  assert.deepEqual(q.resourcesOfRoot('a'), []);
  assert.equal(q.rootRecord('a'), undefined);
  assert.deepEqual(q.resource(shared)!.reportedBy, ['b']);
  assert.ok(q.resource(ctrlB));
  assert.deepEqual(store.openSessions(), ['b'], "a's session ended with it");
  assert.equal(q.resourcesOfClass('ctrl.Enclosure').length, 1);
});

test('a referenced record takes its referrers (recursively), with edges and attributes', async (t) => {
  const { store, q, path } = openStore(t);
  await store.sessionOpen(
    'a',
    CTRL_CLASSES,
    [
      ...controllerReport('ca', ['D1', 'D2']),
      res(10, Lun, { lun_id: 'L1', serial: 's1', drive: { handle: 3 } }),
    ],
    5,
  );
  const enc = idOf(store, Enclosure, 'enc-ca');
  const d2 = idOf(store, Drive, 'D2');
  const deleted = await store.removeResource(enc);
  // Drives reference the enclosure; the LUN references drive D1.
  assert.equal(deleted.length, 4);
  assert.equal(q.resource(d2), undefined);
  assert.equal(q.resourcesOfClass('ctrl.Lun').length, 0);
  assert.deepEqual(q.children(idOf(store, Controller, 'ca')), []);
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  for (const table of [
    '_resource_attribute',
    '_resource_parent',
    '_resource_reported_by',
    '_resource_relation_key',
  ]) {
    const n = (
      db
        .prepare(
          `SELECT COUNT(*) AS n FROM ${table} WHERE ${table === '_resource_parent' ? 'child_id' : 'record_id'} IN (${deleted.join(',')})`,
        )
        .get() as { n: number }
    ).n;
    assert.equal(n, 0, `${table} rows of deleted records gone`);
  }
  // Handles of deleted records are forgotten by the session.
  await assert.rejects(store.sessionUpdateResource('a', 4, { status: 'x' }), /unknown handle 4/);
});

test('deleting a record lowers its alerts (kept as history) and removes propagations', async (t) => {
  const { store, q, events } = openStore(t);
  await store.sessionOpen(
    'a',
    CTRL_CLASSES,
    [...controllerReport('ca', ['D1']), res(10, Lun, { lun_id: 'L1', serial: 's1' }, [3])],
    5,
  );
  const d1 = idOf(store, Drive, 'D1');
  const lun = q.resourcesOfClass('ctrl.Lun')[0].id;
  await store.sessionNotifyAlert('a', 3, {
    alertClass: '_None_status_40',
    attribute: 'status',
    active: true,
    severity: 40,
  });
  assert.equal(q.activeAlerts(lun).length, 1);
  await store.sessionRemoveGlobalResources('a', [3]);
  assert.equal(q.resource(d1), undefined);
  const history = q.alerts({ root: 'a' });
  assert.equal(history.length, 1);
  assert.equal(history[0].active, false);
  assert.equal(history[0].resourceId, d1, 'history keeps the record id');
  assert.deepEqual(q.propagatedTo(history[0].id), []);
  assert.deepEqual(q.activeAlerts(lun), []);
  assert.deepEqual(
    events.map((e) => [e.kind, e.message]),
    [
      ['raised', 'Drive failed (Drive Drive D1)'],
      ['lowered', 'Cleared storage alert: Drive failed (Drive Drive D1)'],
    ],
  );
});
