// ResourceStore.createRoot: a user-added root stored without a session (the scan daemon opens one
// when it finds it), and every refusal leaving the store as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResourceStoreError } from '../../../src/manager/storage-resources/errors.js';
import { CTRL_CLASSES, controllerReport, openStore } from './fixtures.js';
import { attr, cls } from '../../helpers/resource-classes.js';

const ScopedRoot = cls('ctrl', 'ScopedRoot', 'scoped', ['n'], { n: attr('Integer') }, { scannable: true });
const WithRef = cls(
  'ctrl',
  'WithRef',
  'global',
  ['address'],
  { address: attr('Hostname'), other: attr('ResourceReference', true) },
  { scannable: true },
);
const CLASSES = [...CTRL_CLASSES, ScopedRoot, WithRef];

test('createRoot stores the record and the root, opens no session; a session of it finds the same record', async (t) => {
  const { store, q } = openStore(t);
  const id = await store.createRoot('root-1', CLASSES, 'ctrl.Controller', { address: 'ctl.example' });
  assert.equal(q.rootRecord('root-1'), id);
  assert.deepEqual(q.roots(), ['root-1']);
  assert.deepEqual(store.openSessions(), []);
  assert.deepEqual(q.resource(id)?.attributes, { address: 'ctl.example' });
  assert.equal(q.parents(id).length, 0, 'a root the scan daemon lists (no parents)');
  // The plugin's first scan reports the root as handle 1: the same record.
  await store.sessionOpen('root-1', CLASSES, controllerReport('ctl.example', ['d1']), 5);
  assert.equal(q.rootRecord('root-1'), id);
  assert.equal(q.resourcesOfRoot('root-1').length, 3);
});

test('createRoot refuses, changing nothing', async (t) => {
  const { store, q } = openStore(t);
  await store.createRoot('root-1', CLASSES, 'ctrl.Controller', { address: 'ctl.example' });
  const before = q.all();
  const refused = async (p: Promise<unknown>, message: RegExp) => {
    await assert.rejects(p, (e: Error) => e instanceof ResourceStoreError && message.test(e.message));
    assert.deepEqual(q.all(), before);
    assert.deepEqual(q.roots(), ['root-1']);
  };
  await refused(
    store.createRoot('root-1', CLASSES, 'ctrl.Controller', { address: 'x.example' }),
    /root root-1 already exists/,
  );
  await refused(
    store.createRoot('root-2', CLASSES, 'ctrl.Controller', { address: 'ctl.example' }),
    /a ctrl\.Controller with identifier \["ctl\.example"\] already exists/,
  );
  await refused(
    store.createRoot('root-2', CLASSES, 'ctrl.Drive', { serial: 's' }),
    /ctrl\.Drive is not a scannable/,
  );
  await refused(store.createRoot('root-2', CLASSES, 'ctrl.Nope', {}), /class ctrl\.Nope is not declared/);
  await refused(store.createRoot('root-2', CLASSES, 'ctrl.ScopedRoot', { n: 1 }), /requires a scope/);
  await refused(
    store.createRoot('root-2', CLASSES, 'ctrl.Controller', { address: 'y.example', colour: 'red' }),
    /unknown attribute colour/,
  );
  await refused(
    store.createRoot('root-2', CLASSES, 'ctrl.WithRef', {
      address: 'z.example',
      other: { handle: 2 } as never,
    }),
    /not in the session/,
  );
  await refused(store.createRoot('root-2', CLASSES, 'ctrl.Controller', {}), /Missing ID attribute 'address'/);
});
