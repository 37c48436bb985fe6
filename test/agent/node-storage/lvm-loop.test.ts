// LVM storage units on a real agent over real loop devices: an lvm SR (Berth's VG_XenStorage-<uuid>)
// and a foreign volume group of "the administrator", both made here and always removed. vgcreate
// works on this machine but lvcreate does not (no device-mapper), so real `lvs` runs on volume
// groups without LVs here; LV lines are covered by pure.test.ts on fixtures (fixtures/README.md).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run, runChecked } from '../../../src/shared/exec.js';
import type { SrConfig } from '../../../src/shared/host/storage.js';
import { startAgentIn } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string, p0?: string) => (e: unknown) => {
  const d = (e as { code?: string; params?: string[] }) ?? {};
  return d.code === c && (p0 === undefined || d.params?.[0] === p0);
};
const LVM_ENV = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };

test('lv_list, vg_list, node_volumes, storage units of lvm-vg and lvm-pv; changes only on Berth’s VGs', async (t) => {
  const dir = tempDir(t, 'berth-bdevmisc-lvm-');
  const undo: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
  });
  const loop = async (name: string) => {
    const img = join(dir, name);
    writeFileSync(img, '');
    await runChecked('truncate', ['-s', '64M', img]);
    const dev = (await runChecked('losetup', ['--find', '--show', img])).trim();
    undo.push(() => run('losetup', ['-d', dev]));
    return dev;
  };
  const berthPv = await loop('berth.img');
  const foreignPv = await loop('foreign.img');
  const foreignVg = `bdevmisc_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  await runChecked('pvcreate', ['-q', '-y', foreignPv], { env: LVM_ENV });
  undo.push(() => run('pvremove', ['-q', '-y', '-ff', foreignPv], { env: LVM_ENV }));
  await runChecked('vgcreate', ['-q', foreignVg, foreignPv], { env: LVM_ENV });
  undo.push(() => run('vgremove', ['-q', '-f', foreignVg], { env: LVM_ENV }));

  const a = await startAgentIn(dir, { stateRoot: join(dir, 'state') });
  undo.push(async () => {
    a.client.close();
    await a.agent.close();
  });
  const c = a.client;
  const ns = c.nodeStorage;
  const sr: SrConfig = { uuid: randomUUID(), type: 'lvm', deviceConfig: { device: berthPv } };
  await c.sr_create(sr);
  const berthVg = `VG_XenStorage-${sr.uuid}`;
  undo.push(() => c.sr_destroy(sr));

  const vgs = await ns.vg_list();
  assert.equal(vgs[berthVg], 60);
  assert.equal(vgs[foreignVg], 60);
  assert.deepEqual(await ns.lv_list([berthVg, foreignVg]), {});
  assert.ok(Array.isArray(await ns.node_volumes()));
  assert.deepEqual(
    (await ns.node_volumes()).filter((r) => r.vg === berthVg || r.vg === foreignVg),
    [],
  );
  for (const bad of ['-a', '../x', 'vg;id', '$(id)'])
    await assert.rejects(ns.lv_list([bad]), code('INVALID_VALUE', 'vgs'), bad);
  await assert.rejects(
    ns.lv_list([`nonexistent_bdevmisc_${process.pid}`]),
    code('SR_BACKEND_FAILURE', 'LVM'),
  );

  assert.deepEqual(
    await ns.storage_list('lvm-vg', [], berthVg, ['name', 'type', 'size', 'used', 'free', 'allocatable']),
    [[berthVg, 'lvm-vg', 60, 0, 60, true]],
  );
  assert.deepEqual(await ns.storage_list('lvm-pv', [], berthPv, ['name', 'vg', 'size', 'allocatable']), [
    [berthPv, berthVg, 60, true],
  ]);
  const allPvs = (await ns.storage_list('lvm-pv', [], null, ['name'])).map((r) => r[0]);
  assert.ok(allPvs.includes(berthPv) && allPvs.includes(foreignPv));

  await ns.storage_modify('lvm-pv', [], berthPv, { allocatable: false });
  assert.deepEqual(await ns.storage_list('lvm-pv', [], berthPv, ['allocatable']), [[false]]);
  assert.match(await runChecked('pvs', ['--noheadings', '-opv_attr', berthPv], { env: LVM_ENV }), /^\s*u/);
  await ns.storage_modify('lvm-pv', [], berthPv, { allocatable: true });
  assert.deepEqual(await ns.storage_list('lvm-pv', [], berthPv, ['allocatable']), [[true]]);

  const lines = await ns.storage_execute('lvm-vg', [], berthVg, 'fix-consistency');
  assert.ok(
    lines.some((l) => l.includes(berthVg)),
    lines.join('\n'),
  );
  assert.ok((await ns.storage_execute('lvm-pv', [], berthPv, 'fix-consistency')).length > 0);

  // The administrator's volume group and its PV are listed but never changed.
  await assert.rejects(
    ns.storage_modify('lvm-pv', [], foreignPv, { allocatable: false }),
    code('OPERATION_NOT_ALLOWED'),
  );
  await assert.rejects(
    ns.storage_execute('lvm-vg', [], foreignVg, 'fix-consistency'),
    code('OPERATION_NOT_ALLOWED'),
  );
  await assert.rejects(
    ns.storage_execute('lvm-pv', [], foreignPv, 'fix-consistency'),
    code('OPERATION_NOT_ALLOWED'),
  );
  assert.match(await runChecked('pvs', ['--noheadings', '-opv_attr', foreignPv], { env: LVM_ENV }), /^\s*a/);
  // Bad names, changes and operations.
  await assert.rejects(
    ns.storage_execute('lvm-vg', [], '-ff', 'fix-consistency'),
    code('INVALID_VALUE', 'name'),
  );
  await assert.rejects(ns.storage_execute('lvm-vg', [], berthVg, 'remove; id'), code('INVALID_VALUE', 'op'));
  await assert.rejects(
    ns.storage_modify('lvm-pv', [], '/dev/../dev/null', { allocatable: true }),
    code('INVALID_VALUE', 'name'),
  );
  await assert.rejects(
    ns.storage_modify('lvm-pv', [], berthPv, { size: 1 }),
    code('INVALID_VALUE', 'changes'),
  );
  await assert.rejects(
    ns.storage_modify('lvm-pv', [], berthPv, { allocatable: 'n' }),
    code('INVALID_VALUE', 'changes.allocatable'),
  );
  await assert.rejects(
    ns.storage_modify('lvm-vg', [], berthVg, { allocatable: false }),
    code('OPERATION_NOT_ALLOWED'),
  );

  // Volumes of an lvm SR are LVs: none can exist here, so wipe, labels and rename find nothing.
  const loc = randomUUID();
  await assert.rejects(ns.blockdev_wipe(sr, loc, 0, 1), code('VDI_MISSING'));
  await assert.rejects(ns.blockdev_setinfo(sr, loc, 'vm'), code('VDI_MISSING'));
  assert.equal(await ns.bdev_sizes([berthPv]).then((s) => s[berthPv]), 64);
});
