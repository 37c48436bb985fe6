// CBT on a running disk against a real (bare: -machine none, no guest) QEMU holding the image:
// the bitmap is added over QMP, a write through QEMU's block layer dirties it, and QEMU stores
// it in the qcow2 when it quits, where the halted-disk reader (and nbdinfo) find it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { linkSync, renameSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  findDiskNode,
  liveCbt,
  liveSnapshotBitmapsBefore,
  liveSnapshotCatchUp,
} from '../../../src/agent/qemu/cbt-live.js';
import * as cbt from '../../../src/agent/storage/cbt.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import { changedBlockIndices, toXapiBitmap } from '../../../src/shared/cbt/changed-blocks.js';
import { listQcow2Bitmaps, readQcow2Bitmap } from '../../../src/shared/cbt/qcow2-bitmaps.js';
import { runChecked } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { bareQemu } from '../helpers/bare-qemu.js';

const GEN = '6f1c1c5e-2a53-4c55-9a52-0e8c2f6d1a01';
const names = { drive: 'drive-vbd-xvda', node: 'node-vbd-xvda' };
const other = { drive: 'drive-vbd-xvdb', node: 'node-vbd-xvdb' };

async function changed(path: string, name: string): Promise<number[]> {
  const fh = await open(path, 'r');
  try {
    const read = async (o: number, l: number) => {
      const b = Buffer.alloc(l);
      const { bytesRead } = await fh.read(b, 0, l, o);
      return b.subarray(0, bytesRead);
    };
    const meta = await listQcow2Bitmaps(read);
    const bits = await readQcow2Bitmap(read, meta, name);
    return changedBlockIndices(toXapiBitmap(bits, 65536, meta.virtualSize).toString('base64'));
  } finally {
    await fh.close();
  }
}

test('live CBT: QMP adds a persistent bitmap that tracks writes and lands in the image', async (t) => {
  const startQemu = bareQemu(t); // before tempDir's own hook: the process goes first
  const dir = tempDir(t, 'berth-cbt-live-');
  const img = join(dir, 'd.qcow2');
  const sock = join(dir, 'qmp.sock');
  const img2 = join(dir, 'e.qcow2');
  for (const i of [img, img2])
    await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', i, String(8 * 1024 * 1024)]);
  const { cmd, exited } = await startQemu(sock, [
    { id: names.drive, path: img },
    { id: other.drive, path: img2 },
  ]);

  assert.deepEqual(await liveCbt(cmd, names, 'list'), []);
  assert.deepEqual(await liveCbt(cmd, names, 'enable', GEN), [GEN]);
  assert.deepEqual(await liveCbt(cmd, names, 'enable', GEN), [GEN], 'idempotent');
  await cmd('human-monitor-command', { 'command-line': `qemu-io ${names.drive} "write 196608 4096"` });
  // disable removes Berth's bitmaps only (a second disk of the same QEMU).
  await liveCbt(cmd, other, 'enable', GEN);
  await cmd('block-dirty-bitmap-add', { node: other.drive, name: 'not-ours', persistent: true });
  assert.deepEqual(await liveCbt(cmd, other, 'disable'), []);
  assert.deepEqual(findDiskNode((await cmd('query-block')) as never, other)?.bitmaps, ['not-ours']);
  assert.deepEqual(await liveCbt(cmd, names, 'list'), [GEN], 'the other disk keeps its bitmap');
  await assert.rejects(
    liveCbt(cmd, { drive: 'drive-nope', node: 'node-nope' }, 'list'),
    /DEVICE_ALREADY_DETACHED/,
  );
  await cmd('quit').catch(() => undefined);
  await exited;
  assert.deepEqual(await changed(img, `berth-cbt-${GEN}`), [3], 'the write QEMU made, stored at quit');
  const info = JSON.parse(await runChecked('qemu-img', ['info', '--output=json', img2]));
  assert.deepEqual(
    info['format-specific'].data.bitmaps.map((b: { name: string }) => b.name),
    ['not-ours'],
  );
});

