// The agent's CBT procedures on a file SR of real qcow2 images: bitmaps carried over snapshots,
// kept through the SR's GC coalescing (whose copying is not a guest write), data_destroy, and
// argument checks at the RPC boundary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import * as cbt from '../../../src/agent/storage/cbt.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import type { SrConfig } from '../../../src/agent/storage/types.js';
import { CBT_BLOCK, changedBlockIndices } from '../../../src/shared/cbt/changed-blocks.js';
import type { XenApiError } from '../../../src/shared/errors.js';
import { runChecked } from '../../../src/shared/exec.js';
import { Journal } from '../../../src/shared/journal.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 1024 * 1024;

function setup(t: import('node:test').TestContext) {
  const root = tempDir(t, 'berth-cbt-sr-');
  const ctx = { allowedRoots: [root], stateDir: join(root, 'state') };
  const sr: SrConfig = { uuid: randomUUID(), type: 'file', deviceConfig: { location: join(root, 'sr') } };
  return { ctx, sr };
}

const write = (path: string, off: number, len: number) =>
  runChecked('qemu-io', ['-f', 'qcow2', '-c', `write ${off} ${len}`, path]);

test('CBT on a file SR: GC coalescing a base into a tracked disk does not mark its data changed', async (t) => {
  const { ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const a = randomUUID();
  const v = await proc.blockdev_create(ctx, sr, a, 32 * MiB);
  await write(v.path, 0, 16 * MiB); // 256 blocks of old data
  await cbt.cbt_enable(ctx, sr, a, a);
  const s1 = randomUUID();
  await proc.blockdev_snapshot(ctx, sr, a, s1);
  await cbt.cbt_snapshot(ctx, sr, a, { keep: [], snapshot: s1, generation: s1 });
  await write(v.path, 20 * MiB, CBT_BLOCK); // block 320
  // The backup tool's cycle: the snapshot's data goes; its base now has one child (the disk).
  await cbt.cbt_data_destroy(ctx, sr, s1);
  const gc = await proc.sr_gc(ctx, sr, []);
  assert.ok(
    gc.some((l) => l.startsWith('coalesced')),
    `the base was merged into the disk: ${gc.join('; ')}`,
  );
  const bits = await cbt.cbt_changed_blocks(ctx, sr, a, s1);
  assert.deepEqual(changedBlockIndices(bits!), [320], 'only the guest write');
  const enabled = (await cbt.cbt_bitmaps(ctx, sr, a)).filter((b) => b.enabled).map((b) => b.generation);
  assert.deepEqual(enabled, [s1], 'tracking resumed after the merge');
  await write(v.path, 0, 1);
  assert.deepEqual(changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, a, s1))!), [0, 320]);
  // The data-destroyed snapshot's diff survives too.
  assert.deepEqual(changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, s1, s1)) ?? ''), []);
  assert.equal(await cbt.cbt_changed_blocks(ctx, sr, s1, a), null, 'no such generation there');
});

test('CBT procedures: LVM answers SR_OPERATION_NOT_SUPPORTED; bad arguments INVALID_VALUE', async (t) => {
  const { ctx, sr } = setup(t);
  const lvm: SrConfig = { uuid: randomUUID(), type: 'lvm', deviceConfig: { device: '/dev/null' } };
  await assert.rejects(cbt.cbt_enable(ctx, lvm, randomUUID(), randomUUID()), (e: XenApiError) => {
    assert.equal(e.code, 'SR_OPERATION_NOT_SUPPORTED');
    assert.deepEqual(e.params, [lvm.uuid]);
    return true;
  });
  await proc.sr_create(ctx, sr);
  await assert.rejects(
    cbt.cbt_enable(ctx, sr, randomUUID(), randomUUID()),
    (e: XenApiError) => e.code === 'VDI_MISSING',
  );
  const table = cbt.cbtProcedures(ctx);
  const loc = randomUUID();
  await proc.blockdev_create(ctx, sr, loc, MiB);
  for (const [name, args] of [
    ['cbt_enable', [sr, loc, '../etc']],
    ['cbt_enable', [sr, 7, randomUUID()]],
    ['cbt_snapshot', [sr, loc, { keep: ['x'] }]],
    ['cbt_snapshot', [sr, loc, []]],
    ['cbt_changed_blocks', [{ ...sr, deviceConfig: 'x' }, loc, randomUUID()]],
    ['cbt_live', [randomUUID(), 'xvda', 'bogus']],
    ['cbt_live', [randomUUID(), 'xvda', 'enable', 'not-a-uuid']],
  ] as const)
    await assert.rejects(
      Promise.resolve().then(() => (table[name] as (...a: unknown[]) => Promise<unknown>)(...args)),
      (e: XenApiError) => e.code === 'INVALID_VALUE',
      `${name} ${JSON.stringify(args)}`,
    );
});

