// VM disk functions (clone/snapshot/copy of a VM's disks, template provisioning) and the
// start-up scan after a manager was SIGKILLed mid-copy or left an unfinished create behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage } from '../../../src/agent/storage/qemu-img.js';
import { writeDurably } from '../../../src/shared/journal.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import {
  copyVmDisks,
  parseProvisionXml,
  provisionDisks,
  vmDisks,
} from '../../../src/manager/storage/vm-disks.js';
import { tempDir } from '../../helpers/tmp.js';
import { hasPattern, writePattern } from '../../agent/storage/helpers.js';
import { code, startStorageManager } from './harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const MiB = 1024 * 1024;

test('VM disks: clone, snapshot and copy give the new VM its own VDIs; CDs are shared', async (t) => {
  const m = await startStorageManager(t);
  const { db, svc } = m.manager;
  const sr = await m.call<string>('pool.get_default_SR', (await m.call<string[]>('pool.get_all'))[0]);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'src' }));
  const d = await m.call<string>('VDI.create', vdiRecord(sr, 32 * MiB, { type: 'system' }));
  await m.call('VBD.create', vbdRecord(vm, d));
  await m.call(
    'VBD.create',
    vbdRecord(vm, 'OpaqueRef:NULL', {
      userdevice: '3',
      bootable: false,
      mode: 'RO',
      type: 'CD',
      empty: true,
    }),
  );
  await writePattern(vmDisks(db, vm)[0].path, 'qcow2', 0x3c, 0, MiB);

  for (const mode of ['clone', 'snapshot', 'copy'] as const) {
    const nvm = await m.call<string>('VM.create', baseVmRecord({ name_label: mode }));
    const vbds = await copyVmDisks(svc, vm, nvm, mode, { task: `t-${mode}` });
    assert.equal(vbds.length, 2);
    const disks = vmDisks(db, nvm).filter((d) => !d.cdrom);
    assert.equal(disks.length, 1);
    assert.notEqual(disks[0].path, vmDisks(db, vm)[0].path);
    assert.ok(await hasPattern(disks[0].path, 'qcow2', 0x3c, 0, MiB), mode);
    const newVdi = String(db.get('VBD', vbds.find((b) => db.get('VBD', b)?.type === 'Disk')!)!.VDI);
    assert.equal(db.get('VDI', newVdi)!.is_a_snapshot, mode === 'snapshot');
    const cd = db.get('VBD', vbds.find((b) => db.get('VBD', b)?.type === 'CD')!)!;
    assert.equal(cd.empty, true);
    assert.equal(cd.userdevice, '3');
  }
});

test("provisioning from a template's other_config:disks", async (t) => {
  assert.deepEqual(
    parseProvisionXml(
      '<provision><disk device="0" size="8589934592" sr="" bootable="true" type="system"/></provision>',
    ),
    [{ device: '0', size: 8589934592, sr: '', bootable: true, type: 'system' }],
  );
  assert.throws(
    () => parseProvisionXml('<provision><disk device="x" size="1"/></provision>'),
    code('INVALID_VALUE'),
  );
  assert.throws(() => parseProvisionXml('<!DOCTYPE x [<!ENTITY a "b">]><provision/>'), code('INVALID_VALUE'));
  const m = await startStorageManager(t);
  const { db, svc } = m.manager;
  const vm = await m.call<string>(
    'VM.create',
    baseVmRecord({
      name_label: 'p',
      other_config: {
        disks:
          '<provision><disk device="0" size="67108864" sr="" bootable="true" type="system"/><disk device="1" size="1048576" sr="" bootable="false" type="user"/></provision>',
      },
    }),
  );
  await provisionDisks({ svc, session: m.session, msg: undefined as never, conn: { local: true } }, vm);
  assert.deepEqual(
    vmDisks(db, vm).map((x) => x.device),
    ['xvda', 'xvdb'],
  );
  assert.equal((db.get('VM', vm)!.other_config as Record<string, string>).disks, undefined);
  const sizes = (db.get('VM', vm)!.VBDs as string[])
    .map((b) => db.get('VDI', String(db.get('VBD', b)!.VDI))!.virtual_size)
    .sort();
  assert.deepEqual(sizes, [MiB, 64 * MiB]);
  db.update('pool', svc.poolRef(), { default_SR: 'OpaqueRef:NULL' });
  const vm2 = await m.call<string>(
    'VM.create',
    baseVmRecord({
      other_config: {
        disks: '<provision><disk device="0" size="1048576" sr="" bootable="true" type="system"/></provision>',
      },
    }),
  );
  await assert.rejects(
    provisionDisks({ svc, session: m.session, msg: undefined as never, conn: { local: true } }, vm2),
    code('DEFAULT_SR_NOT_FOUND'),
  );
});

test('SIGKILL of the manager mid-copy: after restart no half-written VDI, no leaked file', async (t) => {
  const dataDir = tempDir(t, 'berth-crash-');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'crash-manager-child.ts'), dataDir],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const srDir = join(dataDir, 'sr', 'default');
  const deadline = Date.now() + 60_000;
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  while (Date.now() < deadline) {
    if (out.includes('copying') && readdirSync(srDir).some((n) => n.startsWith('.tmp-'))) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.ok(!out.includes('copied'), 'killed before the copy finished');
  assert.equal(readdirSync(join(dataDir, 'storage', 'intents')).length, 1, 'the copy left its intent');

  // Also: a volume a crashed create made but never recorded.
  const orphan = randomUUID();
  await createImage(join(srDir, `${orphan}.qcow2`), 'qcow2', MiB);
  const srUuid = JSON.parse(readFileSync(join(srDir, '.berth-sr'), 'utf8')).uuid;
  writeDurably(
    join(dataDir, 'storage', 'intents', 'x.json'),
    JSON.stringify({ id: 'x', op: 'create', kind: 'create', srUuid, location: orphan, vdiUuid: orphan }),
  );
  const m = await startStorageManager(t, { dataDir });
  const fixed = m.report.fixed.join('\n');
  assert.ok(
    m.report.fixed.some((f) => f.includes('removed partial image')),
    fixed,
  );
  assert.ok(
    m.report.fixed.some((f) => f.includes(`removed volume ${orphan}`)),
    fixed,
  );
  const vdis = [...m.manager.db.all('VDI').values()];
  assert.equal(vdis.length, 1, 'only the source VDI');
  assert.deepEqual(
    readdirSync(srDir).filter((n) => n.endsWith('.qcow2')),
    [`${vdis[0].uuid}.qcow2`],
  );
  assert.equal(readdirSync(join(dataDir, 'storage', 'intents')).length, 0);
  assert.deepEqual(vdis[0].current_operations, {});
});
