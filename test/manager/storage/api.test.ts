// Storage handlers in a real manager, called in-process: SRs, PBDs, VDIs and VBDs on real qcow2
// files in the manager's data directory.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage } from '../../../src/agent/storage/qemu-img.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { ensureDefaultSr } from '../../../src/manager/storage/default-sr.js';
import { setVbdsAttached, vmDisks } from '../../../src/manager/storage/vm-disks.js';
import { code, startStorageManager } from './harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const NULL = 'OpaqueRef:NULL';

const vdiRec = vdiRecord;
const vbdRec = (vm: string, vdi: string, o: Record<string, unknown> = {}) =>
  vbdRecord(vm, vdi, { userdevice: 'autodetect', bootable: false, ...o });

test('default SR, SM objects, VDI create/clone/snapshot/copy/resize/destroy with true SR sizes', async (t) => {
  const m = await startStorageManager(t);
  const { db } = m.manager;
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const srRec = await m.call<any>('SR.get_record', sr);
  assert.equal(srRec.type, 'file');
  assert.ok(srRec.physical_size > 0);
  assert.equal(await ensureDefaultSr(m.manager.svc, join(m.dataDir, 'sr', 'default')), sr, 'idempotent');
  assert.equal((await m.call<string[]>('SR.get_all')).length, 1);
  const sms = Object.values(await m.call<Record<string, any>>('SM.get_all_records'))
    .map((s) => s.type)
    .sort();
  assert.deepEqual(sms, ['ext', 'file', 'iso', 'lvm', 'nfs']);
  assert.deepEqual((await m.call<string[]>('SR.get_supported_types')).sort(), [
    'ext',
    'file',
    'iso',
    'lvm',
    'nfs',
  ]);

  const vdi = await m.call<string>('VDI.create', vdiRec(sr, GiB));
  const v = await m.call<any>('VDI.get_record', vdi);
  assert.equal(v.virtual_size, GiB);
  assert.equal(v.location, v.uuid);
  assert.ok(existsSync(join(m.dataDir, 'sr', 'default', `${v.uuid}.qcow2`)));
  assert.equal(await m.call('SR.get_virtual_allocation', sr), GiB);

  const clone = await m.call<string>('VDI.clone', vdi, {});
  const snap = await m.call<string>('VDI.snapshot', vdi, {});
  const s = await m.call<any>('VDI.get_record', snap);
  assert.equal(s.is_a_snapshot, true);
  assert.equal(s.snapshot_of, vdi);
  assert.deepEqual(await m.call('VDI.get_snapshots', vdi), [snap]);
  assert.equal((await m.call<any>('VDI.get_record', clone)).is_a_snapshot, false);
  const copy = await m.call<string>('VDI.copy', vdi, NULL, NULL, NULL);
  await m.call('VDI.resize', copy, 2 * GiB);
  assert.equal(await m.call('VDI.get_virtual_size', copy), 2 * GiB);
  await assert.rejects(m.call('VDI.resize', copy, GiB), code('VDI_TOO_SMALL', [copy, String(GiB)]));
  assert.equal(await m.call('SR.get_virtual_allocation', sr), 5 * GiB);

  // In use: a VBD plugged into a (pretend-)running VM blocks destroy.
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'vm1' }));
  const vbd = await m.call<string>('VBD.create', vbdRec(vm, vdi));
  assert.equal(await m.call('VBD.get_userdevice', vbd), '0');
  setVbdsAttached(db, vm, true);
  await assert.rejects(m.call('VDI.destroy', vdi), code('VDI_IN_USE', [vdi, 'destroy']));
  await assert.rejects(m.call('VBD.destroy', vbd), code('OPERATION_NOT_ALLOWED'));
  setVbdsAttached(db, vm, false);
  await m.call('VDI.destroy', vdi);
  assert.equal(db.has('VBD', vbd), false, 'its VBDs go with it');
  for (const x of [clone, snap, copy]) await m.call('VDI.destroy', x);
  assert.equal(await m.call('SR.get_virtual_allocation', sr), 0);
  const { scheduleGc } = await import('../../../src/manager/storage/vdi-ops.js');
  await scheduleGc(m.manager.svc, sr);
  const { readdirSync } = await import('node:fs');
  assert.deepEqual(
    readdirSync(join(m.dataDir, 'sr', 'default')).filter((n) => n.endsWith('.qcow2')),
    [],
    'no file left behind',
  );
});

