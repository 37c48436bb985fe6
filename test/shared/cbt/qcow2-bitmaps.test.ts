// The qcow2 bitmap reader and the xapi bitmap encoding, checked against tools nobody here wrote:
// bitmaps made by qemu-img, dirtied by qemu-io writes, read back by qemu-nbd + nbdinfo's
// `qemu:dirty-bitmap:` block status.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CBT_BLOCK, changedBlockIndices, toXapiBitmap } from '../../../src/shared/cbt/changed-blocks.js';
import {
  listQcow2Bitmaps,
  Qcow2BitmapError,
  type ReadAt,
  readQcow2Bitmap,
} from '../../../src/shared/cbt/qcow2-bitmaps.js';
import { run, runChecked } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { nbdinfoDirtyExtents } from '../../helpers/nbdinfo.js';

const MiB = 1024 * 1024;

async function fileReader(path: string): Promise<{ read: ReadAt; close: () => Promise<void> }> {
  const fh = await open(path, 'r');
  return {
    read: async (offset, length) => {
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      return b.subarray(0, bytesRead);
    },
    close: () => fh.close(),
  };
}

/** Dirty extents as nbdinfo reports them through qemu-nbd's bitmap export (independent tools). */
async function nbdinfoDirty(path: string, bitmap: string): Promise<number[]> {
  const blocks: number[] = [];
  for (const [offset, length] of await nbdinfoDirtyExtents(path, bitmap))
    for (let o = offset; o < offset + length; o += CBT_BLOCK) blocks.push(o / CBT_BLOCK);
  return blocks;
}

async function readBits(path: string, name: string) {
  const f = await fileReader(path);
  try {
    const img = await listQcow2Bitmaps(f.read);
    const b = img.bitmaps.find((x) => x.name === name);
    assert.ok(b, `bitmap ${name} listed`);
    const bits = await readQcow2Bitmap(f.read, img, name);
    return changedBlockIndices(toXapiBitmap(bits, b.granularity, img.virtualSize).toString('base64'));
  } finally {
    await f.close();
  }
}

test('qcow2 bitmaps: blocks written by qemu-io read back as nbdinfo sees them', async (t) => {
  const dir = tempDir(t, 'berth-cbt-');
  const img = join(dir, 'a.qcow2');
  // 100 MiB + 12 KiB: the last 64 KiB block is partial.
  await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', img, String(100 * MiB + 12 * 1024)]);
  await runChecked('qemu-img', ['bitmap', '--add', '-g', '65536', img, 'one']);
  await runChecked('qemu-img', ['bitmap', '--add', '-g', '131072', img, 'coarse']);
  const writes: [number, number][] = [
    [0, 4096], // block 0
    [3 * CBT_BLOCK + 100, 10], // block 3
    [7 * CBT_BLOCK - 1, 2], // blocks 6 and 7
    [50 * MiB, 3 * CBT_BLOCK], // 800, 801, 802
    [100 * MiB + 8 * 1024, 512], // the partial last block, 1600
  ];
  for (const [off, len] of writes)
    await runChecked('qemu-io', ['-f', 'qcow2', '-c', `write ${off} ${len}`, img]);
  const expected = new Set<number>();
  for (const [off, len] of writes)
    for (let b = Math.floor(off / CBT_BLOCK); b <= Math.floor((off + len - 1) / CBT_BLOCK); b++)
      expected.add(b);
  const want = [...expected].sort((a, b) => a - b);
  assert.deepEqual(await readBits(img, 'one'), want);
  assert.deepEqual(await nbdinfoDirty(img, 'one'), want, 'nbdinfo agrees');
  // 128 KiB granules: each dirty granule marks both its 64 KiB blocks, never fewer.
  const coarse = await readBits(img, 'coarse');
  assert.deepEqual(coarse, await nbdinfoDirty(img, 'coarse'));
  for (const b of want) assert.ok(coarse.includes(b), `coarse covers ${b}`);
  assert.equal(Buffer.from(toXapiBitmap(new Uint8Array(0), 65536, 100 * MiB + 12 * 1024)).length, 201);
});

test('qcow2 bitmaps: a bitmap a process holds open read-write is refused, not read as clean', async (t) => {
  const dir = tempDir(t, 'berth-cbt-');
  const img = join(dir, 'b.qcow2');
  await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', img, String(8 * MiB)]);
  await runChecked('qemu-img', ['bitmap', '--add', img, 'x']);
  // qemu-io keeps the image open read-write until it quits: meanwhile the bitmap is in_use.
  const { spawn } = await import('node:child_process');
  const child = spawn('qemu-io', ['-f', 'qcow2', img], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  child.stdin.write('write 0 4k\n');
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  const f = await fileReader(img);
  try {
    const meta = await listQcow2Bitmaps(f.read);
    assert.equal(meta.bitmaps[0]?.inUse, true);
    await assert.rejects(readQcow2Bitmap(f.read, meta, 'x'), Qcow2BitmapError);
  } finally {
    await f.close();
    child.stdin.end('quit\n');
    await new Promise((r) => child.once('exit', r));
  }
  assert.deepEqual(await readBits(img, 'x'), [0], 'consistent again once closed');
  const r = await run('qemu-img', ['check', '-q', img]);
  assert.equal(r.code, 0);
});

test('toXapiBitmap: MSB-first, 64 KiB blocks, bits beyond the disk dropped', () => {
  // granule 0 and 9 dirty at 64 KiB granularity over 10 blocks
  const bits = new Uint8Array([0b0000_0001, 0b0000_0010]);
  const x = toXapiBitmap(bits, 65536, 10 * CBT_BLOCK);
  assert.deepEqual([...x], [0x80, 0x40]);
  // 32 KiB granules 1 and 2 straddle blocks 0 and 1
  assert.deepEqual([...toXapiBitmap(new Uint8Array([0b110]), 32768, 2 * CBT_BLOCK)], [0xc0]);
  // a dirty granule past the end of the disk is not a change
  assert.deepEqual([...toXapiBitmap(new Uint8Array([0b100]), 65536, 2 * CBT_BLOCK)], [0]);
  assert.deepEqual(changedBlockIndices(Buffer.from([0x81, 0x01]).toString('base64')), [0, 7, 15]);
});
