// Changed-block tracking through the real API (in-process manager, real agent, real qcow2 images):
// enable_cbt, snapshots, blocks written with qemu-io, list_changed_blocks between snapshots,
// data_destroy, disable_cbt, xapi's errors, and the xe commands.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { CBT_BLOCK, changedBlockIndices } from '../../../src/shared/cbt/changed-blocks.js';
import { runChecked } from '../../../src/shared/exec.js';
import { xe } from '../cli/harness.js';
import { blocksOf, code, imageOf, startStorageManager } from './harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const MiB = 1024 * 1024;
const NULL = 'OpaqueRef:NULL';

const vdiRec = (sr: string, size: number) => vdiRecord(sr, size, { name_label: 'cbt disk' });

async function writeAt(path: string, writes: [number, number][]) {
  for (const [off, len] of writes)
    await runChecked('qemu-io', ['-f', 'qcow2', '-c', `write ${off} ${len}`, path]);
}

async function bitmapsOf(path: string): Promise<{ name: string; flags: string[] }[]> {
  const info = JSON.parse(await runChecked('qemu-img', ['info', '-U', '--output=json', path]));
  return info['format-specific']?.data?.bitmaps ?? [];
}

async function backingOf(path: string): Promise<string | undefined> {
  return JSON.parse(await runChecked('qemu-img', ['info', '-U', '--output=json', path]))['backing-filename'];
}

