// The file SR on real qcow2 images in a temp directory: create, clone/snapshot chains, copy,
// resize, destroy with coalescing GC, and recovery after a SIGKILL mid-operation.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as proc from '../../../src/agent/storage/procedures.js';
import { createImage, imageInfo } from '../../../src/agent/storage/qemu-img.js';
import type { SrConfig } from '../../../src/agent/storage/types.js';
import { tempDir } from '../../helpers/tmp.js';
import { hasPattern, writePattern } from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function setup(t: import('node:test').TestContext) {
  const root = tempDir(t, 'berth-sr-');
  const ctx = { allowedRoots: [root], stateDir: join(root, 'state') };
  const sr: SrConfig = { uuid: randomUUID(), type: 'file', deviceConfig: { location: join(root, 'sr1') } };
  return { root, ctx, sr };
}

const files = (dir: string) =>
  readdirSync(dir)
    .filter((n) => !n.startsWith('.berth'))
    .sort();

test('file SR: thin create, clone and snapshot share data, writes stay separate', async (t) => {
  const { ctx, sr } = setup(t);
  const stats = await proc.sr_create(ctx, sr);
  assert.ok(stats.physicalSize > 0 && stats.free > 0);
  const a = randomUUID();
  const va = await proc.blockdev_create(ctx, sr, a, 20 * GiB);
  assert.equal(va.virtualSize, 20 * GiB);
  assert.ok(va.physicalUtilisation < 4 * MiB, `thin: ${va.physicalUtilisation}`);
  await writePattern(va.path, 'qcow2', 0xab, 0, 4 * MiB);

  const c = randomUUID();
  const vc = await proc.blockdev_snapshot(ctx, sr, a, c);
  assert.equal(vc.virtualSize, 20 * GiB);
  assert.ok(await hasPattern(vc.path, 'qcow2', 0xab, 0, 4 * MiB), 'clone sees the data');
  assert.ok(await hasPattern(va.path, 'qcow2', 0xab, 0, 4 * MiB), 'source still sees it');
  await writePattern(vc.path, 'qcow2', 0xcd, 0, MiB);
  assert.ok(await hasPattern(va.path, 'qcow2', 0xab, 0, MiB), 'source unaffected by clone writes');
  const dir = sr.deviceConfig.location;
  const bases = files(dir).filter((n) => n.startsWith('base-'));
  assert.equal(bases.length, 1);
  assert.equal((await imageInfo(va.path)).backingFile, bases[0]);

  const scan = await proc.sr_scan(ctx, sr);
  assert.deepEqual(scan.volumes.map((v) => v.location).sort(), [a, c].sort());

  // Source gone: the base has one child left and is merged into it; the data survives.
  await proc.blockdev_remove(ctx, sr, a);
  const gc = await proc.sr_gc(ctx, sr, []);
  assert.ok(
    gc.some((l) => l.startsWith('coalesced')),
    gc.join('; '),
  );
  assert.deepEqual(files(dir), [`${c}.qcow2`]);
  assert.equal((await imageInfo(vc.path)).backingFile, undefined);
  assert.ok(await hasPattern(vc.path, 'qcow2', 0xcd, 0, MiB));
  assert.ok(await hasPattern(vc.path, 'qcow2', 0xab, MiB, 3 * MiB));
});

