// Disks of a real guest through the XenAPI (agent and manager as processes, QEMU under TCG): the
// guest writes to its disk, the VM reboots and the data is read back; a second disk hot-plugged
// into the running VM (VBD.plug → QMP) appears inside the guest with the size the API gave it, an
// online VDI.resize reaches the guest, and VBD.unplug takes the disk away again. Suspend writes
// the image into a VDI (suspend_VDI) and resume continues the same guest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestShell, startGuestStack, testGuestVm } from '../helpers/guest-vm.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/stack.js';

const MiB = 1024 * 1024;
const BOOT_MS = 120_000;

test('a guest keeps what it wrote across a reboot; hot-plug, resize and unplug reach the guest', {
  timeout: 600_000,
}, async (t) => {
  const { stack, call, client } = await startGuestStack(t, 18900 + Math.floor(Math.random() * 100));
  const { vm, uuid, sr } = await testGuestVm(call, 'disks-e2e');
  const vdiRec = (name: string, size: number) => vdiRecord(sr, size, { name_label: name });
  const vbdRec = (vdi: string, userdevice: string) =>
    vbdRecord(vm, vdi, { userdevice, bootable: false, unpluggable: true });
  const data = await call('VDI.create', vdiRec('data', 32 * MiB));
  const dataVbd = await call('VBD.create', vbdRec(data, '1'));

  /** Types a line on the guest's serial console; resolves with the first match of `re` after it. */
  const guest = guestShell(stack, uuid);
  const booted = async (from: number) =>
    waitFor(() => stack.consoleLog(uuid).slice(from).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');

  await call('VM.start', vm, false, false);
  await booted(0);
  assert.equal(await call('VBD.get_currently_attached', dataVbd), true);
  assert.equal(await call('VBD.get_device', dataVbd), 'xvdb');

  // The guest writes a marker on its disk (the first virtio disk: /dev/vda) and syncs.
  await guest(
    'echo BERTH-PERSIST-$((6*7)) | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo WROTE-DONE',
    /\nWROTE-DONE/,
  );
  const logBefore = stack.consoleLog(uuid).length;
  await call('VM.clean_reboot', vm);
  await booted(logBefore);
  const read = await guest('head -c 17 /dev/vda; echo; echo READ-END', /(BERTH-PERSIST-\d+)\s*\r?\nREAD-END/);
  assert.equal(read[1], 'BERTH-PERSIST-42');

  // Suspend: the image goes into a VDI of type suspend in the default SR; resume brings the
  // same guest back (its shell still answers, its disk still reads) and the image VDI goes.
  await guest('echo BEFORE-SUSPEND-$((2+3))', /BEFORE-SUSPEND-5/);
  await call('VM.suspend', vm);
  assert.equal(await call('VM.get_power_state', vm), 'Suspended');
  assert.deepEqual(stack.qemuPids(), []);
  const image = await call('VM.get_suspend_VDI', vm);
  assert.notEqual(image, 'OpaqueRef:NULL');
  const imageRec = await call('VDI.get_record', image);
  assert.equal(imageRec.type, 'suspend');
  assert.equal(imageRec.SR, sr);
  assert.ok(Number(imageRec.sm_config['suspend-image-bytes']) > 0);
  const logAtSuspend = stack.consoleLog(uuid).length;
  await call('VM.resume', vm, false, false);
  assert.equal(await call('VM.get_power_state', vm), 'Running');
  assert.equal(await call('VM.get_suspend_VDI', vm), 'OpaqueRef:NULL');
  await assert.rejects(call('VDI.get_record', image), (e: any) => e.code === 'HANDLE_INVALID');
  // Not a fresh boot: no new boot marker, and the shell carries on.
  await guest('head -c 17 /dev/vda; echo; echo RESUMED-END', /BERTH-PERSIST-42\s*\r?\nRESUMED-END/);
  assert.equal(stack.consoleLog(uuid).slice(logAtSuspend).includes('BERTH-GUEST-READY'), false);

  // Hot-plug a second disk into the running guest.
  const extra = await call('VDI.create', vdiRec('extra', 16 * MiB));
  const extraVbd = await call('VBD.create', vbdRec(extra, '2'));
  assert.equal(await call('VBD.get_currently_attached', extraVbd), false);
  await call('VBD.plug', extraVbd);
  assert.equal(await call('VBD.get_currently_attached', extraVbd), true);
  await assert.rejects(call('VBD.plug', extraVbd), (e: any) => e.code === 'DEVICE_ALREADY_ATTACHED');
  const size = await guest(
    'for i in $(seq 1 100); do [ -b /dev/vdb ] && break; sleep 0.2; done; echo SECTORS=$(cat /sys/block/vdb/size)',
    /SECTORS=(\d+)/,
  );
  assert.equal(Number(size[1]) * 512, 16 * MiB);
  await assert.rejects(call('VDI.destroy', extra), (e: any) => e.code === 'VDI_IN_USE');

  // Online resize: the guest sees the new size without a restart.
  await call('VDI.resize', extra, 24 * MiB);
  assert.equal(await call('VDI.get_virtual_size', extra), 24 * MiB);
  const grown = await guest('sleep 1; echo GROWN=$(cat /sys/block/vdb/size)', /GROWN=(\d+)/);
  assert.equal(Number(grown[1]) * 512, 24 * MiB);

  // Unplug: the guest releases it, the VBD is detached, the VDI can go.
  await call('VBD.unplug', extraVbd);
  assert.equal(await call('VBD.get_currently_attached', extraVbd), false);
  await guest('sleep 1; [ -b /dev/vdb ] || echo VDB-GONE', /\nVDB-GONE/);
  await assert.rejects(call('VBD.unplug', extraVbd), (e: any) => e.code === 'DEVICE_ALREADY_DETACHED');
  await call('VBD.destroy', extraVbd);
  await call('VDI.destroy', extra);

  // A clean reboot keeps the disks the VM has now (the hot-plugged one is gone).
  await call('VM.hard_shutdown', vm);
  assert.equal(await call('VBD.get_currently_attached', dataVbd), false);
  assert.deepEqual(stack.qemuPids(), []);
  // Clone the halted VM (thin: its disk becomes a qcow2 child, whatever its size) and copy the
  // data disk to a second SR created through the API.
  const t0 = Date.now();
  const clone = await call('VM.clone', vm, 'disks-e2e-clone');
  const cloneMs = Date.now() - t0;
  t.diagnostic(`VM.clone with a 32 MiB disk: ${cloneMs} ms`);
  const [cloneVbd] = await call('VM.get_VBDs', clone);
  const cloneVdi = await call('VBD.get_VDI', cloneVbd);
  assert.notEqual(cloneVdi, data);
  const host = await call('session.get_this_host', client.sessionRef);
  const second = await call(
    'SR.create',
    host,
    { location: `${stack.dir}/data/sr/second` },
    0,
    'second',
    '',
    'file',
    '',
    false,
    {},
  );
  const copied = await call('VDI.copy', data, second, 'OpaqueRef:NULL', 'OpaqueRef:NULL');
  assert.equal(await call('VDI.get_SR', copied), second);
  assert.equal(await call('VDI.get_virtual_size', copied), 32 * MiB);
  await call('VM.destroy', clone);
  await call('VDI.destroy', cloneVdi);
  await call('VDI.destroy', copied);

  // VM.destroy keeps the VDI, as xapi does.
  await call('VM.destroy', vm);
  assert.equal(await call('VDI.get_virtual_size', data), 32 * MiB);
  await call('VDI.destroy', data);
  assert.deepEqual(await call('SR.get_VDIs', second), []);
});
