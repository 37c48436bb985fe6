// The manager's side of live snapshots against a real agent (no guest): a disk held by a VM the
// database says runs goes to the agent, which finds no such QEMU and undoes its preparation
// (files and records as before); a disk on an LVM SR is refused with SR_OPERATION_NOT_SUPPORTED
// before the agent is asked, and VM.snapshot leaves no half-made snapshot VM.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { code, startStorageManager } from './harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const MiB = 1024 * 1024;

test('live snapshot: undone when QEMU is not there; refused on LVM SRs', async (t) => {
  const m = await startStorageManager(t);
  const { db } = m.manager;
  const host = m.manager.svc.hostRef();
  const [pool] = await m.call<string[]>('pool.get_all');
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'runs' }));
  const disk = await m.call<string>('VDI.create', vdiRecord(sr, 4 * MiB));
  const vbd = await m.call<string>('VBD.create', vbdRecord(vm, disk, { bootable: false }));
  // The database says the VM runs here (no QEMU does: the agent must refuse and undo).
  db.update('VM', vm, { power_state: 'Running', resident_on: host });
  db.update('VBD', vbd, { currently_attached: true, device: 'xvda' });
  const [pbd] = db.mustGet('SR', sr).PBDs as string[];
  const dir = (db.mustGet('PBD', pbd).device_config as Record<string, string>).location;
  const files = () =>
    readdirSync(dir)
      .filter((n) => !n.startsWith('.berth'))
      .sort();
  const before = files();
  const vdis = (await m.call<string[]>('VDI.get_all')).length;

  await assert.rejects(m.call('VDI.snapshot', disk, {}), code('VM_BAD_POWER_STATE'));
  assert.deepEqual(files(), before, 'the prepared overlay and base are gone, the leaf is back');
  assert.equal((await m.call<string[]>('VDI.get_all')).length, vdis);
  assert.deepEqual(await m.call('VDI.get_current_operations', disk), {});

  // A disk on an LVM SR (raw volumes): refused before the agent is asked.
  const lvm = db.create('SR', { name_label: 'lvm', type: 'lvm', content_type: 'user', shared: false });
  db.create('PBD', { SR: lvm, host, device_config: { device: '/dev/null' }, currently_attached: true });
  const raw = db.create('VDI', {
    SR: lvm,
    uuid: '33333333-3333-4333-8333-333333333333',
    location: '33333333-3333-4333-8333-333333333333',
    virtual_size: 4 * MiB,
    type: 'user',
  });
  const rawVbd = db.create('VBD', {
    VM: vm,
    VDI: raw,
    userdevice: '1',
    mode: 'RW',
    type: 'Disk',
    currently_attached: true,
    device: 'xvdb',
  });
  assert.ok(rawVbd);
  await assert.rejects(m.call('VDI.snapshot', raw, {}), code('SR_OPERATION_NOT_SUPPORTED', [lvm]));
  const vms = (await m.call<string[]>('VM.get_all')).length;
  await assert.rejects(m.call('VM.snapshot', vm, 'snap', []), code('SR_OPERATION_NOT_SUPPORTED', [lvm]));
  assert.equal((await m.call<string[]>('VM.get_all')).length, vms, 'no half-made snapshot VM');
  assert.deepEqual(files(), before);

  // Quiesced snapshots: xapi's errors.
  await assert.rejects(
    m.call('VM.assert_operation_valid', vm, 'snapshot_with_quiesce'),
    code('VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED', [vm]),
  );
  await assert.rejects(m.call('VM.snapshot_with_quiesce', vm, 'q'), code('MESSAGE_REMOVED'));
  // Revert of something that is not a snapshot.
  db.update('VM', vm, { power_state: 'Halted' });
  await assert.rejects(m.call('VM.revert', vm), code('REVERT_ONLY_ALLOWED_ON_SNAPSHOT', []));
});

test('checkpoint of a suspended VM, then revert to it: disks and memory image are cloned, the VM is suspended', async (t) => {
  const m = await startStorageManager(t);
  const { db } = m.manager;
  const [pool] = await m.call<string[]>('pool.get_all');
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vdi = (o: Record<string, unknown>) => m.call<string>('VDI.create', vdiRecord(sr, 4 * MiB, o));
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'sleeps' }));
  const disk = await vdi({});
  const vbd = await m.call<string>('VBD.create', vbdRecord(vm, disk, { bootable: false }));
  const image = await vdi({ type: 'suspend', name_label: 'Suspend image' });
  // Suspended as VM.suspend leaves it: VBDs still attached, the memory in a suspend VDI.
  db.update('VM', vm, { power_state: 'Suspended', suspend_VDI: image });
  db.update('VBD', vbd, { currently_attached: true, device: 'xvda' });

  const ckpt = await m.call<string>('VM.checkpoint', vm, 'ckpt');
  const c = await m.call<any>('VM.get_record', ckpt);
  assert.equal(c.power_state, 'Suspended');
  assert.equal(c.is_a_snapshot, true);
  assert.equal(c.snapshot_of, vm);
  assert.equal(c.snapshot_info['power-state-at-snapshot'], 'Suspended');
  assert.notEqual(c.suspend_VDI, image);
  assert.equal(await m.call('VDI.get_type', c.suspend_VDI), 'suspend');
  const [cVbd] = c.VBDs as string[];
  const cDisk = await m.call<string>('VBD.get_VDI', cVbd);
  assert.equal(await m.call('VDI.get_snapshot_of', cDisk), disk);
  assert.equal(await m.call('VM.get_power_state', vm), 'Suspended', 'the VM itself is untouched');

  await m.call('VM.set_name_description', vm, 'changed after the checkpoint');
  await m.call('VM.revert', ckpt);
  const r = await m.call<any>('VM.get_record', vm);
  assert.equal(r.power_state, 'Suspended');
  assert.equal(r.name_label, 'sleeps');
  assert.equal(r.name_description, c.name_description);
  assert.equal(r.parent, ckpt);
  assert.ok(
    ![image, c.suspend_VDI, 'OpaqueRef:NULL'].includes(r.suspend_VDI),
    'a clone of the checkpoint image',
  );
  assert.equal(await m.call('VDI.get_type', r.suspend_VDI), 'suspend');
  assert.equal(db.has('VDI', disk), false, 'the snapshotted disk was replaced');
  assert.equal(db.has('VDI', image), false, 'the old memory image went');
  const [newVbd] = r.VBDs as string[];
  const newDisk = await m.call<string>('VBD.get_VDI', newVbd);
  assert.equal(await m.call('VBD.get_currently_attached', newVbd), false);
  assert.equal(
    await m.call('VDI.get_snapshot_of', cDisk),
    newDisk,
    'the checkpoint now snapshots the new disk',
  );
});