test('CBT on a file SR: bitmaps paused by a GC that crashed are enabled again by attach', async (t) => {
  const { ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const a = randomUUID();
  const v = await proc.blockdev_create(ctx, sr, a, 4 * MiB);
  await cbt.cbt_enable(ctx, sr, a, a);
  // What withBitmapsPaused leaves when the process dies mid-rebase: the intent and a disabled bitmap.
  new Journal(join(sr.deviceConfig.location, '.berth-journal')).begin('bitmaps-paused', {
    path: v.path,
    names: [`berth-cbt-${a}`],
  });
  await runChecked('qemu-img', ['bitmap', '--disable', v.path, `berth-cbt-${a}`]);
  assert.deepEqual(
    (await cbt.cbt_bitmaps(ctx, sr, a)).map((b) => b.enabled),
    [false],
  );
  const { fixed } = await proc.sr_attach(ctx, sr);
  assert.ok(
    fixed.some((f) => f.startsWith('re-enabled bitmap')),
    fixed.join('; '),
  );
  assert.deepEqual(
    (await cbt.cbt_bitmaps(ctx, sr, a)).map((b) => b.enabled),
    [true],
  );
  await write(v.path, 0, 1);
  assert.deepEqual(changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, a, a))!), [0]);
});

test('CBT after a crash: inconsistent bitmaps are refused, not carried, and disable clears them', async (t) => {
  const { ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const a = randomUUID();
  const v = await proc.blockdev_create(ctx, sr, a, 4 * MiB);
  await cbt.cbt_enable(ctx, sr, a, a);
  // A writer killed while it holds the image: the bitmap stays flagged in_use on disk.
  const child = spawn('qemu-io', ['-f', 'qcow2', v.path], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => child.kill('SIGKILL'));
  child.stdin.write('write 0 4k\n');
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.deepEqual(
    (await cbt.cbt_bitmaps(ctx, sr, a)).map((b) => b.inUse),
    [true],
  );
  await assert.rejects(
    cbt.cbt_changed_blocks(ctx, sr, a, a),
    (e: XenApiError) => e.code === 'SR_BACKEND_FAILURE',
  );
  // A snapshot still works: the inconsistent generation is dropped, the new one starts clean.
  const s1 = randomUUID();
  await proc.blockdev_snapshot(ctx, sr, a, s1);
  await cbt.cbt_snapshot(ctx, sr, a, { keep: [a], snapshot: s1, generation: s1 });
  assert.deepEqual(
    (await cbt.cbt_bitmaps(ctx, sr, a)).map((b) => b.generation),
    [s1],
  );
  assert.equal(await cbt.cbt_changed_blocks(ctx, sr, s1, a), null);
  await write(v.path, CBT_BLOCK, 1);
  assert.deepEqual(changedBlockIndices((await cbt.cbt_changed_blocks(ctx, sr, a, s1))!), [1]);
  // disable clears an inconsistent bitmap too (a second disk whose writer crashed).
  const c = randomUUID();
  const vc = await proc.blockdev_create(ctx, sr, c, MiB);
  await cbt.cbt_enable(ctx, sr, c, c);
  const crash = spawn('qemu-io', ['-f', 'qcow2', vc.path], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => crash.kill('SIGKILL'));
  crash.stdin.write('write 0 512\n');
  await new Promise<void>((r) => crash.stdout.once('data', () => r()));
  crash.kill('SIGKILL');
  await new Promise((r) => crash.once('exit', r));
  await cbt.cbt_disable(ctx, sr, c);
  assert.deepEqual(await cbt.cbt_bitmaps(ctx, sr, c), []);
  await cbt.cbt_enable(ctx, sr, c, c);
  assert.deepEqual(
    (await cbt.cbt_bitmaps(ctx, sr, c)).map((b) => [b.enabled, b.inUse]),
    [[true, false]],
  );
});

test('CBT: a resized disk keeps its bitmaps, sized to the new capacity', async (t) => {
  const { ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const a = randomUUID();
  const v = await proc.blockdev_create(ctx, sr, a, 4 * MiB);
  await cbt.cbt_enable(ctx, sr, a, a);
  await write(v.path, 0, 1);
  await proc.blockdev_grow(ctx, sr, a, 64 * MiB);
  await write(v.path, 40 * MiB, 1);
  const bits = (await cbt.cbt_changed_blocks(ctx, sr, a, a))!;
  assert.equal(Buffer.from(bits, 'base64').length, 128, '1024 blocks');
  assert.deepEqual(changedBlockIndices(bits), [0, 640]);
});
