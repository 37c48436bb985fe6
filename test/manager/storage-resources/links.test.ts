// Resources linked to Berth's objects in a real manager: a file SR on a directory of an ext4
// filesystem really mounted from a loop device, an LVM SR on another loop device (SR.create through
// the XenAPI, the real agent), VDIs, VBDs and halted VMs; this machine's real lsblk, vgs/lvs/pvs and
// /proc/self/mountinfo output reported by the built-in sources through a plugin instance into the
// store under the host's device-plugin root. Then: which VMs a disk affects, which disks a VM
// depends on, and an alert on the disk whose XenAPI message names the VM.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { hostPluginRoot } from '../../../src/manager/storage-resources/links/host-roots.js';
import { LOCAL_MOUNT_CLASS, LVM_GROUP_CLASS } from '../../../src/manager/storage-resources/links/links.js';
import { linux, Plugin } from '../../../src/shared/storage-resources/api/index.js';
import {
  type LinuxHostOutputs,
  reportLinuxHost,
} from '../../../src/shared/storage-resources/builtin/linux-host.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';
import { tempDir } from '../../helpers/tmp.js';
import { startStorageManager } from '../storage/harness.js';

const MiB = 1024 * 1024;
const NULL = 'OpaqueRef:NULL';

const api = pathToFileURL(
  join(import.meta.dirname, '../../../src/shared/storage-resources/api/index.js'),
).href;

// A disk shelf whose drives provide their path to the linux plugin's local disks: a failing
// drive is the parent of the host's block device (the example plugin's LUN → ScsiDevice link).
const SHELF_PLUGIN = `import { alertConditions, attributes, defineResource, identifiers, Plugin, relations, resources } from '${api}';
export const version = 1;
export const Shelf = defineResource({
  name: 'Shelf', identifier: identifiers.GlobalId('name'), attributes: { name: attributes.String() },
});
export const Drive = defineResource({
  name: 'Drive', extends: resources.PhysicalDisk, identifier: identifiers.ScopedId('path'),
  attributes: { path: attributes.PosixPath(), status: attributes.Enum(['OK', 'FAILED']) },
  alertConditions: [alertConditions.ValueCondition('status', { errorStates: ['FAILED'], message: 'Drive failed' })],
  relations: [relations.Provide(['linux', 'UnsharedDevice'], ['path'])],
});
export class ShelfPlugin extends Plugin { initialScan() {} }
`;

const quiet = (cmd: string, args: string[]) => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
};
const out = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** A loop device on a fresh sparse file in `dir`, detached when the test ends. */
function loopDevice(t: TestContext, dir: string, name: string): string {
  const img = join(dir, `${name}.img`);
  writeFileSync(img, '');
  execFileSync('truncate', ['-s', '64M', img]);
  const dev = out('losetup', ['-f', '--show', img]).trim();
  t.after(() => quiet('losetup', ['-d', dev]));
  return dev;
}