test('VBD rules: autodetect, CDs read-only, only CDs empty, RO VDIs, device names; vmDisks', async (t) => {
  const m = await startStorageManager(t);
  const { db } = m.manager;
  const sr = await m.call<string>('pool.get_default_SR', (await m.call<string[]>('pool.get_all'))[0]);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'vm' }));
  const d0 = await m.call<string>('VDI.create', vdiRec(sr, 64 * MiB));
  const ro = await m.call<string>('VDI.create', vdiRec(sr, 64 * MiB, { read_only: true }));
  await m.call('VBD.create', vbdRec(vm, d0, { bootable: true }));
  await assert.rejects(m.call('VBD.create', vbdRec(vm, ro)), code('VDI_READONLY', [ro]));
  const b1 = await m.call<string>('VBD.create', vbdRec(vm, ro, { mode: 'RO' }));
  assert.equal(await m.call('VBD.get_userdevice', b1), '1');
  await assert.rejects(
    m.call('VBD.create', vbdRec(vm, NULL, { type: 'CD', empty: true })),
    code('VBD_CDS_MUST_BE_READONLY', []),
  );
  await assert.rejects(
    m.call('VBD.create', vbdRec(vm, NULL, { empty: true })),
    code('VBD_NOT_REMOVABLE_MEDIA', ['in constructor']),
  );
  await assert.rejects(
    m.call('VBD.create', vbdRec(vm, d0, { userdevice: '0' })),
    code('DEVICE_ALREADY_EXISTS', ['0']),
  );
  await assert.rejects(
    m.call('VBD.create', vbdRec(vm, d0, { userdevice: 'zz9' })),
    code('INVALID_DEVICE', ['zz9']),
  );
  const cd = await m.call<string>(
    'VBD.create',
    vbdRec(vm, NULL, { type: 'CD', mode: 'RO', empty: true, userdevice: '3' }),
  );
  await assert.rejects(m.call('VBD.eject', cd), code('VBD_IS_EMPTY', [cd]));
  await assert.rejects(m.call('VBD.plug', cd), code('VM_BAD_POWER_STATE', [vm, 'running', 'halted']));

  // An ISO library SR inside the storage roots, its image inserted into the CD drive.
  const isoDir = join(m.dataDir, 'sr', 'isos');
  mkdirSync(isoDir, { recursive: true });
  writeFileSync(join(isoDir, 'tools.iso'), Buffer.alloc(4096));
  const host = await m.call<string>('pool.get_master', (await m.call<string[]>('pool.get_all'))[0]);
  const isoSr = await m.call<string>(
    'SR.create',
    host,
    { location: isoDir },
    0,
    'ISOs',
    '',
    'iso',
    'iso',
    false,
    {},
  );
  const [isoVdi] = await m.call<string[]>('SR.get_VDIs', isoSr);
  const iv = await m.call<any>('VDI.get_record', isoVdi);
  assert.equal(iv.name_label, 'tools.iso');
  assert.equal(iv.read_only, true);
  await assert.rejects(m.call('VDI.create', vdiRec(isoSr, MiB)), code('SR_OPERATION_NOT_SUPPORTED', [isoSr]));
  await m.call('VBD.insert', cd, isoVdi);
  await assert.rejects(m.call('VBD.insert', cd, isoVdi), code('VBD_NOT_EMPTY', [cd]));
  await assert.rejects(m.call('VBD.insert', b1, isoVdi), code('VBD_NOT_REMOVABLE_MEDIA', [b1]));

  const disks = vmDisks(db, vm);
  assert.deepEqual(
    disks.map((d) => [d.device, d.format, d.readonly, Boolean(d.cdrom)]),
    [
      ['xvda', 'qcow2', false, false],
      ['xvdb', 'qcow2', true, false],
      ['xvdd', 'raw', true, true],
    ],
  );
  assert.equal(disks[2].path, join(isoDir, 'tools.iso'));
  await m.call('VBD.eject', cd);
  // The ejected drive stays in the spec, without a medium (so one can be inserted while running).
  assert.deepEqual(
    vmDisks(db, vm).map((d) => [d.device, d.path, Boolean(d.cdrom)]),
    [
      ['xvda', disks[0].path, false],
      ['xvdb', disks[1].path, false],
      ['xvdd', '', true],
    ],
  );
});

