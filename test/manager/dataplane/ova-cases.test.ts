// Less common parts of the ova.xml graph: vTPMs (xapi's vtpm' struct), suspended VMs with their
// suspend image, `all=true` pool metadata, default templates, and restore's DUPLICATE_MAC_SEED.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import {
  allMetadataVms,
  applyImportPlan,
  ovaObjectsToPlan,
  ovaXml,
  parseOvaXml,
  vmToOvaObjects,
} from '../../../src/manager/dataplane/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { startStorageManager } from '../storage/harness.js';
import { defaultSr, MiB, NULL, pythonReads, vmWithDevices } from './harness.js';

test('a vTPM travels as xapi vtpm; a suspended VM keeps its suspend image', async (t) => {
  const { m, vm, sr } = await vmWithDevices(t);
  const svc = m.manager.svc;
  const { db } = svc;
  const vtpm = db.create('VTPM', { VM: vm, is_unique: true, is_protected: false });
  const image = await m.call<string>('VDI.create', {
    SR: sr,
    virtual_size: 2 * MiB,
    type: 'suspend',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'Suspend image',
  });
  db.update('VM', vm, { power_state: 'Suspended', suspend_VDI: image });

  const plain = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
  const pv = plain.doc.objects.find((o) => o.class === 'VM')!.snapshot;
  assert.equal(pv.power_state, 'Halted');
  assert.equal(pv.suspend_VDI, NULL);
  assert.equal(plain.disks.length, 2, 'no suspend image without preserve_power_state');

  const exp = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: true });
  const py = pythonReads(tempDir(t), ovaXml(db.model, exp.doc));
  const vmObj = py.objects.find((o: any) => o.class === 'VM');
  const tpm = py.objects.find((o: any) => o.class === 'VTPM');
  assert.deepEqual(tpm.snapshot, {
    "vTPM'_VM": vmObj.id,
    "vTPM'_uuid": db.get('VTPM', vtpm)!.uuid,
    "vTPM'_is_unique": { bool: true },
    "vTPM'_is_protected": { bool: false },
    "vTPM'_content": '',
  });
  assert.deepEqual(vmObj.snapshot.VTPMs, [tpm.id]);
  assert.equal(vmObj.snapshot.power_state, 'Suspended');
  const imageId = py.objects.find((o: any) => o.class === 'VDI' && o.snapshot.type === 'suspend').id;
  assert.equal(vmObj.snapshot.suspend_VDI, imageId);
  assert.ok(
    exp.disks.some((d) => d.id === imageId && d.vdi === image),
    'the image follows ova.xml',
  );

  const m2 = await startStorageManager(t);
  const svc2 = m2.manager.svc;
  const sr2 = await defaultSr(m2);
  const plan = ovaObjectsToPlan(svc2.db, parseOvaXml(svc2.db.model, ovaXml(db.model, exp.doc)), {
    mode: 'full',
    sr: sr2,
    restore: true,
  });
  assert.ok(
    plan.disks.some((d) => d.id === imageId),
    'the suspend image receives data',
  );
  const [vm2] = await applyImportPlan(svc2, plan);
  const rec = svc2.db.get('VM', vm2)!;
  assert.equal(rec.power_state, 'Suspended');
  assert.equal(svc2.db.get('VDI', String(rec.suspend_VDI))!.type, 'suspend');
  const [tpm2] = rec.VTPMs as string[];
  assert.equal(svc2.db.get('VTPM', tpm2)!.uuid, db.get('VTPM', vtpm)!.uuid, 'restore keeps the vTPM uuid');
  assert.equal(svc2.db.get('VTPM', tpm2)!.is_unique, true);
  // A suspended VM is not replaced by a restore; a halted one is, but not while its vTPM's uuid
  // is taken (xapi's VTPM handler: IMPORT_ERROR_GENERIC).
  const again = parseOvaXml(svc2.db.model, ovaXml(db.model, exp.doc));
  for (const o of again.objects) if (o.class === 'VM') o.snapshot.version = 5;
  assert.throws(() => ovaObjectsToPlan(svc2.db, again, { mode: 'full', sr: sr2, restore: true }), {
    code: 'VM_BAD_POWER_STATE',
    params: [vm2, 'halted', 'suspended'],
  });
  svc2.db.update('VM', vm2, { power_state: 'Halted', suspend_VDI: NULL });
  const other = await m2.call<string>('VM.create', baseVmRecord({ name_label: 'other' }));
  svc2.db.update('VTPM', tpm2, { VM: other });
  assert.throws(() => ovaObjectsToPlan(svc2.db, again, { mode: 'full', sr: sr2, restore: true }), {
    code: 'IMPORT_ERROR_GENERIC',
    params: [`A VTPM with UUID ${db.get('VTPM', vtpm)!.uuid} already exists`],
  });
  // Its own vTPM goes with the VM a restore replaces.
  svc2.db.update('VTPM', tpm2, { VM: vm2 });
  const [vm3] = await applyImportPlan(
    svc2,
    ovaObjectsToPlan(svc2.db, again, { mode: 'full', sr: sr2, restore: true }),
  );
  assert.equal(svc2.db.has('VTPM', tpm2), false);
  const [tpm3] = svc2.db.get('VM', vm3)!.VTPMs as string[];
  assert.equal(svc2.db.get('VTPM', tpm3)!.uuid, db.get('VTPM', vtpm)!.uuid);
  assert.equal(svc2.db.all('VTPM').size, 1);
});