test('file SR: copy to another SR is independent; resize grows, never shrinks', async (t) => {
  const { root, ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const other: SrConfig = { uuid: randomUUID(), type: 'file', deviceConfig: { location: join(root, 'sr2') } };
  await proc.sr_create(ctx, other);
  const a = randomUUID();
  const va = await proc.blockdev_create(ctx, sr, a, 64 * MiB);
  await writePattern(va.path, 'qcow2', 0x5a, MiB, MiB);
  const b = randomUUID();
  const vb = await proc.blockdev_convert(ctx, sr, a, other, b);
  assert.equal(vb.path, join(root, 'sr2', `${b}.qcow2`));
  assert.ok(await hasPattern(vb.path, 'qcow2', 0x5a, MiB, MiB));
  assert.equal((await imageInfo(vb.path)).backingFile, undefined);
  const grown = await proc.blockdev_grow(ctx, sr, a, 128 * MiB);
  assert.equal(grown.virtualSize, 128 * MiB);
  await assert.rejects(proc.blockdev_grow(ctx, sr, a, MiB), (e: any) => e.code === 'VDI_TOO_SMALL');
  await assert.rejects(proc.blockdev_grow(ctx, sr, randomUUID(), MiB), (e: any) => e.code === 'VDI_MISSING');
});

test('file SR: device_config outside the allowed roots and unknown types are refused', async (t) => {
  const { ctx } = setup(t);
  await assert.rejects(
    proc.sr_create(ctx, { uuid: randomUUID(), type: 'file', deviceConfig: { location: '/etc/berth-evil' } }),
    (e: any) => e.code === 'INVALID_VALUE',
  );
  await assert.rejects(
    proc.sr_create(ctx, { uuid: randomUUID(), type: 'cifs', deviceConfig: {} }),
    (e: any) => e.code === 'SR_UNKNOWN_DRIVER' && e.params[0] === 'cifs',
  );
  assert.equal(existsSync('/etc/berth-evil'), false);
});

test('file SR: attach rolls an interrupted clone back or forward', async (t) => {
  const { ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const dir = sr.deviceConfig.location;
  const a = randomUUID();
  const va = await proc.blockdev_create(ctx, sr, a, 16 * MiB);
  await writePattern(va.path, 'qcow2', 0x11, 0, MiB);
  const journal = join(dir, '.berth-journal');
  mkdirSync(journal, { recursive: true });

  // Killed after the base link, before the source was replaced: roll back.
  const base = `base-${randomUUID()}.qcow2`;
  const c = randomUUID();
  writeFileSync(
    join(journal, 'i1.json'),
    JSON.stringify({
      id: 'i1',
      op: 'clone',
      src: `${a}.qcow2`,
      base,
      clone: `${c}.qcow2`,
      tmpLeaf: '.tmp-l.qcow2',
      tmpClone: '.tmp-c.qcow2',
    }),
  );
  linkSync(va.path, join(dir, base));
  await createImage(join(dir, '.tmp-l.qcow2'), 'qcow2', 16 * MiB, { file: base, format: 'qcow2' });
  let r = await proc.sr_attach(ctx, sr);
  assert.ok(
    r.fixed.some((f) => f.startsWith('rolled back clone')),
    r.fixed.join('; '),
  );
  assert.deepEqual(files(dir), [`${a}.qcow2`]);
  assert.ok(await hasPattern(va.path, 'qcow2', 0x11, 0, MiB));

  // Killed after the source was replaced, before the clone got its name: roll forward.
  const base2 = `base-${randomUUID()}.qcow2`;
  writeFileSync(
    join(journal, 'i2.json'),
    JSON.stringify({
      id: 'i2',
      op: 'clone',
      src: `${a}.qcow2`,
      base: base2,
      clone: `${c}.qcow2`,
      tmpLeaf: '.tmp-l2.qcow2',
      tmpClone: '.tmp-c2.qcow2',
    }),
  );
  linkSync(va.path, join(dir, base2));
  await createImage(join(dir, '.tmp-l2.qcow2'), 'qcow2', 16 * MiB, { file: base2, format: 'qcow2' });
  const { renameSync } = await import('node:fs');
  renameSync(join(dir, '.tmp-l2.qcow2'), va.path);
  r = await proc.sr_attach(ctx, sr);
  assert.ok(
    r.fixed.some((f) => f.startsWith('completed clone')),
    r.fixed.join('; '),
  );
  assert.deepEqual(files(dir), [`${a}.qcow2`, `${c}.qcow2`, base2].sort());
  assert.ok(await hasPattern(join(dir, `${c}.qcow2`), 'qcow2', 0x11, 0, MiB));
  assert.ok(await hasPattern(va.path, 'qcow2', 0x11, 0, MiB));
  assert.equal(readdirSync(journal).length, 0);
});

test('file SR: SIGKILL during a copy leaves no visible volume and attach removes the partial one', async (t) => {
  const { root, ctx, sr } = setup(t);
  await proc.sr_create(ctx, sr);
  const a = randomUUID();
  const va = await proc.blockdev_create(ctx, sr, a, 512 * MiB);
  await writePattern(va.path, 'qcow2', 0x77, 0, 384 * MiB);
  const newUuid = randomUUID();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'crash-child.ts'),
      'copy',
      JSON.stringify({
        roots: ctx.allowedRoots,
        state: ctx.stateDir,
        src: sr,
        dst: sr,
        location: a,
        newUuid,
      }),
    ],
    { stdio: 'ignore' },
  );
  t.after(() => child.kill('SIGKILL'));
  const dir = sr.deviceConfig.location;
  const deadline = Date.now() + 30_000;
  while (!readdirSync(dir).some((n) => n.startsWith('.tmp-')) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.ok(
    readdirSync(dir).some((n) => n.startsWith('.tmp-')),
    'killed mid-copy',
  );
  assert.deepEqual(
    (await proc.sr_scan(ctx, sr)).volumes.map((v) => v.location),
    [a],
    'partial copy is not a volume',
  );
  const r = await proc.sr_attach(ctx, sr);
  assert.ok(r.fixed.some((f) => f.startsWith('removed partial image')));
  assert.deepEqual(files(dir), [`${a}.qcow2`]);
  assert.ok(root);
});
