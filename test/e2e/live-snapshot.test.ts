// Live snapshots of a real guest (agent and manager as processes, QEMU under TCG): the guest
// writes known data and keeps writing while VM.snapshot runs; the snapshot's image, read with
// qemu-img, holds the data of one instant (a whole record, never a torn one); a checkpoint keeps
// disks and memory, revert to it leaves the VM suspended and resume continues that guest; revert
// to the first snapshot brings the old data back; qemu-img check passes on every image after.
// The time guest I/O was held (QEMU's transaction) is reported as a diagnostic.
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run, runChecked } from '../../src/shared/exec.js';
import { startGuestStack, testGuestVm, guestShell, waitGuestShell } from '../helpers/guest-vm.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';

const BOOT_MS = 120_000;

/** A sector of a qcow2 image (whole chain) as text, through qemu-img (the image may be in use). */
async function sectorOf(image: string, sector: number, dir: string): Promise<string> {
  const out = join(dir, `read-${Date.now()}.raw`);
  await runChecked('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', image, out]);
  const fd = openSync(out, 'r');
  try {
    const b = Buffer.alloc(512);
    readSync(fd, b, 0, 512, sector * 512);
    return b.toString('latin1').replace(/\0+$/, '');
  } finally {
    closeSync(fd);
    rmSync(out, { force: true });
  }
}

