// ova.xml back into a manager: plan + apply into a second manager (full import, new volumes),
// restore keeping uuids and MACs (and xapi's refusals), metadata import onto existing disks with
// vdi remapping, dry runs that create nothing, and failures that leave nothing behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Services } from '../../../src/manager/api/context.js';
import {
  applyImportPlan,
  type ImportPlan,
  importTargetSr,
  ovaObjectsToPlan,
  ovaXml,
  parseOvaXml,
  vmToOvaObjects,
} from '../../../src/manager/dataplane/index.js';
import { attachedSr } from '../../../src/manager/storage/records.js';
import { storageOf } from '../../../src/manager/storage/sr-host.js';
import { startStorageManager } from '../storage/harness.js';
import { defaultSr, MiB, NULL, vmWithDevices } from './harness.js';

const CLASSES = [
  'VM',
  'VM_metrics',
  'VM_guest_metrics',
  'VBD',
  'VIF',
  'VIF_metrics',
  'VDI',
  'network',
  'VTPM',
];
const counts = (svc: Services) => Object.fromEntries(CLASSES.map((c) => [c, svc.db.all(c).size]));
const code = (c: string, params?: string[]) => (e: any) => {
  assert.equal(e?.code, c, `expected ${c}, got ${e?.code} ${JSON.stringify(e?.params)} ${e?.stack}`);
  if (params) assert.deepEqual(e.params, params);
  return true;
};

async function volumeExists(svc: Services, sr: string, location: string): Promise<boolean> {
  return Boolean(await storageOf(svc, sr).blockdev_find(attachedSr(svc, sr), location));
}

/** Fields of class `cls` (links to relations and refs aside) whose values differ. */
function differingFields(svc: Services, cls: string, a: Record<string, unknown>, b: Record<string, unknown>) {
  const spec = svc.db.classSpec(cls);
  const derived = new Set(spec.relations.map((r) => r.field));
  return spec.fields
    .filter((f) => !derived.has(f.name) && JSON.stringify(a[f.name]) !== JSON.stringify(b[f.name]))
    .map((f) => f.name)
    .sort();
}

async function exportText(t: any) {
  const f = await vmWithDevices(t);
  const db = f.m.manager.svc.db;
  const exp = vmToOvaObjects(db, { vms: [f.vm], withSnapshotMetadata: true, preservePowerState: true });
  return { ...f, text: ovaXml(db.model, exp.doc) };
}

