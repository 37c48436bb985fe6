// A VM imported from an XVA boots: the test guest's VM (from the default template, plus a data
// disk with known bytes) is exported as ova.xml by the dataplane of an in-process manager, written
// as a zstd XVA by Python (tarfile + xxhash), PUT to /import of real daemons, started (real QEMU,
// boot marker on its serial console), shut down, and its disk read back by qemu-img.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ovaXml, vmToOvaObjects } from '../../src/manager/dataplane/index.js';
import { volumePath } from '../../src/shared/host/volume-path.js';
import { runChecked } from '../../src/shared/exec.js';
import { buildXva, diskBytes, MiB, putFile, sha } from '../manager/http/import-harness.js';
import { startStorageManager } from '../manager/storage/harness.js';
import { ensureGuest, GUEST_DIR, startStack, waitFor } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { writeFileSync } from 'node:fs';

const BOOT_MS = 180_000;

test('an imported XVA of the test guest boots and keeps its disk data', { timeout: 600_000 }, async (t) => {
  await ensureGuest();
  // The source: the test guest's VM with an 8 MiB data disk, in an in-process manager.
  const src = await startStorageManager(t);
  const dir = tempDir(t);
  const [tmpl] = await src.call<string[]>('VM.get_by_name_label', 'Berth test guest');
  const vm = await src.call<string>('VM.clone', tmpl, 'imported-guest');
  await src.call('VM.set_is_a_template', vm, false);
  await src.call('VM.set_PV_kernel', vm, join(GUEST_DIR, 'vmlinuz'));
  await src.call('VM.set_PV_ramdisk', vm, join(GUEST_DIR, 'initrd.img'));
  const pool = (await src.call<string[]>('pool.get_all'))[0];
  const vdi = await src.call<string>('VDI.create', {
    SR: await src.call('pool.get_default_SR', pool),
    virtual_size: 8 * MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'guest data',
  });
  await src.call('VBD.create', {
    VM: vm,
    VDI: vdi,
    userdevice: '0',
    bootable: false,
    mode: 'RW',
    type: 'Disk',
    empty: false,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  const db = src.manager.svc.db;
  const exp = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
  const ova = join(dir, 'ova.xml');
  writeFileSync(ova, ovaXml(db.model, exp.doc));
  const data = join(dir, 'disk.raw');
  writeFileSync(data, diskBytes(8 * MiB, 7));
  const xva = await buildXva(
    dir,
    { ova, disks: [{ id: exp.disks[0].id, size: 8 * MiB, data }] },
    'guest.xva',
    { compression: 'zstd' },
  );

  // The target: real daemons.
  const stack = await startStack(t, 18900 + Math.floor(Math.random() * 90));
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;
  const r = await putFile(stack.url, `/import?session_id=${c.sessionRef}`, xva);
  assert.equal(r.status, 200, r.body);
  const [imported] = await call('VM.get_by_name_label', 'imported-guest');
  assert.ok(imported, 'the VM was imported');
  const uuid = await call('VM.get_uuid', imported);
  await call('VM.start', imported, false, false);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');
  assert.equal(await call('VM.get_power_state', imported), 'Running');
  await call('VM.hard_shutdown', imported);
  // The data disk, as qemu-img reads it.
  const [vbd] = (await call('VM.get_VBDs', imported)) as string[];
  const vdiRec = await call('VDI.get_record', await call('VBD.get_VDI', vbd));
  const sr = await call('SR.get_record', vdiRec.SR);
  const pbd = await call('PBD.get_record', sr.PBDs[0]);
  const image = volumePath(sr.type, sr.uuid, pbd.device_config, vdiRec.location)!.path;
  const out = join(dir, 'back.raw');
  await runChecked('qemu-img', ['convert', '-U', '-O', 'raw', image, out]);
  assert.equal(sha(readFileSync(out)), sha(readFileSync(data)));
});
