// The links across a pool's hosts, on a real resource store and a small table of XenAPI rows: a
// shared SR sits on what each PBD's host reports; a VG reported by another host only, an nfs SR and
// a host with no roots give nothing; a VG two hosts report is one record.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { berthObjectLinks, type BerthObjectsDb } from '../../../src/manager/storage-resources/links/links.js';
import { PluginLoader } from '../../../src/shared/storage-resources/loader.js';
import type { ReportedResource } from '../../../src/shared/storage-resources/session.js';
import { openStore } from './fixtures.js';

type Row = Record<string, unknown>;

/** XenAPI rows by class and ref, with the backlinks the manager's database keeps. */
function objects(rows: Record<string, Record<string, Row>>): BerthObjectsDb {
  const tables = new Map(Object.entries(rows).map(([cls, t]) => [cls, new Map(Object.entries(t))]));
  return {
    get: (cls, ref) => tables.get(cls)?.get(ref),
    all: (cls) => tables.get(cls) ?? new Map(),
  };
}

/** Three hosts' uuids. */
const H = [1, 2, 3].map((n) => `${String(n).repeat(8)}-0000-4000-8000-000000000000`);

/** One host's linux report: mounts and VGs. */
function hostReport(
  hostId: number,
  mounts: string[],
  vgs: { uuid: string; name: string }[],
): ReportedResource[] {
  let h = 1;
  return [
    {
      handle: h++,
      class: 'linux.PluginAgentResources',
      attributes: { host_id: hostId, plugin_name: 'linux' },
      parents: [],
    },
    ...mounts.map((mount_point) => ({
      handle: h++,
      class: 'linux.LocalMount',
      attributes: { fstype: 'ext4', mount_point },
      parents: [1],
    })),
    ...vgs.map((vg) => ({
      handle: h++,
      class: 'linux.LvmGroup',
      attributes: { ...vg, size: 1 << 30 },
      parents: [1],
    })),
  ];
}

