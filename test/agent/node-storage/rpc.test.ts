// The node-storage procedures on a real agent over its Unix socket, on a real file SR, real loop
// devices and real qemu-io: sizes, wipe (bounds, QEMU's lock, read back), labels, renames, NBD
// close, test_delay, the watcher pause, hypervisor parameters and file storage units; every path
// or device argument also tried with traversal and injection.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run, runChecked } from '../../../src/shared/exec.js';
import type { SrConfig } from '../../../src/shared/host/storage.js';
import { startAgentIn } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 1024 * 1024;
const code = (c: string, p0?: string) => (e: unknown) => {
  const d = (e as { code?: string; params?: string[] }) ?? {};
  return d.code === c && (p0 === undefined || d.params?.[0] === p0);
};

async function agentWithFileSr(t: import('node:test').TestContext) {
  const dir = tempDir(t, 'berth-bdevmisc-');
  const state = join(dir, 'state');
  const a = await startAgentIn(dir, { stateRoot: state });
  t.after(async () => {
    a.client.close();
    await a.agent.close();
  });
  const sr: SrConfig = {
    uuid: randomUUID(),
    type: 'file',
    deviceConfig: { location: join(state, 'sr', 'f1') },
  };
  await a.client.sr_create(sr);
  return { a, c: a.client, ns: a.client.nodeStorage, sr, state, dir };
}

/** A process holding QEMU's write lock on an image (as a running VM does) until killed. */
function holdImage(t: import('node:test').TestContext, path: string): Promise<ChildProcess> {
  const p = spawn('qemu-io', ['-f', 'qcow2', '-c', 'sleep 60000', '--', path], { stdio: 'ignore' });
  t.after(() => {
    p.kill('SIGKILL');
  });
  return new Promise((r) => setTimeout(() => r(p), 500));
}

test('bdev_sizes: /dev block devices only, everything else left out', async (t) => {
  const { ns, dir } = await agentWithFileSr(t);
  const img = join(dir, 'bdevmisc-8m.img');
  writeFileSync(img, '');
  await runChecked('truncate', ['-s', '8M', img]);
  const loop = (await runChecked('losetup', ['--find', '--show', img])).trim();
  t.after(() => run('losetup', ['-d', loop]));
  const got = await ns.bdev_sizes([
    loop,
    img, // a file, not under /dev
    '/dev/null', // a character device
    `/dev/../${img.slice(1)}`,
    '/dev/../etc/passwd',
    `${loop};id`,
    `$(id)`,
    'loop0',
    '/dev/nonexistent-bdevmisc',
  ]);
  assert.deepEqual(got, { [loop]: 8 });
  await assert.rejects(ns.bdev_sizes('/dev/sda' as unknown as string[]), code('INVALID_VALUE', 'devices'));
});

test('blockdev_wipe: zeroes the span, Ganeti’s bounds, QEMU’s lock, confined to the SR’s volumes', async (t) => {
  const { c, ns, sr } = await agentWithFileSr(t);
  const v = await c.blockdev_create(sr, randomUUID(), 8 * MiB);
  await runChecked('qemu-io', ['-f', 'qcow2', '-c', `write -P 0xab 0 ${8 * MiB}`, v.path]);
  await ns.blockdev_wipe(sr, v.location, 1, 2);
  const read = (pattern: string, off: number, len: number) =>
    run('qemu-io', ['-f', 'qcow2', '-c', `read -P ${pattern} ${off * MiB} ${len * MiB}`, v.path]);
  assert.doesNotMatch((await read('0', 1, 2)).stdout, /mismatch|fail/i);
  assert.doesNotMatch((await read('0xab', 0, 1)).stdout, /mismatch|fail/i);
  assert.doesNotMatch((await read('0xab', 3, 5)).stdout, /mismatch|fail/i);
  assert.match((await read('0', 0, 1)).stdout, /verification failed/i); // the check itself can fail

  await assert.rejects(ns.blockdev_wipe(sr, v.location, 9, 0), code('INVALID_VALUE', 'offset'));
  await assert.rejects(ns.blockdev_wipe(sr, v.location, 4, 5), code('INVALID_VALUE', 'size'));
  await assert.rejects(ns.blockdev_wipe(sr, v.location, -1, 1), code('INVALID_VALUE', 'offset'));
  await assert.rejects(ns.blockdev_wipe(sr, v.location, 0, 1.5), code('INVALID_VALUE', 'size'));
  // Only volumes of the SR, through its driver: no traversal, no foreign paths, no other roots.
  for (const loc of ['../../../etc/passwd', `${v.location}/../x`, '-f', '$(id)'])
    await assert.rejects(ns.blockdev_wipe(sr, loc, 0, 1), code('VDI_MISSING'), loc);
  await assert.rejects(
    ns.blockdev_wipe({ ...sr, deviceConfig: { location: '/etc' } }, v.location, 0, 1),
    code('INVALID_VALUE', 'device_config:location'),
  );
  await assert.rejects(
    ns.blockdev_wipe(
      { ...sr, deviceConfig: { location: `${sr.deviceConfig.location}/../../../..` } },
      v.location,
      0,
      1,
    ),
    code('INVALID_VALUE', 'device_config:location'),
  );
  // A volume held open for writing (a VM's QEMU) is not wiped under it.
  const holder = await holdImage(t, v.path);
  await assert.rejects(ns.blockdev_wipe(sr, v.location, 0, 1), code('VDI_IN_USE', v.location));
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assert.doesNotMatch((await read('0xab', 0, 1)).stdout, /mismatch|fail/i);
});

