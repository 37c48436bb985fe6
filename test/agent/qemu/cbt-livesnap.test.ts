// CBT across live snapshots, against a bare QEMU (-machine none, no guest) holding a file SR's
// disk, with the file SR's real live-snapshot steps (liveSnapshotIn: the leaf unnamed while QEMU
// moves, so its read-only reopen by name fails) and the agent's real QMP commands
// (overlayAddCommand + snapshotTransaction with `cbt`). Two snapshots S1, S2 with writes through
// QEMU's block layer before and between them: S2's image answers exactly the blocks written
// between S1 and S2, S1's those written before S1, while QEMU still runs; the live disk keeps
// tracking, and its bitmaps land in the image when QEMU quits.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { diskSnapshotArgs } from '../../../src/agent/disk-snapshot.js';
import { findDiskNode, liveCbt } from '../../../src/agent/qemu/cbt-live.js';
import {
  type BlockInfo,
  carryOnNode,
  type LiveCbtCarry,
  overlayAddCommand,
  snapshotBitmapsBefore,
  snapshotCatchUp,
  snapshotTransaction,
} from '../../../src/agent/qemu/live-snapshot.js';
import * as cbt from '../../../src/agent/storage/cbt.js';
import { liveSnapshotIn } from '../../../src/agent/storage/file-live-snapshot.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import { changedBlockIndices } from '../../../src/shared/cbt/changed-blocks.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { runChecked } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { bareQemu } from '../helpers/bare-qemu.js';

const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const drive = 'drive-vbd-xvda';
const names = { drive, node: 'node-vbd-xvda' };

test('live snapshots of a CBT disk: list_changed_blocks between two of them is exact', async (t) => {
  const startQemu = bareQemu(t); // before tempDir's own hook: the process goes first
  const root = tempDir(t, 'berth-livecbt-');
  const ctx = { allowedRoots: [root], stateDir: join(root, 'state') };
  const dir = join(root, 'sr');
  const sr = { uuid: randomUUID(), type: 'file', deviceConfig: { location: dir } };
  await proc.sr_create(ctx, sr);
  const vdi = randomUUID();
  const v = await proc.blockdev_create(ctx, sr, vdi, 16 * MiB);
  await cbt.cbt_enable(ctx, sr, vdi, vdi); // enable_cbt of a halted disk: the VDI's own generation
  const sock = join(root, 'qmp.sock');
  const { cmd, exited } = await startQemu(sock, [{ id: drive, path: v.path }]);
  // A guest write: through the disk's BlockBackend, so it reaches the active layer only.
  const write = (offset: number, len: number) =>
    cmd('human-monitor-command', { 'command-line': `qemu-io ${drive} "write -P 0x5a ${offset} ${len}"` });

  let seq = 0;
  /** What instance_snapshot_disks does for one disk, then carryCbt's cbt_snapshot(sourceLive). */
  const liveSnapshot = async (carry: LiveCbtCarry) => {
    const snap = carry.generation;
    const p = await liveSnapshotIn(dir, vdi, snap);
    const blocks = (await cmd('query-block')) as BlockInfo[];
    const top = findDiskNode(blocks as never, names)!.node;
    const node = `snap${seq++}-xvda`;
    const add = overlayAddCommand(node, p.overlay);
    await cmd(add.execute, add.arguments);
    const disks = [{ top, overlay: node, cbt: carryOnNode(blocks, 'xvda', carry) }];
    for (const c of snapshotBitmapsBefore(disks)) await cmd(c.execute, c.arguments);
    const tx = snapshotTransaction(disks);
    await cmd(tx.execute, tx.arguments);
    // The guest writes on between the transaction and the catch-up: nothing may be missed.
    if (carry.keep.length) await write(12 * BLOCK, 512);
    for (const step of snapshotCatchUp(disks))
      for (const c of [step.merge, step.freeze]) await cmd(c.execute, c.arguments);
    const vol = await p.commit();
    await cbt.cbt_snapshot(ctx, sr, vdi, { keep: carry.keep, snapshot: vol.location, sourceLive: true });
    return vol.location;
  };

  await write(0, 4096); // block 0, before S1
  await write(5 * BLOCK + 100, 10); // block 5
  const s1 = await liveSnapshot({ keep: [], generation: randomUUID() });
  // Between S1 and S2: block 1, blocks 8-9 (one write straddling), the last block.
  await write(BLOCK, 512);
  await write(9 * BLOCK - 512, 1024);
  await write(16 * MiB - 4096, 4096);
  // A kept generation the disk has no bitmap of (tracking switched off and on meanwhile) is
  // left behind, not a failed snapshot.
  const gone = randomUUID();
  const s2 = await liveSnapshot({ keep: [gone, s1], generation: randomUUID() });
  await write(3 * BLOCK, 512); // after S2: block 3

  const changed = async (location: string, gen: string) => {
    const bits = await cbt.cbt_changed_blocks(ctx, sr, location, gen);
    assert.ok(bits !== null, `${location} holds the bitmap of ${gen}`);
    return changedBlockIndices(bits);
  };
  assert.deepEqual(await changed(s2, s1), [1, 8, 9, 255], 'S1 → S2, read while QEMU runs');
  // Only snapshots' generations are kept (the enable-time one ends at the first snapshot).
  assert.equal(await cbt.cbt_changed_blocks(ctx, sr, s1, vdi), null);
  assert.equal(await cbt.cbt_changed_blocks(ctx, sr, s1, s2), null, 'S1 knows nothing of S2');
  assert.equal(await cbt.cbt_changed_blocks(ctx, sr, s2, gone), null);
  // The live disk tracks both generations (the enable-time one was not kept).
  assert.deepEqual((await liveCbt(cmd, names, 'list')).sort(), [s1, s2].sort());
  await cmd('quit').catch(() => undefined);
  await exited;
  assert.deepEqual(await changed(vdi, s2), [3, 12], 'S2 → now, stored at quit');
  assert.deepEqual(await changed(vdi, s1), [1, 3, 8, 9, 12, 255], 'S1 → now');
  for (const f of [v.path, join(dir, `${s1}.qcow2`), join(dir, `${s2}.qcow2`)])
    await runChecked('qemu-img', ['check', '-q', f]);
});