test('a pool: shared SRs per PBD host, VGs by name on the right host, nothing for nfs or unreported hosts', async (t) => {
  const { store, q } = openStore(t);
  const classes = new PluginLoader().resolveClasses().infos;
  const lvmUuid = 'aaaaaaaa-0000-4000-8000-000000000001';
  const otherLvmUuid = 'aaaaaaaa-0000-4000-8000-000000000002';
  const vgShared = { uuid: 'vg-shared', name: `VG_XenStorage-${lvmUuid}` };
  const vgOther = { uuid: 'vg-other', name: `VG_XenStorage-${otherLvmUuid}` };
  await store.sessionOpen(`host/${H[0]}/linux`, classes, hostReport(1, ['/', '/srv'], [vgShared]), 5);
  await store.sessionOpen(
    `host/${H[1]}/linux`,
    classes,
    hostReport(2, ['/', '/mnt/x'], [vgShared, vgOther]),
    5,
  );
  // Another host's plugin, and a controller: neither is h1's or h2's.
  await store.sessionOpen('ctrl-1', classes, hostReport(9, ['/srv'], []), 5);
  const mount = (host: number, mp: string) =>
    q
      .recordsOfRootWithAttribute(`host/${H[host]}/linux`, 'linux.LocalMount', 'mount_point')
      .find((r) => r.value === mp)!.id;
  const vgRecord = q
    .resourcesOfClass('linux.LvmGroup')
    .find((r) => q.resource(r.id)!.storageId === '["vg-shared"]')!.id;
  assert.deepEqual(q.resource(vgRecord)!.reportedBy, [`host/${H[0]}/linux`, `host/${H[1]}/linux`]);

  const pbd = (host: number, sr: string, dc: Record<string, string>) => ({
    host: `host-${host}`,
    SR: sr,
    device_config: dc,
  });
  const db = objects({
    host: Object.fromEntries(H.map((uuid, i) => [`host-${i}`, { uuid }])),
    SR: {
      shared: {
        uuid: 'sr-shared',
        name_label: 'shared',
        type: 'file',
        PBDs: ['p1', 'p2', 'p3'],
        VDIs: ['v1', 'v2'],
      },
      lvm: { uuid: lvmUuid, name_label: 'lvm', type: 'lvm', PBDs: ['p4'], VDIs: [] },
      lvmOther: { uuid: otherLvmUuid, name_label: 'lvm2', type: 'lvm', PBDs: ['p5'], VDIs: [] },
      nfs: { uuid: 'sr-nfs', name_label: 'nfs', type: 'nfs', PBDs: ['p6'], VDIs: ['v3'] },
    },
    PBD: {
      p1: pbd(0, 'shared', { location: '/srv/sr' }),
      p2: pbd(1, 'shared', { path: '/mnt/x/y/sr' }),
      p3: pbd(2, 'shared', { location: '/srv/sr' }),
      p4: pbd(0, 'lvm', { device: '/dev/sdb' }),
      // Reported by h2 only, the SR's PBD is on h1: not this host's VG.
      p5: pbd(0, 'lvmOther', { device: '/dev/sdc' }),
      p6: pbd(0, 'nfs', { server: 'filer', serverpath: '/export' }),
    },
    VDI: {
      v1: { uuid: 'b-vdi', SR: 'shared', VBDs: ['b1', 'b2'] },
      v2: { uuid: 'a-vdi', SR: 'shared', VBDs: ['b3'] },
      v3: { uuid: 'c-vdi', SR: 'nfs', VBDs: ['b4'] },
    },
    VBD: {
      b1: { uuid: 'vbd-2', VM: 'vm1', VDI: 'v1', empty: false },
      b2: { uuid: 'vbd-1', VM: 'vm2', VDI: 'v1', empty: false },
      b3: { uuid: 'vbd-3', VM: 'vm1', VDI: 'v2', empty: false },
      b4: { uuid: 'vbd-4', VM: 'vm1', VDI: 'v3', empty: false },
      cd: { uuid: 'vbd-0', VM: 'vm1', VDI: 'OpaqueRef:NULL', empty: true },
    },
    VM: {
      vm1: { uuid: 'vm-1', name_label: 'one', VBDs: ['b1', 'b3', 'b4', 'cd'] },
      vm2: { uuid: 'vm-2', name_label: 'two', VBDs: ['b2'] },
    },
  });
  const links = berthObjectLinks(q, db);

  assert.deepEqual(
    links.srResources('shared'),
    [mount(0, '/srv'), mount(1, '/mnt/x')].sort((a, b) => a - b),
  );
  assert.deepEqual(links.srResources('lvm'), [vgRecord], 'one record for the VG both hosts report');
  assert.deepEqual(links.srResources('lvmOther'), []);
  assert.deepEqual(links.srResources('nfs'), []);
  assert.deepEqual(links.srResources('no-such-sr'), []);
  assert.deepEqual(links.resourceSrs(mount(1, '/mnt/x')), ['shared']);
  assert.deepEqual(links.resourceSrs(mount(0, '/')), [], 'a longer mount holds the SR');
  assert.deepEqual(links.resourceSrs(vgRecord), ['lvm']);

  // Everything h1 reports: its root, then the SRs on its records, their VDIs (by uuid), VBDs, VMs.
  const root1 = q.rootRecord(`host/${H[0]}/linux`)!;
  const a = links.affectedBy(root1);
  assert.deepEqual(a.resources, [root1, ...q.descendants(root1)]);
  assert.deepEqual(new Set(a.srs), new Set(['shared', 'lvm']));
  assert.deepEqual(a.vdis, ['v2', 'v1']);
  assert.deepEqual(a.vbds, ['b3', 'b2', 'b1']);
  assert.deepEqual(a.vms, ['vm1', 'vm2']);
  assert.deepEqual(links.affectedBy(mount(1, '/')).srs, []);

  const d = links.dependenciesOfVm('vm1');
  assert.deepEqual(d.vbds, ['b1', 'b3', 'b4'], 'the empty CD left out');
  assert.deepEqual(d.vdis, ['v1', 'v2', 'v3']);
  assert.deepEqual(d.srs, ['shared', 'nfs']);
  const root2 = q.rootRecord(`host/${H[1]}/linux`)!;
  assert.deepEqual(new Set(d.resources), new Set([mount(0, '/srv'), root1, mount(1, '/mnt/x'), root2]));
});