test('findDiskNode: boot-time disks by BlockBackend, hot-plugged ones by node name', () => {
  const blocks = [
    { device: 'drive-vbd-xvda', inserted: { 'node-name': '#block1', 'dirty-bitmaps': [{ name: 'a' }] } },
    { device: '', qdev: 'vbd-xvdb', inserted: { 'node-name': 'node-vbd-xvdb' } },
    { device: 'drive-vbd-xvdc' },
  ];
  assert.deepEqual(findDiskNode(blocks, names), { node: '#block1', bitmaps: ['a'] });
  assert.deepEqual(findDiskNode(blocks, { drive: 'drive-vbd-xvdb', node: 'node-vbd-xvdb' }), {
    node: 'node-vbd-xvdb',
    bitmaps: [],
  });
  assert.equal(
    findDiskNode(blocks, { drive: 'drive-vbd-xvdc', node: 'node-vbd-xvdc' }),
    undefined,
    'no medium',
  );
});

test('live snapshot: bitmaps carried into the new layer (transaction + catch-up), frozen copies for the snapshot', async (t) => {
  const startQemu = bareQemu(t);
  const root = tempDir(t, 'berth-cbt-livesnap-');
  const ctx = { allowedRoots: [root], stateDir: join(root, 'state') };
  const dirPath = join(root, 'sr');
  const sr = { uuid: randomUUID(), type: 'file', deviceConfig: { location: dirPath } };
  await proc.sr_create(ctx, sr);
  const a = randomUUID();
  const v = await proc.blockdev_create(ctx, sr, a, 8 * 1024 * 1024);
  await cbt.cbt_enable(ctx, sr, a, GEN);
  await runChecked('qemu-io', ['-f', 'qcow2', '-c', 'write 131072 512', v.path]); // block 2, halted
  const sock = join(root, 'qmp.sock');
  const { cmd, exited } = await startQemu(sock, [{ id: names.drive, path: v.path }]);
  // What a live snapshot does with the file SR's layout: the running image becomes a base, a new
  // overlay takes the disk's name, the snapshot is a second overlay of the base.
  const base = `base-${randomUUID()}.qcow2`;
  linkSync(v.path, join(dirPath, base));
  const overlay = join(dirPath, `.tmp-${randomUUID()}.qcow2`);
  const snapUuid = randomUUID();
  for (const f of [overlay, join(dirPath, `${snapUuid}.qcow2`)])
    await runChecked('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      base,
      '-F',
      'qcow2',
      f,
      String(8 * 1024 * 1024),
    ]);
  const oldNode = findDiskNode((await cmd('query-block')) as never, names)!.node;
  await cmd('blockdev-add', {
    'node-name': 'ovl',
    driver: 'qcow2',
    backing: null,
    file: { driver: 'file', filename: overlay },
  });
  for (const c of liveSnapshotBitmapsBefore('ovl', [GEN], snapUuid)) await cmd(c.execute, c.arguments);
  await cmd('transaction', {
    actions: [{ type: 'blockdev-snapshot', data: { node: oldNode, overlay: 'ovl' } }],
  });
  for (const step of liveSnapshotCatchUp(oldNode, 'ovl', [GEN]))
    for (const c of [step.merge, step.freeze]) await cmd(c.execute, c.arguments);
  renameSync(overlay, v.path);
  await cmd('human-monitor-command', { 'command-line': `qemu-io ${names.drive} "write 327680 512"` }); // block 5
  await cbt.cbt_snapshot(ctx, sr, a, { keep: [GEN], snapshot: snapUuid, sourceLive: true });
  assert.deepEqual((await liveCbt(cmd, names, 'list')).sort(), [GEN, snapUuid].sort());
  await cmd('quit').catch(() => undefined);
  await exited;
  assert.deepEqual(changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, a, GEN))!), [2, 5]);
  assert.deepEqual(changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, a, snapUuid))!), [5]);
  assert.deepEqual(
    changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, snapUuid, GEN))!),
    [2],
    'frozen at the snapshot',
  );
  for (const f of [v.path, join(dirPath, base), join(dirPath, `${snapUuid}.qcow2`)])
    await runChecked('qemu-img', ['check', '-q', f]);
});