test('SR lifecycle: create in the roots only, probe, scan, PBD unplug/plug, destroy/forget rules', async (t) => {
  const m = await startStorageManager(t, { storage: { defaultSrPath: false } });
  const host = await m.call<string>('pool.get_master', (await m.call<string[]>('pool.get_all'))[0]);
  const dir = join(m.dataDir, 'sr', 'two');
  await assert.rejects(
    m.call('SR.create', host, { location: '/etc/x' }, 0, 'bad', '', 'file', '', false, {}),
    code('INVALID_VALUE'),
  );
  await assert.rejects(
    m.call('SR.create', host, {}, 0, 'x', '', 'cifs', '', false, {}),
    code('SR_UNKNOWN_DRIVER', ['cifs']),
  );
  // nfs without a server: SM's error for it.
  await assert.rejects(
    m.call('SR.create', host, {}, 0, 'x', '', 'nfs', '', true, {}),
    code('SR_BACKEND_FAILURE_102', ['', 'The request is missing the server parameter', '']),
  );
  const sr = await m.call<string>('SR.create', host, { location: dir }, 0, 'two', '', 'file', '', false, {});
  const uuid = await m.call<string>('SR.get_uuid', sr);
  assert.match(
    await m.call<string>('SR.probe', host, { location: dir }, 'file', {}),
    new RegExp(`<UUID>${uuid}</UUID>`),
  );

  // Volumes appearing or vanishing behind the manager's back are picked up by SR.scan.
  const outside = '0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f';
  await createImage(join(dir, `${outside}.qcow2`), 'qcow2', 32 * MiB);
  const gone = await m.call<string>('VDI.create', vdiRec(sr, MiB));
  rmSync(join(dir, `${await m.call('VDI.get_uuid', gone)}.qcow2`));
  await m.call('SR.scan', sr);
  const vdis = await m.call<string[]>('SR.get_VDIs', sr);
  assert.equal(vdis.length, 1);
  assert.equal(await m.call('VDI.get_uuid', vdis[0]), outside);
  assert.equal(await m.call('VDI.get_virtual_size', vdis[0]), 32 * MiB);

  const [pbd] = await m.call<string[]>('SR.get_PBDs', sr);
  await assert.rejects(m.call('SR.destroy', sr), code('SR_HAS_PBD', [sr]));
  await assert.rejects(
    m.call('PBD.create', { host, SR: sr, device_config: { location: dir } }),
    code('PBD_EXISTS', [sr, host, pbd]),
  );
  await m.call('PBD.unplug', pbd);
  await assert.rejects(m.call('VDI.create', vdiRec(sr, MiB)), code('SR_NOT_ATTACHED', [sr]));
  await assert.rejects(m.call('SR.destroy', sr), code('SR_NOT_EMPTY', []));
  await m.call('PBD.plug', pbd);
  await m.call('VDI.destroy', vdis[0]);
  await m.call('PBD.unplug', pbd);
  await m.call('SR.destroy', sr);
  assert.equal(existsSync(dir), false);

  // introduce + PBD.create + plug brings back an SR whose records were forgotten.
  const sr3 = await m.call<string>(
    'SR.create',
    host,
    { location: dir },
    0,
    'three',
    '',
    'file',
    '',
    false,
    {},
  );
  await m.call('VDI.create', vdiRec(sr3, MiB));
  const u3 = await m.call<string>('SR.get_uuid', sr3);
  await m.call('PBD.unplug', (await m.call<string[]>('SR.get_PBDs', sr3))[0]);
  await m.call('SR.forget', sr3);
  const back = await m.call<string>('SR.introduce', u3, 'three', '', 'file', 'user', false, {});
  const p3 = await m.call<string>('PBD.create', { host, SR: back, device_config: { location: dir } });
  await m.call('PBD.plug', p3);
  assert.equal((await m.call<string[]>('SR.get_VDIs', back)).length, 1);
});
