// Culling on open (reference §6): ScopedId records of the root not reported are deleted; GlobalId
// records lose the root as reporter and go when no reporter remains; explicit removals likewise.
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

test('a scoped record not reported at the next open is deleted; the same id in another root is not', async (t) => {
  const { store, q } = openStore(t);
  const withLun = (address: string, luns: string[]) => [
    ...controllerReport(address, []),
    ...luns.map((l, i) => res(10 + i, Lun, { lun_id: l, serial: `ser-${l}` }, [1])),
  ];
  await store.sessionOpen('a', CTRL_CLASSES, withLun('ca', ['L1', 'L2']), 5);
  await store.sessionOpen('b', CTRL_CLASSES, withLun('cb', ['L1']), 5);
  assert.equal(q.resourcesOfClass('ctrl.Lun').length, 3, 'L1 of a and L1 of b are distinct (scoped)');
  await store.sessionOpen('a', CTRL_CLASSES, withLun('ca', ['L2']), 5);
  const luns = q.resourcesOfClass('ctrl.Lun').map((r) => q.resource(r.id)!);
  assert.deepEqual(luns.map((l) => [l.scope, l.storageId]).sort(), [
    ['a', '["L2"]'],
    ['b', '["L1"]'],
  ]);
});

test('a global record reported by two roots survives until neither reports it', async (t) => {
  const { store, q } = openStore(t);
  // Both controllers see the shared drive SHARED (dual-ported), each its own enclosure.
  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['SHARED', 'A1']), 5);
  await store.sessionOpen('b', CTRL_CLASSES, controllerReport('cb', ['SHARED']), 5);
  const shared = idOf(store, Drive, 'SHARED');
  assert.deepEqual(q.resource(shared)!.reportedBy, ['a', 'b']);

  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', []), 5);
  assert.deepEqual(q.resource(shared)!.reportedBy, ['b'], 'a no longer reports it');
  assert.equal(q.resourcesOfClass('ctrl.Drive').length, 1, 'A1 (only a reported it) deleted');

  await store.sessionOpen('b', CTRL_CLASSES, controllerReport('cb', []), 5);
  assert.equal(q.resource(shared), undefined, 'no reporter left: deleted');
  // The roots and their enclosures stay.
  assert.equal(q.resourcesOfClass('ctrl.Controller').length, 2);
  assert.equal(q.resourcesOfClass('ctrl.Enclosure').length, 2);
});

test('sessionRemoveGlobalResources drops this reporter; sessionRemoveLocalResources deletes', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen(
    'a',
    CTRL_CLASSES,
    [...controllerReport('ca', ['SHARED']), res(10, Lun, { lun_id: 'L', serial: 's' })],
    5,
  );
  await store.sessionOpen('b', CTRL_CLASSES, controllerReport('cb', ['SHARED']), 5);
  const shared = idOf(store, Drive, 'SHARED');
  await store.sessionRemoveGlobalResources('a', [3]);
  assert.deepEqual(q.resource(shared)!.reportedBy, ['b']);
  await assert.rejects(store.sessionUpdateResource('a', 3, { status: 'X' }), /unknown handle 3/);
  await store.sessionRemoveGlobalResources('b', [3]);
  assert.equal(q.resource(shared), undefined);
  await store.sessionRemoveLocalResources('a', [10]);
  assert.equal(q.resourcesOfClass('ctrl.Lun').length, 0);
  assert.ok(q.resource(idOf(store, Controller, 'ca')));
  assert.ok(q.resource(idOf(store, Enclosure, 'enc-ca')));
});
