// Changed-block tracking with a real guest (agent and manager as processes, QEMU under TCG): the
// guest writes known blocks of a CBT disk while running, QEMU keeps the bitmap and stores it in
// the image at a clean shutdown, and list_changed_blocks between a snapshot taken before the boot
// and one taken after names exactly those blocks. A second disk gets CBT while the VM runs
// (QMP). Live snapshots (VDI.snapshot and VM.snapshot of the running VM) carry the tracking: the
// diff between two of them names exactly the blocks the guest wrote in between (O_DIRECT, known
// offsets), read while the guest runs; tracking goes on after them, and a bitmap QEMU started at
// a live snapshot, read with qemu-nbd + nbdinfo after shutdown, holds the guest's later write.
// VM.revert then gives new disks without CBT, and the snapshots' diffs still answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedBlockIndices } from '../../src/shared/cbt/changed-blocks.js';
import { volumePath } from '../../src/shared/host/volume-path.js';
import { waitFor } from '../helpers/stack.js';
import { startGuestStack, testGuestVm, guestShell } from '../helpers/guest-vm.js';
import { nbdinfoDirtyExtents } from '../helpers/nbdinfo.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';

const MiB = 1024 * 1024;
const BOOT_MS = 120_000;

/** The 64 KiB blocks byte ranges touch, from the offsets alone. */
function blocksOf(writes: [number, number][]): number[] {
  const s = new Set<number>();
  for (const [off, len] of writes)
    for (let b = Math.floor(off / 65536); b <= Math.floor((off + len - 1) / 65536); b++) s.add(b);
  return [...s].sort((a, b) => a - b);
}

/** Guest shell: O_DIRECT writes of 4 KiB-aligned byte ranges (past the guest's page cache). */
const ddWrites = (dev: string, writes: [number, number][]) =>
  writes
    .map(
      ([off, len]) =>
        `dd if=/dev/urandom of=${dev} bs=4096 seek=${off / 4096} count=${len / 4096} oflag=direct conv=notrunc 2>/dev/null;`,
    )
    .join(' ');