/** This host's storage as the linux device plugin's sources see it now (real tools). */
function hostOutputs(): LinuxHostOutputs {
  const lvm = (cmd: string, fields: string) =>
    out(cmd, ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', fields]);
  return {
    lsblk: out('lsblk', ['--json', '--bytes', '--output-all']),
    lvm: {
      vgs: lvm('vgs', 'vg_name,vg_uuid,vg_size'),
      lvs: lvm('lvs', 'lv_name,lv_uuid,vg_uuid,lv_size,lv_path'),
      pvs: lvm('pvs', 'pv_name,pv_uuid,vg_uuid,pv_size'),
    },
    mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'),
  };
}

test('a disk → its mount → file SR → VDIs, VBDs, VMs; a VM → its disks; an alert names the VM; LVM SR by VG', {
  timeout: 120_000,
}, async (t) => {
  const dataDir = realpathSync(tempDir(t, 'berth-links-'));
  mkdirSync(join(dataDir, 'storage-plugins'));
  writeFileSync(join(dataDir, 'storage-plugins', 'shelf.mjs'), SHELF_PLUGIN);
  const m = await startStorageManager(t, { dataDir });
  const rt = m.manager.storageResources!;
  const links = rt.links!;
  assert.ok(links, 'the manager gives the runtime its database');
  const q = rt.store.queries;
  const host = m.manager.svc.hostRef();
  const hostUuid = String(m.manager.db.get('host', host)!.uuid);

  // An ext4 filesystem on a loop device, mounted inside the SR roots (<data>/sr), unmounted
  // after the manager closed (hooks run in order) and before the temp dir goes.
  const fsDisk = loopDevice(t, dataDir, 'fs');
  const lvmDisk = loopDevice(t, dataDir, 'lvm');
  execFileSync('mkfs.ext4', ['-q', fsDisk]);
  const mountDir = join(dataDir, 'sr', 'disk');
  mkdirSync(mountDir, { recursive: true });
  execFileSync('mount', [fsDisk, mountDir]);
  t.after(() => quiet('umount', [mountDir]));

  const fileSr = await m.call<string>(
    'SR.create',
    host,
    { location: join(mountDir, 'vms') },
    0,
    'links-sr',
    '',
    'file',
    '',
    false,
    {},
  );
  const lvmSr = await m.call<string>(
    'SR.create',
    host,
    { device: lvmDisk },
    0,
    'links-lvm',
    '',
    'lvm',
    '',
    false,
    {},
  );
  const lvmSrUuid = await m.call<string>('SR.get_uuid', lvmSr);
  t.after(() => {
    quiet('vgremove', ['-y', '-f', `VG_XenStorage-${lvmSrUuid}`]);
    quiet('pvremove', ['-y', '-ff', lvmDisk]);
  });
  const defaultSr = await m.call<string>('pool.get_default_SR', (await m.call<string[]>('pool.get_all'))[0]);

  const vdiA = await m.call<string>('VDI.create', vdiRecord(fileSr, 16 * MiB, { name_label: 'a-disk' }));
  const vdiB = await m.call<string>('VDI.create', vdiRecord(fileSr, 16 * MiB, { name_label: 'b-disk' }));
  const vdiElsewhere = await m.call<string>('VDI.create', vdiRecord(defaultSr, 16 * MiB));
  const vmA = await m.call<string>('VM.create', baseVmRecord({ name_label: 'links-vm-a' }));
  const vmB = await m.call<string>('VM.create', baseVmRecord({ name_label: 'links-vm-b' }));
  const vmOther = await m.call<string>('VM.create', baseVmRecord({ name_label: 'links-vm-other' }));
  const vbdA = await m.call<string>('VBD.create', vbdRecord(vmA, vdiA));
  const cd = await m.call<string>(
    'VBD.create',
    vbdRecord(vmA, NULL, { type: 'CD', empty: true, mode: 'RO', userdevice: '3', bootable: false }),
  );
  const vbdA2 = await m.call<string>(
    'VBD.create',
    vbdRecord(vmA, vdiElsewhere, { userdevice: '1', bootable: false }),
  );
  const vbdB = await m.call<string>('VBD.create', vbdRecord(vmB, vdiB));
  await m.call('VBD.create', vbdRecord(vmOther, await m.call('VDI.create', vdiRecord(defaultSr, MiB))));

  // Nothing reported yet: the SRs sit on nothing.
  assert.deepEqual(links.srResources(fileSr), []);
  assert.deepEqual(links.srResources(lvmSr), []);

  // The host's linux device plugin: the real sources' output, through a plugin instance.
  const root = hostPluginRoot(hostUuid, 'linux');
  class LinuxHost extends Plugin {
    override initialScan() {}
    override agentSessionStart(hostId: number, data: unknown) {
      reportLinuxHost(this, this.rootResource, hostId, data as LinuxHostOutputs);
    }
    get rootResource() {
      return rootResource;
    }
  }
  const rootResource = new linux.PluginAgentResources({ host_id: 1, plugin_name: 'linux' });
  const plugin = new LinuxHost({
    sink: rt.store,
    root,
    rootResource,
    classes: rt.plugins.classes,
    pluginName: 'linux',
  });
  await plugin.doAgentSessionStart(hostOutputs());

  const find = (cls: string, attr: string, value: string) => {
    const hit = q.recordsOfRootWithAttribute(root, cls, attr).filter((r) => r.value === value);
    assert.equal(hit.length, 1, `${cls} ${attr}=${value}`);
    return hit[0].id;
  };
  const fsDrive = find('linux.UnsharedDevice', 'path', fsDisk);
  const fsMount = find(LOCAL_MOUNT_CLASS, 'mount_point', mountDir);
  const slash = find(LOCAL_MOUNT_CLASS, 'mount_point', '/');
  const vg = find(LVM_GROUP_CLASS, 'name', `VG_XenStorage-${lvmSrUuid}`);
  const lvmDrive = find('linux.UnsharedDevice', 'path', lvmDisk);

  // SR → records: the mount holding its directory (the loop's, not `/` above it); the VG.
  assert.deepEqual(links.srResources(fileSr), [fsMount]);
  assert.deepEqual(links.srResources(defaultSr), [slash], 'the default SR under the data dir sits on /');
  assert.deepEqual(links.srResources(lvmSr), [vg]);
  assert.deepEqual(links.resourceSrs(fsMount), [fileSr]);
  assert.deepEqual(links.resourceSrs(vg), [lvmSr]);
  assert.deepEqual(links.resourceSrs(fsDrive), [], 'an SR sits directly on its mount only');
  assert.ok(q.parents(vg).includes(lvmDrive), "the VG's parent is its PV's drive");

  // Disk → everything on it.
  const sorted = (cls: string, refs: string[]) =>
    [...refs].sort((a, b) =>
      String(m.manager.db.get(cls, a)!.uuid) < String(m.manager.db.get(cls, b)!.uuid) ? -1 : 1,
    );
  const affected = links.affectedBy(fsDrive);
  assert.equal(affected.resources[0], fsDrive);
  assert.ok(affected.resources.includes(fsMount));
  assert.deepEqual(affected.resources.slice(1), q.descendants(fsDrive));
  assert.deepEqual(affected.srs, [fileSr]);
  assert.deepEqual(affected.vdis, sorted('VDI', [vdiA, vdiB]));
  assert.deepEqual(new Set(affected.vbds), new Set([vbdA, vbdB]));
  assert.deepEqual(new Set(affected.vms), new Set([vmA, vmB]));
  assert.deepEqual(links.affectedBy(lvmDrive).srs, [lvmSr]);
  assert.deepEqual(links.affectedBy(lvmDrive).vms, [], 'no VDI on the LVM SR');
  assert.deepEqual(links.affectedBy(987654321), { resources: [], srs: [], vdis: [], vbds: [], vms: [] });

  // VM → what its disks depend on: the empty CD left out; both SRs, and their storage downwards.
  const deps = links.dependenciesOfVm(vmA);
  assert.deepEqual(new Set(deps.vbds), new Set([vbdA, vbdA2]));
  assert.ok(!deps.vbds.includes(cd));
  assert.deepEqual(new Set(deps.vdis), new Set([vdiA, vdiElsewhere]));
  assert.deepEqual(new Set(deps.srs), new Set([fileSr, defaultSr]));
  for (const id of [fsMount, fsDrive, slash, q.rootRecord(root)!])
    assert.ok(deps.resources.includes(id), String(id));
  assert.ok(!deps.resources.includes(lvmDrive));
  assert.deepEqual(links.dependenciesOfVm(NULL), { vbds: [], vdis: [], srs: [], resources: [] });

  // A shelf drive provides the loop device's path: it becomes its parent; it fails.
  await rt.store.sessionOpen(
    'shelf-links',
    rt.plugins.classes,
    [
      { handle: 1, class: 'shelf.Shelf', attributes: { name: 'links' }, parents: [] },
      { handle: 2, class: 'shelf.Drive', attributes: { path: fsDisk, status: 'FAILED' }, parents: [1] },
    ],
    5,
  );
  const shelfDrive = q.resourcesOfRoot('shelf-links').find((r) => r.class === 'shelf.Drive')!.id;
  assert.deepEqual(q.parents(fsDrive).includes(shelfDrive), true);
  assert.ok(links.dependenciesOfVm(vmB).resources.includes(shelfDrive), 'the VM depends on the shelf drive');
  await rt.store.sessionNotifyAlert('shelf-links', 2, {
    alertClass: '_None_status_40',
    attribute: 'status',
    severity: 40,
    active: true,
  });
  // A host's device plugin going offline: on the host, naming what sits on its storage.
  await rt.store.sessionOffline(root, 'agent gone');

  const vmUuid = (vm: string) => String(m.manager.db.get('VM', vm)!.uuid);
  const srUuid = String(m.manager.db.get('SR', fileSr)!.uuid);
  const messages = Object.values(await m.call<Record<string, any>>('message.get_all_records'));
  const failed = messages.find(
    (x) => x.name === 'STORAGE_RESOURCE_ALERT' && x.body.startsWith('Drive failed'),
  );
  assert.ok(failed, 'the alert became a message');
  assert.equal(failed.cls, 'Pool', "a controller root is no host's");
  const lines: string[] = failed.body.split('\n');
  assert.ok(lines.includes(`affects_vm: links-vm-a (${vmUuid(vmA)})`), failed.body);
  assert.ok(lines.includes(`affects_vm: links-vm-b (${vmUuid(vmB)})`), failed.body);
  assert.ok(lines.includes(`affects_sr: links-sr (${srUuid})`), failed.body);
  assert.ok(
    lines.some((l) => l.startsWith('affects_vdi: a-disk (')),
    failed.body,
  );
  assert.ok(!failed.body.includes('links-vm-other'), 'a VM on other storage is not named');
  assert.ok(!failed.body.includes('links-lvm'));

  const offline = messages.find(
    (x) => x.name === 'STORAGE_RESOURCE_ALERT' && x.body.includes('reason: agent gone'),
  );
  assert.ok(offline, 'offline message');
  assert.equal(offline.cls, 'Host');
  assert.equal(offline.obj_uuid, hostUuid);
  for (const vm of [vmA, vmB, vmOther]) assert.ok(offline.body.includes(vmUuid(vm)), offline.body);
  assert.ok(offline.body.includes('affects_sr: links-lvm ('));

  // Nothing is copied: a VM created now is affected at once; a VBD destroyed is gone at once.
  const vmLate = await m.call<string>('VM.create', baseVmRecord({ name_label: 'late' }));
  await m.call('VBD.create', vbdRecord(vmLate, vdiB, { mode: 'RO', bootable: false }));
  assert.ok(links.affectedBy(fsDrive).vms.includes(vmLate));
  await m.call('VBD.destroy', vbdB);
  assert.ok(!links.affectedBy(fsDrive).vms.includes(vmB));
  await plugin.doTeardown();
});