test('full import into a second manager: every record, new volumes, snapshot links', async (t) => {
  const src = await exportText(t);
  const sdb = src.m.manager.svc.db;
  const m2 = await startStorageManager(t);
  const svc = m2.manager.svc;
  const sr = importTargetSr(svc.db, svc.poolRef());
  assert.equal(sr, await defaultSr(m2));
  const task = 'OpaqueRef:00000000-0000-0000-0000-00000000beef';
  const plan = ovaObjectsToPlan(svc.db, parseOvaXml(svc.db.model, src.text), { mode: 'full', sr, task });
  const seen: string[] = [];
  const vms = await applyImportPlan(svc, plan, {
    writeDisks: async (disks) => {
      for (const d of disks) {
        seen.push(d.id);
        const row = svc.db.get('VDI', d.ref);
        assert.ok(row, 'the VDI exists while its data is written');
        assert.ok(await volumeExists(svc, sr, String(row.location)));
        assert.equal(Number(row.virtual_size) >= d.virtualSize, true);
      }
    },
  });
  assert.equal(seen.length, 4, "both disks of the VM and of its snapshot (not the CD's)");
  assert.deepEqual(seen, [...seen].sort(), 'lexicographic id order');

  assert.equal(vms.length, 1, 'the task result holds the VM, not its snapshot');
  const vm = svc.db.get('VM', vms[0])!;
  const orig = sdb.get('VM', src.vm)!;
  assert.notEqual(vm.uuid, orig.uuid);
  assert.equal(vm.name_label, 'meta-vm');
  assert.equal(vm.name_description, 'two disks & a "NIC" <x>');
  assert.equal(Number(vm.memory_static_max), 256 * MiB);
  assert.equal(vm.power_state, 'Halted');
  assert.equal(vm.is_a_snapshot, false);
  const other = vm.other_config as Record<string, string>;
  assert.equal(other.k, 'v');
  assert.notEqual(other.mac_seed, (orig.other_config as any).mac_seed, 'a fresh mac_seed');
  assert.equal(other.import_task, task);
  assert.deepEqual(vm.current_operations, {}, 'import finished');
  assert.ok((vm.allowed_operations as string[]).includes('start'));
  assert.ok(svc.db.has('VM_metrics', String(vm.metrics)));

  // Field by field, the imported VM is the original but for identity, links and import marks
  // (and, as xapi's import, a domain type derived from the boot policy where none was set).
  assert.equal(orig.domain_type, 'unspecified');
  assert.equal(vm.domain_type, 'pv');
  assert.deepEqual(
    differingFields(svc, 'VM', orig, vm),
    ['allowed_operations', 'domain_type', 'generation_id', 'metrics', 'other_config', 'uuid'].filter(
      (f) => JSON.stringify(orig[f]) !== JSON.stringify(vm[f]),
    ),
  );
  const vbds = (vm.VBDs as string[]).map((b) => svc.db.get('VBD', b)!);
  assert.deepEqual(vbds.map((b) => b.userdevice).sort(), ['0', '1', '3']);
  for (const b of vbds) {
    const o = (orig.VBDs as string[])
      .map((x) => sdb.get('VBD', x)!)
      .find((x) => x.userdevice === b.userdevice)!;
    assert.deepEqual(
      differingFields(svc, 'VBD', o, b),
      ['VDI', 'VM', 'metrics', 'uuid'].filter((f) => o[f] !== b[f]),
    );
    if (b.type !== 'Disk') continue;
    const od = sdb.get('VDI', String(o.VDI))!;
    const nd = svc.db.get('VDI', String(b.VDI))!;
    assert.deepEqual(differingFields(svc, 'VDI', od, nd), ['SR', 'location', 'sm_config', 'uuid']);
  }
  const ovif = sdb.get('VIF', src.vif)!;
  const nvif = svc.db.get('VIF', (vm.VIFs as string[])[0])!;
  assert.deepEqual(differingFields(svc, 'VIF', ovif, nvif), ['MAC', 'VM', 'metrics', 'network', 'uuid']);
  const cd = vbds.find((b) => b.type === 'CD')!;
  assert.equal(cd.empty, true);
  assert.equal(cd.VDI, NULL);
  for (const b of vbds.filter((x) => x.type === 'Disk')) {
    const d = svc.db.get('VDI', String(b.VDI))!;
    const i = String(b.userdevice);
    assert.equal(d.name_label, `disk${i}`);
    assert.equal(d.SR, sr);
    assert.equal(Number(d.virtual_size), i === '0' ? 8 * MiB : 3 * MiB + 512);
    assert.deepEqual({ ...(d.other_config as object) }, { disk: i });
    assert.equal((d.sm_config as Record<string, string>).import_task, task);
    assert.equal(b.device, '');
    assert.equal(b.currently_attached, false);
  }
  const [vifRef] = vm.VIFs as string[];
  const vif = svc.db.get('VIF', vifRef)!;
  assert.notEqual(vif.MAC, sdb.get('VIF', src.vif)!.MAC, 'a new MAC');
  assert.ok(svc.db.has('VIF_metrics', String(vif.metrics)));
  const net = svc.db.get('network', String(vif.network))!;
  assert.equal(net.name_label, 'meta-net', 'no such network here: created');
  assert.equal((net.other_config as Record<string, string>).import_task, task);

  const snaps = vm.snapshots as string[];
  assert.equal(snaps.length, 1);
  const snap = svc.db.get('VM', snaps[0])!;
  assert.equal(snap.is_a_snapshot, true);
  assert.equal(snap.snapshot_of, vms[0]);
  assert.equal(snap.name_label, 'meta-snap');
  assert.equal((snap.VBDs as string[]).length, 3);

  // A second import of the same file: the network is found by name, not made again.
  const before = svc.db.all('network').size;
  const plan2 = ovaObjectsToPlan(svc.db, parseOvaXml(svc.db.model, src.text), { mode: 'full', sr });
  assert.equal(plan2.found.find((f) => f.cls === 'network')?.ref, String(vif.network));
  await applyImportPlan(svc, plan2);
  assert.equal(svc.db.all('network').size, before);
});