test('blockdev_setinfo / rename / close on a file SR', async (t) => {
  const { c, ns, sr, state } = await agentWithFileSr(t);
  const v = await c.blockdev_create(sr, randomUUID(), MiB);
  assert.equal(await ns.blockdev_getinfo(sr, v.location), '');
  await ns.blockdev_setinfo(sr, v.location, 'originstname+vm1');
  assert.equal(await ns.blockdev_getinfo(sr, v.location), 'originstname+vm1');
  assert.deepEqual(JSON.parse(readFileSync(join(state, 'storage', 'bdev-info', `${sr.uuid}.json`), 'utf8')), {
    [v.location]: 'originstname+vm1',
  });
  await assert.rejects(ns.blockdev_setinfo(sr, '../x', 'a'), code('VDI_MISSING'));
  await assert.rejects(
    ns.blockdev_setinfo({ ...sr, uuid: '../../etc' }, v.location, 'a'),
    code('INVALID_VALUE'),
  );
  await assert.rejects(ns.blockdev_setinfo(sr, v.location, 'x'.repeat(2000)), code('INVALID_VALUE', 'info'));

  const to = randomUUID();
  const [renamed] = await ns.blockdev_rename(sr, [[v.location, to]]);
  assert.equal(renamed.location, to);
  assert.equal(renamed.path, join(sr.deviceConfig.location, `${to}.qcow2`));
  assert.equal(await c.blockdev_find(sr, v.location), null);
  assert.equal(await ns.blockdev_getinfo(sr, to), 'originstname+vm1');
  // Errors are collected; the good pair of a list still goes through.
  const other = await c.blockdev_create(sr, randomUUID(), MiB);
  const third = randomUUID();
  await assert.rejects(
    ns.blockdev_rename(sr, [
      [randomUUID(), randomUUID()],
      [to, '../../../../tmp/escaped'],
      [to, other.location],
      [other.location, third],
    ]),
    (e: { code?: string; params?: string[] }) =>
      e.code === 'SR_BACKEND_FAILURE' &&
      /Can't find device .* in rename; invalid new location '\.\.\/\.\.\/\.\.\/\.\.\/tmp\/escaped'; .* exists already/.test(
        e.params?.[2] ?? '',
      ),
  );
  assert.ok(await c.blockdev_find(sr, third));
  assert.ok(await c.blockdev_find(sr, to));
  const holder = await holdImage(t, join(sr.deviceConfig.location, `${to}.qcow2`));
  await assert.rejects(ns.blockdev_rename(sr, [[to, randomUUID()]]), (e: { params?: string[] }) =>
    /is in use/.test(e.params?.[2] ?? ''),
  );
  holder.kill('SIGKILL');

  // close: the agent's NBD exports of these volumes end.
  await c.blockdev_nbd_open(sr, third, { readOnly: true });
  await c.blockdev_nbd_open(sr, third, { readOnly: true });
  assert.equal((await c.blockdev_nbd_list()).length, 2);
  assert.equal(await ns.blockdev_close(sr, [third]), 2);
  assert.deepEqual(await c.blockdev_nbd_list(), []);
  assert.equal(await ns.blockdev_close(sr, [third]), 0);
});