test('a running guest writes known blocks of a CBT disk; the snapshots diff names exactly them', {
  timeout: 600_000,
}, async (t) => {
  const { stack, call } = await startGuestStack(t, 19300 + Math.floor(Math.random() * 100));
  const { vm, uuid, sr } = await testGuestVm(call, 'cbt-e2e');
  const disk = async (name: string, userdevice: string) => {
    const vdi = await call('VDI.create', vdiRecord(sr, 32 * MiB, { name_label: name }));
    await call('VBD.create', vbdRecord(vm, vdi, { userdevice, bootable: false }));
    return vdi;
  };
  const data = await disk('cbt data', '1'); // /dev/vda in the guest (the template boots from kernel + initrd)
  const late = await disk('cbt late', '2'); // /dev/vdb
  await call('VDI.enable_cbt', data);
  const before = await call('VDI.snapshot', data, {});

  const guest = guestShell(stack, uuid);
  await call('VM.start', vm, false, false);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');

  // Blocks 3 (one 64 KiB block) and 100 (4 KiB at 6.25 MiB) of the data disk.
  await guest(
    'dd if=/dev/urandom of=/dev/vda bs=65536 seek=3 count=1 conv=notrunc 2>/dev/null; dd if=/dev/urandom of=/dev/vda bs=4096 seek=1600 count=1 conv=notrunc 2>/dev/null; sync; echo CBT-WROTE',
    /\nCBT-WROTE/,
  );
  // CBT switched on while the VM runs: QEMU's bitmap from now on; a live snapshot starts a
  // generation on it.
  await call('VDI.enable_cbt', late);
  assert.equal(await call('VDI.get_cbt_enabled', late), true);
  const lateS1 = await call('VDI.snapshot', late, {});
  await guest(
    'dd if=/dev/urandom of=/dev/vdb bs=65536 seek=7 count=1 conv=notrunc 2>/dev/null; sync; echo LATE-WROTE',
    /\nLATE-WROTE/,
  );
  const diff = async (from: string, to: string) =>
    changedBlockIndices(await call('VDI.list_changed_blocks', from, to));

  // Live snapshot S1 of the running data disk: the generation of `before` reaches it through QEMU.
  const s1 = await call('VDI.snapshot', data, {});
  assert.equal(await call('VDI.get_cbt_enabled', s1), true);
  assert.deepEqual(await diff(before, s1), [3, 100]);
  // Between S1 and S2 the guest writes these byte ranges, bypassing its page cache.
  const between: [number, number][] = [
    [MiB + 4096, 4096],
    [20 * 65536 - 4096, 8192], // straddles blocks 19 and 20
    [200 * 65536, 65536],
    [32 * MiB - 4096, 4096], // the last block
  ];
  await guest(`${ddWrites('/dev/vda', between)} sync; echo LIVE-WROTE`, /\nLIVE-WROTE/);
  const snapVm = await call('VM.snapshot', vm, 'cbt-live', []);
  const info = await call('VM.get_snapshot_info', snapVm);
  t.diagnostic(`live VM.snapshot of 2 CBT disks: guest I/O held ${info['berth-io-pause-ms']} ms`);
  const diskOfSnap = async (userdevice: string) => {
    for (const b of await call('VM.get_VBDs', snapVm))
      if ((await call('VBD.get_userdevice', b)) === userdevice) return call('VBD.get_VDI', b);
    throw new Error(`no disk ${userdevice} in the snapshot`);
  };
  const s2 = await diskOfSnap('1');
  const lateS2 = await diskOfSnap('2');
  assert.deepEqual(await diff(s1, s2), blocksOf(between), 'S1 → S2: exactly the guest’s writes');
  assert.deepEqual(
    await diff(before, s2),
    [3, 100, ...blocksOf(between)].sort((a, b) => a - b),
  );
  assert.deepEqual(await diff(lateS1, lateS2), [7]);
  // After S2: tracking goes on on both disks.
  const afterS2: [number, number][] = [[30 * MiB, 4096]];
  await guest(
    `${ddWrites('/dev/vda', afterS2)} ${ddWrites('/dev/vdb', [[9 * 65536, 4096]])} sync; echo LAST-WROTE`,
    /\nLAST-WROTE/,
  );
  await call('VM.clean_shutdown', vm);

  const after = await call('VDI.snapshot', data, {});
  assert.deepEqual(
    await diff(before, after),
    [3, 100, ...blocksOf(between), ...blocksOf(afterS2)].sort((a, b) => a - b),
  );
  assert.deepEqual(await diff(s2, after), blocksOf(afterS2));

  const lateRec = await call('VDI.get_record', late);
  const srRec = await call('SR.get_record', sr);
  const dc = await call('PBD.get_device_config', srRec.PBDs[0]);
  const path = volumePath(srRec.type, srRec.uuid, dc, lateRec.location)!.path;
  // The late disk's newest generation (started by QEMU at the live VM.snapshot), stored at shutdown.
  const bitmap = `berth-cbt-${await call('VDI.get_uuid', lateS2)}`;
  assert.deepEqual(await nbdinfoDirtyExtents(path, bitmap), [[9 * 65536, 65536]]);

  // Revert to the live snapshot: new disks (xapi's clone path) without CBT; the chain still answers.
  await call('VM.revert', snapVm);
  let revData: string | undefined;
  for (const b of await call('VM.get_VBDs', vm))
    if ((await call('VBD.get_userdevice', b)) === '1') revData = await call('VBD.get_VDI', b);
  assert.ok(revData && revData !== data);
  assert.equal(await call('VDI.get_cbt_enabled', revData), false);
  await assert.rejects(
    call('VDI.list_changed_blocks', s2, revData),
    (e: any) => e.code === 'VDI_NO_CBT_METADATA',
  );
  assert.deepEqual(await diff(s1, s2), blocksOf(between), 'S2 keeps its bitmaps through the revert');
  await call('VM.destroy', vm);
});
