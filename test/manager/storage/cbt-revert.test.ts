// CBT and VM.revert (in-process manager, real agent, real qcow2 images, blocks written with
// qemu-io). xapi reverts by cloning the snapshot's disks (VDI.clone: cbt_enabled=false), so the
// reverted VM's disk is a new VDI without tracking and without bitmaps: nothing on it describes
// the content the revert threw away. The snapshots keep their own frozen bitmaps through the
// clone (cloning a snapshot replaces its image by an empty child of a base), so the backup chain
// S0 → S1 → S2 still answers list_changed_blocks exactly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { changedBlockIndices } from '../../../src/shared/cbt/changed-blocks.js';
import { runChecked } from '../../../src/shared/exec.js';
import { blocksOf, code, imageOf, startStorageManager } from './harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const MiB = 1024 * 1024;

async function writeAt(path: string, writes: [number, number][]) {
  for (const [off, len] of writes)
    await runChecked('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x33 ${off} ${len}`, path]);
}

const bitmapNames = async (path: string): Promise<string[]> =>
  (
    JSON.parse(await runChecked('qemu-img', ['info', '-U', '--output=json', path]))['format-specific']?.data
      ?.bitmaps ?? []
  ).map((b: { name: string }) => b.name);

test('CBT: VM.revert gives a new disk without CBT; the snapshots keep their bitmaps', async (t) => {
  const m = await startStorageManager(t);
  const [pool] = await m.call<string[]>('pool.get_all');
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vdi = await m.call<string>('VDI.create', vdiRecord(sr, 8 * MiB, { name_label: 'cbt disk' }));
  await m.call('VDI.enable_cbt', vdi);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'cbt-revert' }));
  await m.call('VBD.create', vbdRecord(vm, vdi));
  const diskOf = async (v: string) =>
    m.call<string>('VBD.get_VDI', (await m.call<string[]>('VM.get_VBDs', v))[0]);
  const snap = async (name: string) => {
    const s = await m.call<string>('VM.snapshot', vm, name, []);
    return { vm: s, vdi: await diskOf(s) };
  };
  const s0 = await snap('s0');
  const w1: [number, number][] = [
    [0, 512],
    [3 * MiB - 100, 200],
  ];
  await writeAt(await imageOf(m, vdi), w1);
  const s1 = await snap('s1');
  const w2: [number, number][] = [[5 * MiB, 70 * 1024]];
  await writeAt(await imageOf(m, vdi), w2);
  const s2 = await snap('s2');
  const diff = async (a: string, b: string) =>
    changedBlockIndices(await m.call('VDI.list_changed_blocks', a, b));
  assert.deepEqual(await diff(s0.vdi, s1.vdi), blocksOf(w1));
  assert.deepEqual(await diff(s1.vdi, s2.vdi), blocksOf(w2));

  await m.call('VM.revert', s1.vm);
  const reverted = await diskOf(vm);
  assert.notEqual(reverted, vdi, 'xapi’s clone path: a new disk');
  assert.equal(await m.call('VDI.get_cbt_enabled', reverted), false);
  assert.deepEqual(await bitmapNames(await imageOf(m, reverted)), [], 'no bitmap of the old disk’s past');
  await assert.rejects(m.call('VDI.list_changed_blocks', s1.vdi, reverted), code('VDI_NO_CBT_METADATA'));
  // The snapshot reverted to was cloned (its image replaced): its frozen bitmaps are still there.
  assert.equal(await m.call('VDI.get_cbt_enabled', s1.vdi), true);
  assert.deepEqual(await diff(s0.vdi, s1.vdi), blocksOf(w1));
  assert.deepEqual(await diff(s1.vdi, s2.vdi), blocksOf(w2));
  assert.deepEqual(await diff(s0.vdi, s2.vdi), blocksOf([...w1, ...w2]));
  // Tracking starts again only when asked for, from the reverted content.
  await m.call('VDI.enable_cbt', reverted);
  const s3 = await snap('s3');
  const w3: [number, number][] = [[7 * MiB, 1]];
  await writeAt(await imageOf(m, reverted), w3);
  const s4 = await snap('s4');
  assert.deepEqual(await diff(s3.vdi, s4.vdi), blocksOf(w3));
  // Generations of the discarded timeline never reach the new disk's snapshots.
  await assert.rejects(m.call('VDI.list_changed_blocks', s2.vdi, s4.vdi), code('VDI_NO_CBT_METADATA'));
});
