// The file SR's side of a live snapshot, on real qcow2 files (QEMU's move is played by writing
// the overlay with qemu-io): prepare leaves the leaf unnamed and the running image as the base,
// commit names the overlay and the snapshot, abort puts everything back, a crash in between is
// repaired, GC keeps the base of a snapshot in progress, and the agent procedure refuses raw
// LVM volumes and bad arguments before touching anything.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { diskSnapshotArgs, snapshotDisks } from '../../../src/agent/disk-snapshot.js';
import type { InstanceManager } from '../../../src/agent/instances.js';
import {
  LIVE_SNAPSHOT_OP,
  liveSnapshotIn,
  recoverLiveSnapshot,
} from '../../../src/agent/storage/file-live-snapshot.js';
import { fileDriver, journalOf, leafName } from '../../../src/agent/storage/file-sr.js';
import { createImage, imageInfo } from '../../../src/agent/storage/qemu-img.js';
import { run } from '../../../src/shared/exec.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { tempDir } from '../../helpers/tmp.js';
import { hasPattern, writePattern } from './helpers.js';

const MiB = 1024 * 1024;
const LEAF = '11111111-1111-4111-8111-111111111111';
const SNAP = '22222222-2222-4222-8222-222222222222';

async function srWithDisk(t: Parameters<typeof tempDir>[0]) {
  const root = tempDir(t, 'berth-livesnap-');
  const dir = join(root, 'sr');
  mkdirSync(dir);
  const leaf = join(dir, leafName(LEAF));
  await createImage(leaf, 'qcow2', 4 * MiB);
  await writePattern(leaf, 'qcow2', 0xaa, 0, 64 * 1024);
  return { root, dir, leaf, ino: statSync(leaf).ino };
}

const checked = async (path: string) => (await run('qemu-img', ['check', '-q', path])).code === 0;

test('prepare, QEMU moves, commit: the leaf keeps its name and gets the new data; the snapshot is frozen', async (t) => {
  const { dir, leaf, ino } = await srWithDisk(t);
  const p = await liveSnapshotIn(dir, LEAF, SNAP);
  // While QEMU moves, the leaf has no name (QEMU's read-only reopen by name must fail).
  assert.equal(existsSync(leaf), false);
  assert.equal(p.leaf, leaf);
  assert.equal(statSync(p.frozen).ino, ino, 'the base is the image QEMU has open');
  assert.equal((await imageInfo(p.overlay)).backingFile, p.frozen.slice(dir.length + 1));
  await writePattern(p.overlay, 'qcow2', 0xbb, 0, 64 * 1024); // the guest writes on, on the overlay
  const vol = await p.commit();
  assert.equal(vol.location, SNAP);
  assert.equal(vol.virtualSize, 4 * MiB);
  assert.notEqual(statSync(leaf).ino, ino);
  assert.ok(await hasPattern(leaf, 'qcow2', 0xbb, 0, 64 * 1024));
  assert.ok(await hasPattern(vol.path, 'qcow2', 0xaa, 0, 64 * 1024));
  for (const f of [leaf, vol.path, p.frozen]) assert.ok(await checked(f), f);
  assert.deepEqual(journalOf(dir).pending(), []);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('.tmp-')),
    [],
  );
});

test('abort (QEMU did not move) puts the running image back under its name, nothing else left', async (t) => {
  const { dir, leaf, ino } = await srWithDisk(t);
  const before = readdirSync(dir).sort();
  const p = await liveSnapshotIn(dir, LEAF, SNAP);
  await p.abort();
  assert.equal(statSync(leaf).ino, ino);
  assert.deepEqual(
    readdirSync(dir)
      .filter((n) => !n.startsWith('.berth'))
      .sort(),
    before,
  );
  assert.deepEqual(journalOf(dir).pending(), []);
  assert.ok(await hasPattern(leaf, 'qcow2', 0xaa, 0, 64 * 1024));
});

test('a crash between prepare and commit is repaired: the leaf gets a name, the snapshot is dropped', async (t) => {
  const { dir, leaf } = await srWithDisk(t);
  const p = await liveSnapshotIn(dir, LEAF, SNAP);
  await writePattern(p.overlay, 'qcow2', 0xcc, 0, 4096); // QEMU had moved
  const [intent] = journalOf(dir).pending();
  assert.equal(intent.op, LIVE_SNAPSHOT_OP);
  const fixed = recoverLiveSnapshot(dir, intent);
  assert.match(fixed[0], /completed live snapshot/);
  assert.ok(await hasPattern(leaf, 'qcow2', 0xcc, 0, 4096));
  assert.ok(await hasPattern(leaf, 'qcow2', 0xaa, 4096, 60 * 1024), 'the rest comes from the base');
  assert.equal(existsSync(join(dir, leafName(SNAP))), false);
});

test('GC keeps the base of a live snapshot in progress (its children are still temporaries)', async (t) => {
  const { root, dir } = await srWithDisk(t);
  const p = await liveSnapshotIn(dir, LEAF, SNAP);
  const sr = { uuid: 'x', type: 'file', deviceConfig: { location: dir } };
  const done = await fileDriver.gc(sr, [], { allowedRoots: [root], stateDir: join(root, 'state') });
  assert.deepEqual(done, []);
  assert.ok(existsSync(p.frozen));
  await p.commit();
});

test('the agent procedure refuses raw LVM volumes and bad arguments before touching anything', async () => {
  const untouched = {
    snapshotDisks: () => assert.fail('QEMU must not be asked'),
  } as unknown as InstanceManager;
  const lvm = { uuid: 'lvm-sr', type: 'lvm', deviceConfig: { device: '/dev/null' } };
  await assert.rejects(
    snapshotDisks(
      untouched,
      { allowedRoots: ['/nonexistent'], stateDir: '/nonexistent' },
      'u',
      [{ device: 'xvda', sr: lvm, location: 'a', newUuid: SNAP }],
      {},
    ),
    (e) => e instanceof XenApiError && e.code === 'SR_OPERATION_NOT_SUPPORTED' && e.params[0] === 'lvm-sr',
  );
  const bad = (disks: unknown, opts: unknown = {}) =>
    assert.throws(
      () => diskSnapshotArgs(disks, opts),
      (e) => e instanceof XenApiError && e.code === 'INVALID_VALUE',
    );
  bad('xvda');
  bad([]);
  bad([{ device: 'xvda', sr: lvm, location: 1, newUuid: SNAP }]);
  bad([{ device: '../x', sr: lvm, location: 'a', newUuid: SNAP }]);
  bad([
    { device: 'xvda', sr: lvm, location: 'a', newUuid: SNAP },
    { device: 'xvda', sr: lvm, location: 'b', newUuid: LEAF },
  ]);
  bad([], { memoryPath: 7 });
  // A checkpoint of a diskless VM has no disk.
  assert.deepEqual(diskSnapshotArgs([], { memoryPath: '/x' }).requests, []);
});