test('instance_snapshot_disks checks the CBT carry of each disk (generations are uuids)', () => {
  const sr = { uuid: 's', type: 'file', deviceConfig: { location: '/x' } };
  const disk = { device: 'xvda', sr, location: 'a', newUuid: randomUUID() };
  const ok = { keep: [randomUUID()], generation: disk.newUuid };
  assert.deepEqual(diskSnapshotArgs([{ ...disk, cbt: ok }], {}).requests[0].cbt, ok);
  assert.equal(diskSnapshotArgs([disk], {}).requests[0].cbt, undefined);
  for (const cbtArg of [
    'x',
    { keep: ['../x'], generation: disk.newUuid },
    { keep: [], generation: 'berth' },
    { keep: 'a', generation: disk.newUuid },
    { keep: [] },
  ])
    assert.throws(
      () => diskSnapshotArgs([{ ...disk, cbt: cbtArg }], {}),
      (e) => e instanceof XenApiError && e.code === 'INVALID_VALUE',
      JSON.stringify(cbtArg),
    );
});

test('carryOnNode: kept generations without a usable bitmap on the disk are left behind', () => {
  const [a, b, c, next] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const blocks: BlockInfo[] = [
    {
      device: 'drive-vbd-xvda',
      inserted: {
        'node-name': '#block1',
        'dirty-bitmaps': [
          { name: `berth-cbt-${a}` },
          { name: `berth-cbt-${b}`, inconsistent: true },
          { name: 'other' },
        ],
      },
    },
    { device: 'drive-vbd-xvdb', inserted: { 'node-name': '#block2' } },
  ];
  assert.deepEqual(carryOnNode(blocks, 'xvda', { keep: [a, b, c], generation: next }), {
    keep: [a],
    generation: next,
  });
  assert.deepEqual(carryOnNode(blocks, 'xvdb', { keep: [a], generation: next }), {
    keep: [],
    generation: next,
  });
});

test('findDiskNode: a hot-plugged disk is still found once a live snapshot put an overlay on top', () => {
  // query-block as QEMU 7.2 answers for a hot-plugged disk after a live snapshot.
  const blocks = [
    {
      device: '',
      qdev: '/machine/peripheral/vbd-xvdb/virtio-backend',
      inserted: { 'node-name': 'snapmxai-xvdb', 'dirty-bitmaps': [{ name: 'berth-cbt-x' }] },
    },
  ];
  const names = { drive: 'drive-vbd-xvdb', node: 'node-vbd-xvdb' };
  assert.equal(findDiskNode(blocks, names), undefined, 'by node name alone: lost');
  assert.deepEqual(findDiskNode(blocks, { ...names, qdev: 'vbd-xvdb' }), {
    node: 'snapmxai-xvdb',
    bitmaps: ['berth-cbt-x'],
  });
  assert.equal(
    findDiskNode(blocks, { drive: 'drive-vbd-xvd', node: 'node-vbd-xvd', qdev: 'vbd-xvd' }),
    undefined,
  );
});