test('restore=true keeps uuids and MACs; a second restore needs a newer version or force', async (t) => {
  const src = await exportText(t);
  const sdb = src.m.manager.svc.db;
  const m2 = await startStorageManager(t);
  const svc = m2.manager.svc;
  const sr = await defaultSr(m2);
  const doc = () => parseOvaXml(svc.db.model, src.text);
  const [vmRef] = await applyImportPlan(
    svc,
    ovaObjectsToPlan(svc.db, doc(), { mode: 'full', sr, restore: true }),
  );
  const vm = svc.db.get('VM', vmRef)!;
  const orig = sdb.get('VM', src.vm)!;
  assert.equal(vm.uuid, orig.uuid);
  assert.equal((vm.other_config as any).mac_seed, (orig.other_config as any).mac_seed);
  assert.equal(Number(vm.version), Number(orig.version) + 1, 'restore counts versions');
  const vif = svc.db.get('VIF', (vm.VIFs as string[])[0])!;
  assert.equal(vif.uuid, sdb.get('VIF', src.vif)!.uuid);
  assert.equal(vif.MAC, sdb.get('VIF', src.vif)!.MAC);
  const vbdUuids = (ref: string, db: typeof svc.db) =>
    ((db.get('VM', ref)!.VBDs as string[]).map((b) => db.get('VBD', b)!.uuid) as string[]).sort();
  assert.deepEqual(vbdUuids(vmRef, svc.db), vbdUuids(src.vm, sdb));
  const snap = svc.db.get('VM', (vm.snapshots as string[])[0])!;
  assert.equal(snap.uuid, sdb.get('VM', src.snap)!.uuid);

  // Again: the VM here (version 1) is not older than the file's (0).
  const before = counts(svc);
  assert.throws(
    () => ovaObjectsToPlan(svc.db, doc(), { mode: 'full', sr, restore: true }),
    code('VM_TO_IMPORT_IS_NOT_NEWER_VERSION', [vmRef, '1', '0']),
  );
  // A running VM is never replaced.
  svc.db.update('VM', vmRef, { power_state: 'Running' });
  assert.throws(
    () => ovaObjectsToPlan(svc.db, doc(), { mode: 'full', sr, restore: true }),
    code('VM_BAD_POWER_STATE', [vmRef, 'halted', 'running']),
  );
  svc.db.update('VM', vmRef, { power_state: 'Halted' });
  assert.deepEqual(counts(svc), before);

  // force: the VM (and its snapshot) are replaced in place, uuids kept, no duplicates.
  const plan = ovaObjectsToPlan(svc.db, doc(), { mode: 'full', sr, restore: true, force: true });
  assert.deepEqual(plan.replaces.sort(), [vmRef, svc.db.refByUuid('VM', String(snap.uuid))].sort());
  const [again] = await applyImportPlan(svc, plan);
  assert.notEqual(again, vmRef);
  assert.equal(svc.db.has('VM', vmRef), false);
  assert.equal(svc.db.get('VM', again)!.uuid, orig.uuid);
  assert.deepEqual(vbdUuids(again, svc.db), vbdUuids(src.vm, sdb));
  assert.equal(svc.db.all('VM').size, before.VM);
  assert.equal(svc.db.all('VBD').size, before.VBD);
  assert.equal(svc.db.all('VIF').size, before.VIF);
});

test('metadata import onto existing disks, vdi remapping, dry run, missing disks', async (t) => {
  const src = await exportText(t);
  const svc = src.m.manager.svc;
  const { db } = svc;
  const doc = () => parseOvaXml(db.model, src.text);

  // Dry run: a plan, nothing created.
  const before = counts(svc);
  const dry = ovaObjectsToPlan(db, doc(), { mode: 'metadata' });
  assert.equal(dry.creates.filter((r) => r.cls === 'VM').length, 2);
  assert.equal(dry.volumes.length, 0, 'metadata import makes no volumes');
  assert.deepEqual(counts(svc), before);

  // VDIs found by SR uuid + location; disk0 remapped by uuid to another VDI.
  const other = await src.m.call<string>('VDI.create', {
    SR: src.sr,
    virtual_size: MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'elsewhere',
  });
  const disk0 = db.get('VDI', src.vdis[0])!;
  // The file's config-drive key is carried onto the existing VDI (vdi_other_config_sync_keys).
  const withDrive = doc();
  withDrive.objects.find(
    (o) => o.class === 'VDI' && o.snapshot.uuid === db.get('VDI', src.vdis[1])!.uuid,
  )!.snapshot.other_config = {
    'config-drive': 'true',
  };
  const drivePlan = ovaObjectsToPlan(db, withDrive, { mode: 'metadata' });
  await applyImportPlan(svc, drivePlan);
  assert.equal((db.get('VDI', src.vdis[1])!.other_config as Record<string, string>)['config-drive'], 'true');
  const plan = ovaObjectsToPlan(db, doc(), {
    mode: 'metadata',
    vdiMap: { [String(disk0.uuid)]: String(db.get('VDI', other)!.uuid) },
  });
  const [vm] = await applyImportPlan(svc, plan);
  assert.equal(db.all('VDI').size, before.VDI + 1, 'only the VDI made above');
  assert.equal(
    'config-drive' in (db.get('VDI', src.vdis[1])!.other_config as object),
    false,
    'a file without the key removes it',
  );
  const disks = Object.fromEntries(
    (db.get('VM', vm)!.VBDs as string[])
      .map((b) => db.get('VBD', b)!)
      .filter((b) => b.type === 'Disk')
      .map((b) => [b.userdevice, b.VDI]),
  );
  assert.deepEqual(disks, { '0': other, '1': src.vdis[1] });

  // A disk that is not there: VDI_LOCATION_MISSING; with force the VBD is left out.
  const gone = doc();
  const vdiObj = gone.objects.find((o) => o.class === 'VDI' && o.snapshot.uuid === disk0.uuid)!;
  vdiObj.snapshot.location = 'no-such-volume';
  const n = counts(svc);
  assert.throws(
    () => ovaObjectsToPlan(db, gone, { mode: 'metadata' }),
    code('VDI_LOCATION_MISSING', [src.sr, 'no-such-volume']),
  );
  const forced = ovaObjectsToPlan(db, gone, { mode: 'metadata', force: true });
  assert.equal(
    forced.creates.filter((r) => r.cls === 'VBD' && r.fields.type === 'Disk').length,
    3,
    "the missing disk's VBD is omitted",
  );
  assert.deepEqual(counts(svc), n);
});