test('all=true, default templates and DUPLICATE_MAC_SEED', async (t) => {
  const m = await startStorageManager(t);
  const svc = m.manager.svc;
  const { db } = svc;
  const sr = await defaultSr(m);
  const a = await m.call<string>('VM.create', baseVmRecord({ name_label: 'a' }));
  const tmpl = await m.call<string>(
    'VM.create',
    baseVmRecord({
      name_label: 'Shipped template',
      is_a_template: true,
      other_config: { default_template: 'true' },
    }),
  );
  const dom0 = [...db.all('VM')].find(([, v]) => v.is_control_domain)?.[0];
  const all = allMetadataVms(db, true);
  assert.ok(all.includes(a));
  assert.ok(!all.includes(tmpl), 'default templates are never in a pool export');
  if (dom0) {
    assert.ok(all.includes(dom0));
    assert.ok(!allMetadataVms(db, false).includes(dom0));
  }

  // A default template in a file maps onto the one here with that name: nothing created.
  const tdoc = vmToOvaObjects(db, { vms: [tmpl], withSnapshotMetadata: true, preservePowerState: true }).doc;
  const tplan = ovaObjectsToPlan(db, parseOvaXml(db.model, ovaXml(db.model, tdoc)), { mode: 'full', sr });
  assert.equal(tplan.creates.filter((r) => r.cls === 'VM').length, 0);
  assert.deepEqual(tplan.vms, [tmpl]);

  // restore=true of a VM whose mac_seed another VM here already uses.
  const doc = parseOvaXml(
    db.model,
    ovaXml(
      db.model,
      vmToOvaObjects(db, { vms: [a], withSnapshotMetadata: true, preservePowerState: true }).doc,
    ),
  );
  const seed = String((db.get('VM', a)!.other_config as Record<string, string>).mac_seed);
  doc.objects.find((o) => o.class === 'VM')!.snapshot.uuid = '11111111-2222-4333-8444-555555555555';
  assert.throws(() => ovaObjectsToPlan(db, doc, { mode: 'full', sr, restore: true }), {
    code: 'DUPLICATE_MAC_SEED',
    params: [seed],
  });
  // Not a restore: a fresh mac_seed, no conflict.
  const vms = await applyImportPlan(svc, ovaObjectsToPlan(db, doc, { mode: 'full', sr }));
  assert.notEqual((db.get('VM', vms[0])!.other_config as Record<string, string>).mac_seed, seed);
});
