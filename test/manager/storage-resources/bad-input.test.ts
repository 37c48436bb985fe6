// Bad input from a plugin session: the call fails with a clear error and changes nothing — not a
// row on disk, not the session's handles — and the store carries on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attr,
  cls,
  CTRL_CLASSES,
  controllerReport,
  Drive,
  dumpTables,
  Enclosure,
  Lun,
  openStore,
  res,
} from './fixtures.js';

async function setup(t: import('node:test').TestContext) {
  const s = openStore(t);
  await s.store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['D1', 'D2']), 5);
  return s;
}

/** Runs `call`, expects it to reject with `error`, and checks that nothing changed on disk. */
async function refusedWithoutChange(path: string, call: () => Promise<unknown>, error: RegExp) {
  const before = await dumpTables(path);
  await assert.rejects(call(), (e: Error) => e.name === 'ResourceStoreError' && error.test(e.message));
  assert.deepEqual(await dumpTables(path), before, 'nothing changed');
}

test('unknown handles are refused', async (t) => {
  const { store, path } = await setup(t);
  await refusedWithoutChange(
    path,
    () => store.sessionUpdateResource('a', 42, { status: 'x' }),
    /unknown handle 42 in the session of a/,
  );
  await refusedWithoutChange(path, () => store.sessionResourceAddParent('a', 3, 42), /unknown handle 42/);
  await refusedWithoutChange(
    path,
    () =>
      store.sessionNotifyAlert('a', 42, {
        alertClass: '_None_status_40',
        attribute: 'status',
        active: true,
        severity: 40,
      }),
    /unknown handle 42/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionRemoveLocalResources('a', [3, 42]),
    /unknown handle 42/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionAddResources('nope', []),
    /no open session for root nope/,
  );
});

test('references and parents to nothing are refused', async (t) => {
  const { store, path } = await setup(t);
  await refusedWithoutChange(
    path,
    () =>
      store.sessionAddResources('a', [
        res(5, Drive, { serial: 'D3', status: 'OK', enclosure: { handle: 77 } }),
      ]),
    /attribute enclosure references handle 77, which is not in the session/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionAddResources('a', [res(5, Drive, { serial: 'D3', status: 'OK' }, [78])]),
    /parent handle 78 is not in the session/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionUpdateResource('a', 3, { enclosure: { handle: 79 } }),
    /references handle 79/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionUpdateResource('a', 3, { status: { handle: 2 } }),
    /cannot hold a reference/,
  );
});

test('cycles in parent edges and in references are refused', async (t) => {
  const { store, path } = await setup(t);
  // Controller → enclosure → drives: making the controller a child of a drive closes a cycle.
  await refusedWithoutChange(path, () => store.sessionResourceAddParent('a', 1, 3), /would make a cycle/);
  await refusedWithoutChange(
    path,
    () => store.sessionResourceAddParent('a', 3, 3),
    /cannot be its own parent/,
  );
  await refusedWithoutChange(
    path,
    () =>
      store.sessionAddResources('a', [
        res(5, Enclosure, { serial: 'E5' }, [6]),
        res(6, Enclosure, { serial: 'E6' }, [5]),
      ]),
    /would make a cycle/,
  );
  const Link = cls('ctrl', 'Link', 'global', ['name'], {
    name: attr('String'),
    other: attr('ResourceReference', true),
  });
  await refusedWithoutChange(
    path,
    () =>
      store.sessionOpen(
        'a',
        [...CTRL_CLASSES, Link],
        [
          ...controllerReport('ca', []),
          res(5, Link, { name: 'x', other: { handle: 6 } }),
          res(6, Link, { name: 'y', other: { handle: 5 } }),
        ],
        5,
      ),
    /references form a cycle/,
  );
});

test('duplicates in one report are refused: same handle twice, same resource twice', async (t) => {
  const { store, path } = await setup(t);
  await refusedWithoutChange(
    path,
    () =>
      store.sessionAddResources('a', [
        res(5, Enclosure, { serial: 'E' }),
        res(5, Enclosure, { serial: 'F' }),
      ]),
    /duplicate handle 5 in one report/,
  );
  await refusedWithoutChange(
    path,
    () =>
      store.sessionAddResources('a', [
        res(5, Enclosure, { serial: 'E' }),
        res(6, Enclosure, { serial: 'E' }),
      ]),
    /duplicate resource ctrl.Enclosure \["E"\]: handles 5 and 6/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionAddResources('a', [res(5, Drive, { serial: 'D1', status: 'OK' })]),
    /duplicate resource ctrl.Drive \["D1"\]: handles 3 and 5/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionAddResources('a', [res(3, Enclosure, { serial: 'Z' })]),
    /handle 3 is already in the session/,
  );
});

test('unknown classes, attributes and identifiers are refused; a bad open keeps the old session', async (t) => {
  const { store, path, q } = await setup(t);
  await refusedWithoutChange(
    path,
    () =>
      store.sessionOpen(
        'a',
        CTRL_CLASSES,
        [...controllerReport('ca', ['D1']), { handle: 9, class: 'ctrl.Fan', attributes: {}, parents: [] }],
        5,
      ),
    /class ctrl.Fan is not among the session's classes/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionUpdateResource('a', 3, { colour: 'red' }),
    /unknown attribute colour/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionAddResources('a', [res(5, Lun, { serial: 's' })]),
    /Missing ID attribute 'lun_id'/,
  );
  await refusedWithoutChange(
    path,
    () => store.sessionOpen('b', CTRL_CLASSES, [res(1, Lun, { lun_id: 'x', serial: 's' })], 5),
    /Cannot create root resource of class ctrl.Lun, it requires a scope/,
  );
  // The failed opens left the first session as it was: D2 (handle 4) is still there and usable.
  await store.sessionUpdateResource('a', 4, { status: 'OK2' });
  assert.equal(q.resource(q.resourcesOfClass('ctrl.Drive')[1].id)!.attributes.status, 'OK2');
  assert.deepEqual(store.openSessions(), ['a']);
  assert.equal(q.resourcesOfClass('ctrl.Controller').length, 1);
});

test('a refused open does not register its classes either', async (t) => {
  const { store, path } = await setup(t);
  const Fan = cls('ctrl', 'Fan', 'global', ['n'], { n: attr('Integer') });
  await refusedWithoutChange(
    path,
    () => store.sessionOpen('a', [...CTRL_CLASSES, Fan], [res(1, Fan, {})], 5),
    /Missing ID attribute 'n'/,
  );
  // The in-memory registry was rolled back too: a call naming the class is still refused.
  await assert.rejects(
    store.sessionAddResources('a', [res(9, Fan, { n: 1 })]),
    /class ctrl.Fan is not among/,
  );
});