test('live snapshot, checkpoint and revert of a running guest', { timeout: 600_000 }, async (t) => {
  const { stack, call } = await startGuestStack(t, 19100 + Math.floor(Math.random() * 100));
  const { vm, uuid, sr } = await testGuestVm(call, 'livesnap-e2e');
  // The test guest boots from a kernel and initramfs: its one disk (/dev/vda) is made here.
  const disk = await call('VDI.create', vdiRecord(sr, 16 * 1024 * 1024, { name_label: 'data' }));
  const vbd = await call(
    'VBD.create',
    vbdRecord(vm, disk, { userdevice: '1', bootable: false, unpluggable: true }),
  );
  const [pbd] = await call('SR.get_PBDs', sr);
  const srDir = (await call('PBD.get_device_config', pbd)).location as string;
  const imageOf = async (vdi: string) => join(srDir, `${await call('VDI.get_location', vdi)}.qcow2`);

  const guest = guestShell(stack, uuid);

  await call('VM.start', vm, false, false);
  await waitGuestShell(stack, uuid, BOOT_MS, guest);
  await guest(
    'echo BERTH-SNAP-A | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo A-DONE',
    /\nA-DONE/,
  );
  // A writer that keeps rewriting sector 2048 with a counter (one whole 512-byte record each time).
  await guest(
    '(i=0; while :; do i=$((i+1)); echo BERTH-LOOP-$i-END | dd of=/dev/vda bs=512 seek=2048 count=1 conv=sync 2>/dev/null; sync; done) & echo LOOP-STARTED',
    /\nLOOP-STARTED/,
  );
  await guest('sleep 1; echo SLEPT', /\nSLEPT/);

  // Quiesced snapshots: xapi removed them.
  await assert.rejects(
    call('VM.assert_operation_valid', vm, 'snapshot_with_quiesce'),
    (e: any) => e.code === 'VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED' && e.params?.[0] === vm,
  );
  await assert.rejects(call('VM.snapshot_with_quiesce', vm, 'q'), (e: any) => e.code === 'MESSAGE_REMOVED');

  // VM.snapshot while the guest writes.
  const snap = await call('VM.snapshot', vm, 'live-1', []);
  const info = await call('VM.get_snapshot_info', snap);
  t.diagnostic(
    `live VM.snapshot: guest I/O held ${info['berth-io-pause-ms']} ms, vCPUs stopped ${info['berth-vcpu-pause-ms']} ms`,
  );
  assert.equal(info['disk-snapshot-type'], 'crash_consistent');
  assert.equal(info['power-state-at-snapshot'], 'Running');
  assert.ok(Number(info['berth-io-pause-ms']) >= 0);
  assert.equal(Number(info['berth-vcpu-pause-ms']), 0);
  assert.equal(await call('VM.get_power_state', vm), 'Running');
  const [snapVbd] = (await call('VM.get_VBDs', snap)) as string[];
  const snapDisk = await call('VBD.get_VDI', snapVbd);
  assert.equal(await call('VDI.get_is_a_snapshot', snapDisk), true);
  assert.equal(await call('VDI.get_snapshot_of', snapDisk), disk);
  // The running VDI kept its identity.
  assert.equal(await call('VBD.get_VDI', vbd), disk);
  const frozen = await imageOf(snapDisk);
  assert.equal(await sectorOf(frozen, 0, stack.dir), 'BERTH-SNAP-A\n');
  const record = await sectorOf(frozen, 2048, stack.dir);
  const loopAt = /^BERTH-LOOP-(\d+)-END\n$/.exec(record);
  assert.ok(
    loopAt,
    `the snapshot holds one whole record of the writer, not ${JSON.stringify(record)}: ${stack.consoleLog(uuid).slice(-1500)}`,
  );
  // Frozen: the guest writes on (read back from the device, past its page cache), the
  // snapshot does not change. (The running image itself is not read here: QEMU keeps its qcow2
  // metadata cached until the guest flushes.)
  const onDevice = await guest(
    'sleep 1; echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=512 skip=2048 count=1 2>/dev/null | head -c 24; echo; echo READ2',
    /BERTH-LOOP-(\d+)-END[\s\S]*?\nREAD2/,
  );
  assert.ok(Number(onDevice[1]) > Number(loopAt[1]), `the running disk moved on from ${loopAt[1]}`);
  assert.equal(await sectorOf(frozen, 2048, stack.dir), `BERTH-LOOP-${loopAt[1]}-END\n`);

  // VDI.snapshot of the running disk alone.
  const vdiSnap = await call('VDI.snapshot', disk, {});
  assert.equal(await call('VDI.get_snapshot_of', vdiSnap), disk);
  assert.equal(await sectorOf(await imageOf(vdiSnap), 0, stack.dir), 'BERTH-SNAP-A\n');
  await call('VDI.destroy', vdiSnap);

  // Checkpoint: disks and memory at one instant; the guest runs on.
  await guest(
    'kill %1; wait; echo BERTH-SNAP-B | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo B-DONE',
    /\nB-DONE/,
  );
  const ckpt = await call('VM.checkpoint', vm, 'ckpt-1');
  const ckptInfo = await call('VM.get_snapshot_info', ckpt);
  t.diagnostic(
    `VM.checkpoint: guest I/O held ${ckptInfo['berth-io-pause-ms']} ms, vCPUs stopped ${ckptInfo['berth-vcpu-pause-ms']} ms`,
  );
  assert.equal(await call('VM.get_power_state', ckpt), 'Suspended');
  const image = await call('VM.get_suspend_VDI', ckpt);
  assert.equal(await call('VDI.get_type', image), 'suspend');
  assert.equal(await call('VM.get_power_state', vm), 'Running');
  await guest(
    'echo BERTH-SNAP-C | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo C-DONE',
    /\nC-DONE/,
  );

  // Bad input: revert to something that is not a snapshot.
  await assert.rejects(call('VM.revert', vm), (e: any) => e.code === 'REVERT_ONLY_ALLOWED_ON_SNAPSHOT');

  // Revert to the checkpoint: the VM is stopped, then suspended at the checkpoint; resume
  // continues that guest (no new boot) with the disk of that instant.
  await call('VM.revert', ckpt);
  assert.equal(await call('VM.get_power_state', vm), 'Suspended');
  assert.deepEqual(stack.qemuPids(), []);
  const logAtResume = stack.consoleLog(uuid).length;
  await call('VM.resume', vm, false, false);
  await guest('head -c 12 /dev/vda; echo; echo RESUMED-END', /BERTH-SNAP-B\s*\r?\nRESUMED-END/);
  assert.equal(stack.consoleLog(uuid).slice(logAtResume).includes('BERTH-GUEST-READY'), false);

  // Revert to the first snapshot: halted, with the data of that instant.
  await call('VM.revert', snap);
  assert.equal(await call('VM.get_power_state', vm), 'Halted');
  assert.deepEqual(stack.qemuPids(), []);
  const [newVbd] = (await call('VM.get_VBDs', vm)) as string[];
  const reverted = await call('VBD.get_VDI', newVbd);
  assert.notEqual(reverted, snapDisk);
  assert.equal(await call('VDI.get_snapshot_of', snapDisk), reverted);
  assert.equal(await sectorOf(await imageOf(reverted), 0, stack.dir), 'BERTH-SNAP-A\n');
  assert.equal(await sectorOf(await imageOf(reverted), 2048, stack.dir), `BERTH-LOOP-${loopAt[1]}-END\n`);

  // Every image of the SR is consistent (no QEMU holds any now).
  for (const f of readdirSync(srDir).filter((n) => n.endsWith('.qcow2'))) {
    const r = await run('qemu-img', ['check', '-q', join(srDir, f)]);
    assert.equal(r.code, 0, `qemu-img check ${f}: ${r.stdout}${r.stderr}`);
  }
});
