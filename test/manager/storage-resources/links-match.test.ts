// The pure parts of the resource ↔ Berth object links: which roots are a host's, what an SR sits
// on from its type and device_config, the mount holding a path, and the alert body's affects lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vgName } from '../../../src/agent/storage/lvm-sr.js';
import {
  hostPluginRoot,
  hostUuidOfRoot,
  rootsOfHost,
} from '../../../src/manager/storage-resources/links/host-roots.js';
import {
  mountIndex,
  mountsHolding,
  normalisePath,
  pathAndParents,
  srStorage,
  srVgName,
} from '../../../src/manager/storage-resources/links/sr-storage.js';
import {
  affectsLines,
  alertMessage,
} from '../../../src/manager/storage-resources/runtime/alert-to-message.js';

const H1 = '11111111-1111-4111-8111-111111111111';
const H2 = '22222222-2222-4222-8222-222222222222';

test("a host's roots: its device plugins' roots and its bare uuid, no other host's", () => {
  assert.equal(hostPluginRoot(H1, 'linux'), `host/${H1}/linux`);
  assert.equal(hostUuidOfRoot(`host/${H1}/linux`), H1);
  for (const r of ['host/', `host/${H1}`, `host/${H1}/`, 'host//linux', H1, 'ctrl-1'])
    assert.equal(hostUuidOfRoot(r), undefined, r);
  const roots = [`host/${H1}/linux`, `host/${H2}/linux`, H1, `host/${H1}/smart`, 'ctrl-1', `x/host/${H1}/a`];
  assert.deepEqual(rootsOfHost(roots, H1), [`host/${H1}/linux`, H1, `host/${H1}/smart`]);
  assert.deepEqual(rootsOfHost(roots, ''), []);
});

test('what an SR sits on: its VG (the agent’s name), its directory, or nothing', () => {
  const uuid = '33333333-3333-4333-8333-333333333333';
  assert.equal(srVgName(uuid), vgName(uuid), 'the agent names the VG so');
  assert.deepEqual(srStorage('lvm', uuid, { device: '/dev/sdb' }), {
    kind: 'volume-group',
    vgName: vgName(uuid),
  });
  assert.deepEqual(srStorage('lvmoiscsi', uuid, {}), { kind: 'volume-group', vgName: vgName(uuid) });
  assert.deepEqual(srStorage('file', uuid, { location: '/srv/sr//a/' }), {
    kind: 'directory',
    path: '/srv/sr/a',
  });
  assert.deepEqual(srStorage('file', uuid, { path: '/srv/b' }), { kind: 'directory', path: '/srv/b' });
  assert.deepEqual(srStorage('iso', uuid, { location: '/isos' }), { kind: 'directory', path: '/isos' });
  // nfs is remote; a relative or missing location names no place; unknown types: nothing.
  for (const [type, dc] of [
    ['nfs', { server: 'h', serverpath: '/x' }],
    ['file', { location: 'relative/dir' }],
    ['file', {}],
    ['iso', { path: '/isos' }],
    ['cifs', { location: '/x' }],
  ] as const)
    assert.deepEqual(srStorage(type, uuid, dc), { kind: 'none' }, `${type} ${JSON.stringify(dc)}`);
});

test('the mount holding a path: path-wise, longest mount point, ties all kept', () => {
  assert.equal(normalisePath('/a/b/../c/'), '/a/c');
  const mounts = [
    { id: 1, mountPoint: '/' },
    { id: 2, mountPoint: '/srv' },
    { id: 3, mountPoint: '/srv/a' },
    { id: 4, mountPoint: '/srv/a' },
    { id: 5, mountPoint: '/srv/ab' },
    { id: 6, mountPoint: 'srv' },
  ];
  const index = mountIndex(mounts);
  assert.deepEqual(pathAndParents('/srv/a//sr/'), ['/srv/a/sr', '/srv/a', '/srv', '/']);
  assert.deepEqual(pathAndParents('/'), ['/']);
  assert.deepEqual(pathAndParents('srv/a'), []);
  assert.deepEqual(mountsHolding('srv/a', index), []);
  assert.deepEqual(
    mountsHolding('/srv/a/sr', index).map((m) => m.id),
    [3, 4],
  );
  assert.deepEqual(
    mountsHolding('/srv/abc', index).map((m) => m.id),
    [2],
  );
  assert.deepEqual(
    mountsHolding('/etc', index).map((m) => m.id),
    [1],
  );
  assert.deepEqual(
    mountsHolding('/srv/a', mountIndex([{ id: 7, mountPoint: '/srv/a/' }])).map((m) => m.id),
    [7],
  );
  assert.deepEqual(mountsHolding('/etc', mountIndex(mounts.slice(1))), []);
});

test('affects lines: sorted, one line each, capped with the count of the rest', () => {
  const vms = Array.from({ length: 53 }, (_, i) => ({
    name: `vm ${String(i).padStart(2, '0')}`,
    uuid: `u${i}`,
  }));
  const lines = affectsLines('vm', [...vms].reverse());
  assert.equal(lines.length, 51);
  assert.equal(lines[0], 'affects_vm: vm 00 (u0)');
  assert.equal(lines[49], 'affects_vm: vm 49 (u49)');
  assert.equal(lines[50], 'affects_vm: … and 3 more');
  assert.deepEqual(affectsLines('sr', [{ name: 'two\nlines\r', uuid: 's' }]), ['affects_sr: two lines (s)']);
  assert.deepEqual(affectsLines('vdi', []), []);

  const body = alertMessage(
    {
      kind: 'raised',
      alertId: 1,
      alertType: 'condition',
      alertClass: '_None_status_40',
      severity: 40,
      message: 'Drive failed (Drive d1)',
      alertMessage: 'Drive failed (Drive d1)',
      resourceId: 7,
      root: 'ctrl',
      propagatedTo: [8],
      at: 0,
    },
    {
      srs: [
        { name: 'b', uuid: '2' },
        { name: 'a', uuid: '1' },
      ],
      vdis: [],
      vms: [{ name: 'web', uuid: '9' }],
    },
  ).body;
  assert.deepEqual(body.split('\n').slice(-3), [
    'affects_sr: a (1)',
    'affects_sr: b (2)',
    'affects_vm: web (9)',
  ]);
});