test('CBT: snapshots, list_changed_blocks = exactly the written blocks, data_destroy, disable', async (t) => {
  const m = await startStorageManager(t);
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, 64 * MiB + 20 * 1024));
  const uuid = await m.call<string>('VDI.get_uuid', vdi);
  const disk = await imageOf(m, vdi);
  await writeAt(disk, [[0, 8 * MiB]]); // data from before tracking

  assert.equal(await m.call('VDI.get_cbt_enabled', vdi), false);
  await m.call('VDI.enable_cbt', vdi);
  await m.call('VDI.enable_cbt', vdi); // idempotent
  assert.equal(await m.call('VDI.get_cbt_enabled', vdi), true);
  assert.deepEqual(
    (await bitmapsOf(disk)).map((b) => [b.name, b.flags]),
    [[`berth-cbt-${uuid}`, ['auto']]],
    'one enabled persistent bitmap',
  );
  // xapi never lists the CBT operations in allowed_operations; set_on_boot goes while CBT is on.
  const ops = await m.call<string[]>('VDI.get_allowed_operations', vdi);
  assert.ok(!ops.includes('set_on_boot') && ops.includes('snapshot'), ops.join(','));
  await assert.rejects(m.call('VDI.set_on_boot', vdi, 'reset'), code('VDI_CBT_ENABLED', [vdi]));

  const s1 = await m.call<string>('VDI.snapshot', vdi, {});
  assert.equal(await m.call('VDI.get_cbt_enabled', s1), true, 'snapshot carries cbt_enabled');
  const first: [number, number][] = [
    [0, 512], // block 0
    [5 * CBT_BLOCK + 4096, 4096], // block 5
    [10 * CBT_BLOCK - 512, 1024], // blocks 9 and 10
    [33 * MiB, 3 * CBT_BLOCK], // 528..530
    [64 * MiB + 8 * 1024, 512], // the partial last block, 1024
  ];
  await writeAt(disk, first);
  const s2 = await m.call<string>('VDI.snapshot', vdi, {});
  const d12 = await m.call<string>('VDI.list_changed_blocks', s1, s2);
  assert.deepEqual(changedBlockIndices(d12), blocksOf(first), 'exactly the written blocks');
  assert.equal(Buffer.from(d12, 'base64').length, Math.ceil(1025 / 8), 'one bit per 64 KiB block');
  assert.deepEqual(changedBlockIndices(await m.call('VDI.list_changed_blocks', s2, s2)), []);

  const second: [number, number][] = [
    [7 * CBT_BLOCK, 1],
    [40 * MiB, 2 * MiB],
  ];
  await writeAt(disk, second);
  // A clone in between keeps the source's tracking and starts without CBT itself.
  const clone = await m.call<string>('VDI.clone', vdi, {});
  assert.equal(await m.call('VDI.get_cbt_enabled', clone), false);
  assert.deepEqual(await bitmapsOf(await imageOf(m, clone)), []);
  const third: [number, number][] = [[60 * MiB, 4096]];
  await writeAt(disk, third);
  const s3 = await m.call<string>('VDI.snapshot', vdi, {});
  assert.deepEqual(
    changedBlockIndices(await m.call('VDI.list_changed_blocks', s2, s3)),
    blocksOf([...second, ...third]),
  );
  assert.deepEqual(
    changedBlockIndices(await m.call('VDI.list_changed_blocks', s1, s3)),
    blocksOf([...first, ...second, ...third]),
  );
  // Newer to older: s1 holds no bitmap of s3's generation. Never answered as "no change".
  await assert.rejects(m.call('VDI.list_changed_blocks', s3, s1), code('VDI_NO_CBT_METADATA', [s3]));

  // data_destroy: s2's data goes, its metadata and bitmaps stay; the diff still works both ways.
  const s2Image = await imageOf(m, s2);
  await m.call('VDI.data_destroy', s2);
  assert.equal(await m.call('VDI.get_type', s2), 'cbt_metadata');
  assert.equal(await m.call('VDI.get_cbt_enabled', s2), true);
  assert.equal(await backingOf(s2Image), undefined, 'no data left behind the image');
  assert.deepEqual(
    (await bitmapsOf(s2Image)).map((b) => b.name).sort(),
    [`berth-cbt-${await m.call('VDI.get_uuid', s1)}`],
    'frozen CBT bitmaps kept',
  );
  assert.deepEqual(changedBlockIndices(await m.call('VDI.list_changed_blocks', s1, s2)), blocksOf(first));
  assert.deepEqual(
    changedBlockIndices(await m.call('VDI.list_changed_blocks', s2, s3)),
    blocksOf([...second, ...third]),
  );
  await m.call('VDI.data_destroy', s2); // no-op on cbt_metadata
  await assert.rejects(m.call('VDI.clone', s2, {}), code('VDI_INCOMPATIBLE_TYPE', [s2, 'cbt_metadata']));
  const ops2 = await m.call<string[]>('VDI.get_allowed_operations', s2);
  assert.ok(!ops2.includes('clone') && !ops2.includes('snapshot') && ops2.includes('destroy'), ops2.join());
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'cbt-vm' }));
  await assert.rejects(
    m.call('VBD.create', vbdRecord(vm, s2, { userdevice: 'autodetect', bootable: false, mode: 'RO' })),
    code('VDI_INCOMPATIBLE_TYPE', [s2, 'cbt_metadata']),
  );

  // Errors xapi answers.
  await assert.rejects(
    m.call('VDI.data_destroy', vdi),
    code('OPERATION_NOT_ALLOWED', [`VDI is not a snapshot: ${vdi}`]),
  );
  await assert.rejects(
    m.call('VDI.enable_cbt', s1),
    code('OPERATION_NOT_ALLOWED', [`VDI is a snapshot: ${s1}`]),
  );
  const plainSnap = await m.call<string>('VDI.snapshot', clone, {});
  await assert.rejects(m.call('VDI.data_destroy', plainSnap), code('VDI_NO_CBT_METADATA', [plainSnap]));
  await assert.rejects(
    m.call('VDI.list_changed_blocks', s1, plainSnap),
    code('VDI_NO_CBT_METADATA', [plainSnap]),
  );
  await assert.rejects(m.call('VDI.list_changed_blocks', 'OpaqueRef:nope', s3), code('HANDLE_INVALID'));
  await assert.rejects(m.call('VDI.enable_cbt', NULL), code('HANDLE_INVALID'));

  // disable_cbt: every bitmap gone from the image; later snapshots have no CBT.
  await m.call('VDI.disable_cbt', vdi);
  await m.call('VDI.disable_cbt', vdi); // idempotent
  assert.equal(await m.call('VDI.get_cbt_enabled', vdi), false);
  assert.deepEqual(await bitmapsOf(disk), [], 'qemu-img info shows no bitmap');
  const s4 = await m.call<string>('VDI.snapshot', vdi, {});
  assert.equal(await m.call('VDI.get_cbt_enabled', s4), false);
  await assert.rejects(m.call('VDI.list_changed_blocks', s3, s4), code('VDI_NO_CBT_METADATA', [s4]));
  for (const img of [disk, s2Image, await imageOf(m, s3)])
    await runChecked('qemu-img', ['check', '-U', '-q', img]);
});