async function assertNothingLeft(
  svc: Services,
  sr: string,
  plan: ImportPlan,
  before: Record<string, number>,
) {
  assert.deepEqual(counts(svc), before, 'no record left');
  for (const r of plan.creates) assert.equal(svc.db.has(r.cls, r.ref), false);
  for (const v of plan.volumes)
    assert.equal(await volumeExists(svc, sr, v.uuid), false, `volume ${v.uuid} left`);
}

test('a failure mid-way leaves no record and no volume', async (t) => {
  const src = await exportText(t);
  const m2 = await startStorageManager(t);
  const svc = m2.manager.svc;
  const sr = await defaultSr(m2);
  const before = counts(svc);

  // Inside the transaction, at the first VBD (VDIs, VMs, network already made).
  const plan1 = ovaObjectsToPlan(svc.db, parseOvaXml(svc.db.model, src.text), { mode: 'full', sr });
  assert.equal(plan1.volumes.length, 4);
  await assert.rejects(
    applyImportPlan(svc, plan1, {
      onRecord: (r) => {
        if (r.cls === 'VBD') throw new Error('injected');
      },
    }),
    /injected/,
  );
  await assertNothingLeft(svc, sr, plan1, before);

  // After the records exist, while the disk data is written.
  const plan2 = ovaObjectsToPlan(svc.db, parseOvaXml(svc.db.model, src.text), { mode: 'full', sr });
  let written = 0;
  await assert.rejects(
    applyImportPlan(svc, plan2, {
      writeDisks: async (disks) => {
        written = disks.length;
        assert.ok(svc.db.has('VM', plan2.vms[0]), 'records exist while disks are written');
        throw Object.assign(new Error('IMPORT_ERROR_SOME_CHECKSUMS_FAILED'), {
          code: 'IMPORT_ERROR_SOME_CHECKSUMS_FAILED',
        });
      },
    }),
    code('IMPORT_ERROR_SOME_CHECKSUMS_FAILED'),
  );
  assert.equal(written, 4);
  await assertNothingLeft(svc, sr, plan2, before);

  // Something the plan reuses goes away while the volumes are made: refused, nothing left.
  const plan3 = ovaObjectsToPlan(svc.db, parseOvaXml(svc.db.model, src.text), { mode: 'full', sr });
  const net = await m2.call<string>('network.create', { name_label: 'meta-net', other_config: {} });
  const plan4 = ovaObjectsToPlan(svc.db, parseOvaXml(svc.db.model, src.text), { mode: 'full', sr });
  assert.ok(plan4.found.some((f) => f.ref === net));
  await m2.call('network.destroy', net);
  const before4 = counts(svc);
  await assert.rejects(applyImportPlan(svc, plan4), code('IMPORT_ERROR_GENERIC'));
  await assertNothingLeft(svc, sr, plan4, before4);
  assert.ok(
    plan3.creates.some((r) => r.cls === 'network'),
    'without it, the network is made',
  );
});
