// The store keeps a plugin's own label (ReportedResource.label, sessionUpdateResource's label):
// on creation, when reported again, when updated; alert texts use it; bad labels are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CTRL_CLASSES, controllerReport, Drive, idOf, Lun, openStore, res } from './fixtures.js';

const lun = (handle: number, lun_id: string, label?: string) => ({
  ...res(handle, Lun, { lun_id, serial: `ser-${lun_id}` }, [1]),
  ...(label === undefined ? {} : { label }),
});

test('a reported label is stored; without one the default label; a re-open updates it', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen(
    'ctrl-a',
    CTRL_CLASSES,
    [...controllerReport('10.0.0.1', ['S1']), lun(10, '7', 'lun-seven'), lun(11, '8')],
    5,
  );
  assert.equal(q.resource(idOf(store, Lun, '7'))!.label, 'lun-seven');
  assert.equal(q.resource(idOf(store, Lun, '8'))!.label, 'Lun 8');
  assert.equal(q.resource(idOf(store, Drive, 'S1'))!.label, 'Drive S1');

  // A manager restart: the plugin reports the same records, LUN 7 renamed, LUN 8 now labelled.
  await store.sessionOpen(
    'ctrl-a',
    CTRL_CLASSES,
    [...controllerReport('10.0.0.1', ['S1']), lun(10, '7', 'lun-renamed'), lun(11, '8', 'eight')],
    5,
  );
  assert.equal(q.resource(idOf(store, Lun, '7'))!.label, 'lun-renamed');
  assert.equal(q.resource(idOf(store, Lun, '8'))!.label, 'eight');
  // A class that no longer overrides its label: back to the default.
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, [...controllerReport('10.0.0.1', ['S1']), lun(11, '8')], 5);
  assert.equal(q.resource(idOf(store, Lun, '8'))!.label, 'Lun 8');
});

test('sessionAddResources and sessionUpdateResource carry labels; an update without one keeps it', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('10.0.0.1', ['S1']), 5);
  await store.sessionAddResources('ctrl-a', [lun(20, '7', 'lun-seven')]);
  const id = idOf(store, Lun, '7');
  assert.equal(q.resource(id)!.label, 'lun-seven');
  await store.sessionUpdateResource('ctrl-a', 20, { serial: 'SER-X' }, undefined, 'lun-x');
  assert.equal(q.resource(id)!.label, 'lun-x');
  assert.equal(q.resource(id)!.attributes.serial, 'SER-X');
  await store.sessionUpdateResource('ctrl-a', 20, { serial: 'SER-Y' });
  assert.equal(q.resource(id)!.label, 'lun-x');
  await store.sessionUpdateResource('ctrl-a', 20, {}, undefined, 'only-the-label');
  assert.equal(q.resource(id)!.label, 'only-the-label');
});

test('alert texts name the resource by its label', async (t) => {
  const { store, events } = openStore(t);
  const report = controllerReport('10.0.0.1', ['S1']);
  report[2] = { ...report[2], label: 'front-left drive' };
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, report, 5);
  await store.sessionNotifyAlert('ctrl-a', 3, {
    alertClass: '_None_status_40',
    attribute: 'status',
    active: true,
    severity: 40,
  });
  assert.equal(events.at(-1)!.message, 'Drive failed (Drive front-left drive)');
});

test('an empty, too long or non-string label is refused and changes nothing', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl-a', CTRL_CLASSES, controllerReport('10.0.0.1', ['S1']), 5);
  for (const bad of ['', 'x'.repeat(256), 42 as unknown as string]) {
    await assert.rejects(
      store.sessionAddResources('ctrl-a', [lun(30, '9', bad)]),
      /resource 30: label must be a string of 1 to 255 characters/,
    );
    await assert.rejects(
      store.sessionUpdateResource('ctrl-a', 3, { status: 'FAILED' }, undefined, bad),
      /resource 3: label must be a string of 1 to 255 characters/,
    );
  }
  assert.equal(q.resourcesOfClass('ctrl.Lun').length, 0);
  const drive = q.resource(idOf(store, Drive, 'S1'))!;
  assert.equal(drive.label, 'Drive S1');
  assert.equal(drive.attributes.status, 'OK');
});

test("end to end: the example plugin's own labels reach the store, and follow a rename", async (t) => {
  const { join } = await import('node:path');
  const { PluginLoader } = await import('../../../src/shared/storage-resources/loader.js');
  const example = await import('../../../examples/storage-plugins/example-controller.js');
  const loader = new PluginLoader();
  const loaded = await loader.load(
    join(import.meta.dirname, '../../../examples/storage-plugins/example-controller.ts'),
  );
  const state: import('../../../examples/storage-plugins/example-controller.js').ArrayState = {
    controllers: [{ index: 0, status: 'OK' }],
    shelves: [{ shelf: 0, fans: [3000] }],
    drives: [{ serial: 'SN-1', shelf: 0, bytes: 4e12, status: 'OK', celsius: 30 }],
    pools: [{ id: 1, raid: 'raid1', drives: ['SN-1'] }],
    luns: [{ id: 7, name: 'lun-seven', serial: 'LUNSERIAL7', pool: 1, bytes: 2e12 }],
  };
  example.arrays.set('10.9.9.1', state);
  t.after(() => example.arrays.delete('10.9.9.1'));
  const { store, q } = openStore(t);
  const plugin = new loaded.pluginClass({
    sink: store,
    root: 'couplet-l',
    rootResource: new example.Couplet({ address_1: '10.9.9.1', address_2: '10.9.9.2' }),
    classes: loader.describeClasses(),
    pluginName: loaded.name,
  });
  await plugin.doInitialScan();
  const labels = () =>
    q
      .resourcesOfRoot('couplet-l')
      .map((r) => `${r.class.slice('example-controller.'.length)}: ${r.label}`)
      .sort();
  const enclosure = q.resourcesOfClass('example-controller.Enclosure')[0].id;
  assert.deepEqual(labels(), [
    'Controller: Controller 0',
    "Couplet: Couplet ('10.9.9.1', '10.9.9.2')",
    'Enclosure: Enclosure 0',
    `Fan: Fan (${enclosure}, 0)`,
    'HardDrive: HardDrive SN-1',
    'Lun: lun-seven',
    'RaidPool: 1',
  ]);
  state.luns[0].name = 'lun-renamed';
  await plugin.doPeriodicUpdate();
  assert.ok(labels().includes('Lun: lun-renamed'));
  await plugin.doTeardown();
});