test('CBT: SRs without bitmap support answer SR_OPERATION_NOT_SUPPORTED; attached disks VDI_IN_USE', async (t) => {
  const m = await startStorageManager(t);
  const { db } = m.manager;
  // An LVM SR (raw volumes, no qcow2 bitmaps): the checks come before any volume is touched.
  const lvm = await m.call<string>('SR.introduce', crypto.randomUUID(), 'lvm', '', 'lvm', 'user', false, {});
  const lv = db.create('VDI', {
    uuid: crypto.randomUUID(),
    name_label: 'lv',
    SR: lvm,
    virtual_size: 4 * MiB,
    type: 'user',
    location: crypto.randomUUID(),
  });
  for (const call of ['VDI.enable_cbt', 'VDI.disable_cbt', 'VDI.data_destroy'])
    await assert.rejects(m.call(call, lv), code('SR_OPERATION_NOT_SUPPORTED', [lvm]), call);
  await assert.rejects(m.call('VDI.list_changed_blocks', lv, lv), code('SR_OPERATION_NOT_SUPPORTED', [lvm]));

  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, 4 * MiB));
  await m.call('VDI.enable_cbt', vdi);
  const snap = await m.call<string>('VDI.snapshot', vdi, {});
  // A VBD that a running VM has plugged: list_changed_blocks and data_destroy refuse.
  const vbd = db.create('VBD', {
    uuid: crypto.randomUUID(),
    VM: await m.call<string>('VM.create', baseVmRecord({ name_label: 'holder' })),
    VDI: snap,
    currently_attached: true,
    mode: 'RO',
    type: 'Disk',
    userdevice: '7',
  });
  // The disk itself held by a VM that is not running: its bitmaps are nobody's to change now.
  const holder = db.create('VBD', {
    uuid: crypto.randomUUID(),
    VM: await m.call<string>('VM.create', baseVmRecord({ name_label: 'halted holder' })),
    VDI: vdi,
    currently_attached: true,
    mode: 'RW',
    type: 'Disk',
    userdevice: '6',
  });
  await assert.rejects(m.call('VDI.disable_cbt', vdi), code('VDI_IN_USE', [vdi, 'disable_cbt']));
  db.destroy('VBD', holder);
  await assert.rejects(
    m.call('VDI.list_changed_blocks', snap, snap),
    code('VDI_IN_USE', [snap, 'list_changed_blocks']),
  );
  const { dataDestroy } = await import('../../../src/manager/storage/cbt.js');
  await assert.rejects(
    dataDestroy(m.manager.svc, snap, 'OpaqueRef:t', 200),
    code('VDI_IN_USE', [snap, 'data_destroy']),
  );
  assert.equal(await m.call('VDI.get_type', snap), 'user', 'type restored after the failure');
  db.destroy('VBD', vbd);
  await dataDestroy(m.manager.svc, snap, 'OpaqueRef:t', 200);
  assert.equal(await m.call('VDI.get_type', snap), 'cbt_metadata');
});

test('CBT: xe vdi-enable-cbt, vdi-list-changed-blocks, vdi-data-destroy, vdi-disable-cbt', async (t) => {
  const m = await startStorageManager(t);
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, 16 * MiB));
  const uuid = await m.call<string>('VDI.get_uuid', vdi);
  const run = async (...args: string[]) => {
    const r = await xe(m, args);
    assert.equal(r.code, 0, `xe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await run('vdi-enable-cbt', `uuid=${uuid}`);
  assert.equal(await run('vdi-param-get', `uuid=${uuid}`, 'param-name=cbt-enabled'), 'true');
  const a = await run('vdi-snapshot', `uuid=${uuid}`);
  const writes: [number, number][] = [[3 * MiB, 100_000]];
  await writeAt(await imageOf(m, vdi), writes);
  const b = await run('vdi-snapshot', `uuid=${uuid}`);
  const out = await run('vdi-list-changed-blocks', `vdi-from-uuid=${a}`, `vdi-to-uuid=${b}`);
  assert.deepEqual(changedBlockIndices(out), blocksOf(writes));
  await run('vdi-data-destroy', `uuid=${a}`);
  assert.equal(await run('vdi-param-get', `uuid=${a}`, 'param-name=type'), 'CBT metadata');
  await run('vdi-disable-cbt', `uuid=${uuid}`);
  assert.deepEqual(await bitmapsOf(await imageOf(m, vdi)), []);
  const bad = await xe(m, ['vdi-enable-cbt', `uuid=${a}`]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /VDI_INCOMPATIBLE_TYPE|incompatible type/i);
});

test('CBT: VM.snapshot carries tracking; bitmaps of destroyed snapshots are dropped at the next one', async (t) => {
  const m = await startStorageManager(t);
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, 8 * MiB));
  const disk = await imageOf(m, vdi);
  await m.call('VDI.enable_cbt', vdi);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'cbt-vm' }));
  await m.call('VBD.create', vbdRecord(vm, vdi));
  const vdiOfSnapshot = async (snapVm: string) => {
    const vbds = await m.call<string[]>('VM.get_VBDs', snapVm);
    return m.call<string>('VBD.get_VDI', vbds[0]);
  };
  const snapA = await vdiOfSnapshot(await m.call<string>('VM.snapshot', vm, 'a', []));
  assert.equal(await m.call('VDI.get_cbt_enabled', snapA), true);
  await writeAt(disk, [[2 * MiB, 10]]);
  const snapB = await vdiOfSnapshot(await m.call<string>('VM.snapshot', vm, 'b', []));
  assert.deepEqual(changedBlockIndices(await m.call('VDI.list_changed_blocks', snapA, snapB)), [32]);
  const [ua, ub] = [await m.call('VDI.get_uuid', snapA), await m.call('VDI.get_uuid', snapB)];
  assert.deepEqual(
    (await bitmapsOf(disk)).map((b) => b.name).sort(),
    [`berth-cbt-${ua}`, `berth-cbt-${ub}`].sort(),
  );
  // The backup tool is done with A: its generation is no longer carried.
  await m.call('VDI.destroy', snapA);
  await m.call<string>('VDI.snapshot', vdi, {});
  const names = (await bitmapsOf(disk)).map((b) => b.name);
  assert.ok(!names.includes(`berth-cbt-${ua}`) && names.includes(`berth-cbt-${ub}`), names.join());
  assert.equal(names.length, 2);
});