test('test_delay, the watcher pause, hypervisor parameters', async (t) => {
  const { ns, state, dir } = await agentWithFileSr(t);
  assert.equal(await ns.test_delay(0), true);
  const t0 = Date.now();
  await ns.test_delay(0.3);
  assert.ok(Date.now() - t0 >= 290);
  for (const d of [-1, 3601, 'x'])
    await assert.rejects(ns.test_delay(d as number), code('INVALID_VALUE', 'duration'), String(d));

  assert.equal(await ns.get_watcher_pause(), null);
  const until = Math.floor(Date.now() / 1000) + 3600;
  await ns.set_watcher_pause(until);
  assert.equal(await ns.get_watcher_pause(), until);
  assert.equal(readFileSync(join(state, 'watcher.pause'), 'utf8'), `${until}\n`);
  await ns.set_watcher_pause(1000); // in the past: no pause
  assert.equal(await ns.get_watcher_pause(), null);
  await ns.set_watcher_pause(null);
  assert.equal(await ns.get_watcher_pause(), null);
  await assert.rejects(ns.set_watcher_pause('../x' as unknown as number), code('INVALID_VALUE', 'until'));

  const kernel = join(dir, 'vmlinuz');
  writeFileSync(kernel, 'k');
  assert.deepEqual(
    await ns.hypervisor_validate_params('kvm', {
      PV_kernel: kernel,
      VCPUs_at_startup: '2',
      'platform:acpi': '1',
    }),
    { ignored: ['platform:acpi'] },
  );
  await assert.rejects(
    ns.hypervisor_validate_params('kvm', { PV_kernel: join(dir, 'missing') }),
    code('INVALID_VALUE', 'PV_kernel'),
  );
  await assert.rejects(
    ns.hypervisor_validate_params('kvm', { PV_kernel: dir }),
    code('INVALID_VALUE', 'PV_kernel'),
  );
  await assert.rejects(ns.hypervisor_validate_params('xen-pvm', {}), code('INVALID_VALUE', 'hvname'));
  await assert.rejects(
    ns.hypervisor_validate_params('kvm', { kvm_extra: '-device x' }),
    code('INVALID_VALUE', 'kvm_extra'),
  );
});

test('storage_list file: the agent’s SR roots, directories confined to them', async (t) => {
  const { c, ns, sr, state } = await agentWithFileSr(t);
  await c.blockdev_create(sr, randomUUID(), 4 * MiB);
  const root = join(state, 'sr');
  const rows = await ns.storage_list('file', [], null, [
    'name',
    'type',
    'size',
    'used',
    'free',
    'allocatable',
  ]);
  assert.equal(rows.length, 1);
  const [name, type, size, used, free, alloc] = rows[0] as [string, string, number, number, number, boolean];
  assert.deepEqual([name, type, alloc], [root, 'file', true]);
  assert.ok(size > 0 && free > 0 && free <= size && used > 0, JSON.stringify(rows));
  assert.deepEqual(
    await ns.storage_list('file', [sr.deviceConfig.location], sr.deviceConfig.location, ['name']),
    [[sr.deviceConfig.location]],
  );
  mkdirSync(join(state, 'outside'), { recursive: true });
  for (const bad of ['/etc', join(root, '..', 'outside'), `${root}/../outside`, 'relative', `${root};id`])
    await assert.rejects(ns.storage_list('file', [bad], null, ['name']), code('INVALID_VALUE'), bad);
  await assert.rejects(ns.storage_list('file', [], null, ['vg']), code('INVALID_VALUE', 'fields'));
  await assert.rejects(ns.storage_list('drbd' as 'file', [], null, ['name']), code('INVALID_VALUE', 'type'));
  await assert.rejects(
    ns.storage_modify('file', [], root, { allocatable: false }),
    code('OPERATION_NOT_ALLOWED'),
  );
  await assert.rejects(
    ns.storage_execute('file', [], root, 'fix-consistency'),
    code('OPERATION_NOT_ALLOWED'),
  );
});
