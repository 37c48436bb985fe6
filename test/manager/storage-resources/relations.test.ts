// Provide/Subscribe (reference §8): a new record is linked both ways to its matches by key and
// value tuple; the provider becomes the parent; ignorecase lower-cases strings; self-links are
// skipped; what_provides answers from the same keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AgentRoot,
  attr,
  cls,
  CTRL_CLASSES,
  controllerReport,
  DeviceNode,
  idOf,
  LINUX_CLASSES,
  Lun,
  openStore,
  Presentation,
  res,
  ScsiDevice,
} from './fixtures.js';

const ctrlWithLun = (serial: string) => [
  ...controllerReport('ca', []),
  res(10, Lun, { lun_id: 'L1', serial }, [1]),
];
const hostReport = (serial: string) => [
  res(1, AgentRoot, { host_id: 1, plugin_name: 'linux' }),
  res(2, ScsiDevice, { serial }, [1]),
  res(3, DeviceNode, { path: '/dev/sdb', device: { handle: 2 } }, [2]),
];

test('a subscriber created after its provider gets the provider as parent (ignorecase)', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('ctrl', CTRL_CLASSES, ctrlWithLun('ABC123'), 5);
  await store.sessionOpen('host1', LINUX_CLASSES, hostReport('abc123'), 5);
  const lun = q.resourcesOfClass('ctrl.Lun')[0].id;
  const scsi = idOf(store, ScsiDevice, 'abc123');
  assert.ok(q.parents(scsi).includes(lun), 'LUN is a parent of the SCSI device');
  assert.deepEqual(q.whatProvides(scsi), [lun]);
  // The device node below the SCSI device is a descendant of the LUN.
  assert.ok(q.descendants(lun).includes(idOf(store, DeviceNode, '/dev/sdb')));
});

test('a provider created after its subscriber becomes its parent too (both ways)', async (t) => {
  const { store, q } = openStore(t);
  // The Linux classes (with the subscription) are known first; the LUN arrives later.
  await store.sessionOpen('host1', LINUX_CLASSES, hostReport('XYZ'), 5);
  await store.sessionOpen('ctrl', CTRL_CLASSES, ctrlWithLun('xyz'), 5);
  const lun = q.resourcesOfClass('ctrl.Lun')[0].id;
  assert.deepEqual(q.whatProvides(idOf(store, ScsiDevice, 'XYZ')), [lun]);
  assert.ok(q.parents(idOf(store, ScsiDevice, 'XYZ')).includes(lun));
});

test('a provider stored before any subscriber class was known is found (keys backfilled)', async (t) => {
  const { store, q } = openStore(t);
  const LunOnly = CTRL_CLASSES.filter((c) => c.name !== 'Presentation');
  await store.sessionOpen('ctrl', LunOnly, ctrlWithLun('K9'), 5);
  await store.sessionOpen('host1', LINUX_CLASSES, hostReport('k9'), 5);
  assert.equal(q.whatProvides(idOf(store, ScsiDevice, 'k9')).length, 1);
});

test('without ignorecase, case matters; values of different attributes do not match', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen(
    'ctrl',
    CTRL_CLASSES,
    [
      ...ctrlWithLun('S'),
      res(20, Presentation, { lun_id: 'l1', host: 'h' }, [1]),
      res(21, Presentation, { lun_id: 'L1', host: 'h' }, [1]),
    ],
    5,
  );
  const lun = q.resourcesOfClass('ctrl.Lun')[0].id;
  const [lower, upper] = q.resourcesOfClass('ctrl.Presentation').map((r) => r.id);
  assert.deepEqual(q.whatProvides(lower), []);
  assert.deepEqual(q.whatProvides(upper), [lun]);
  assert.ok(q.parents(upper).includes(lun));
  assert.ok(!q.parents(lower).includes(lun));
});

test('a class subscribing to itself does not link a record to itself', async (t) => {
  const { store, q } = openStore(t);
  const Peer = cls(
    'p',
    'Peer',
    'global',
    ['name'],
    { name: attr('String'), group: attr('String') },
    {
      subscribes: [{ to: { plugin: 'p', name: 'Peer' }, attributes: ['group'], ignorecase: false }],
    },
  );
  const Root = cls('p', 'Root', 'global', ['name'], { name: attr('String') }, { scannable: true });
  await store.sessionOpen(
    'p',
    [Root, Peer],
    [res(1, Root, { name: 'r' }), res(2, Peer, { name: 'x', group: 'g' })],
    5,
  );
  const x = q.resourcesOfClass('p.Peer')[0].id;
  assert.deepEqual(q.parents(x), []);
  assert.deepEqual(q.whatProvides(x), []);
  // A second peer of the group links to the first (the later one is the subscriber: the first
  // becomes its parent), and the first, created earlier, gets the second as parent — a cycle,
  // which relation matching leaves out.
  await store.sessionAddResources('p', [res(3, Peer, { name: 'y', group: 'g' })]);
  const y = q.resourcesOfClass('p.Peer')[1].id;
  assert.deepEqual(q.parents(y), [x]);
  assert.deepEqual(q.parents(x), [], 'the reverse edge would close a cycle: skipped');
});

test('a missing value matches nothing (no None-to-None links)', async (t) => {
  const { store, q } = openStore(t);
  const Disk = cls(
    'd',
    'Disk',
    'global',
    ['path'],
    { path: attr('String'), serial: attr('String', true) },
    {
      subscribes: [{ to: { plugin: 'd', name: 'Disk2' }, attributes: ['serial'], ignorecase: false }],
    },
  );
  const Disk2 = cls('d', 'Disk2', 'global', ['path'], { path: attr('String'), serial: attr('String', true) });
  const Root = cls('d', 'Root', 'global', ['name'], { name: attr('String') }, { scannable: true });
  await store.sessionOpen(
    'd',
    [Root, Disk, Disk2],
    [res(1, Root, { name: 'r' }), res(2, Disk2, { path: '/a' }), res(3, Disk, { path: '/b' })],
    5,
  );
  assert.deepEqual(q.whatProvides(q.resourcesOfClass('d.Disk')[0].id), []);
});
