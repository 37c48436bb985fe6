// ova.xml of a VM export, read back by an independent parser (Python's xmlrpc.client): the
// classes and ids xapi writes, refs rewritten to export ids (never an internal ref), xapi's
// rewrites on a plain /export and the snapshot metadata kept by /export_metadata.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ovaXml,
  parseDeviceTypes,
  parseOvaXml,
  vmToOvaObjects,
} from '../../../src/manager/dataplane/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { MiB, NULL, pythonReads, vmWithDevices } from './harness.js';

const byClass = (objects: any[], cls: string) => objects.filter((o) => o.class === cls);

test('plain /export: VM, metrics, VBDs, VIF, network, VDIs, SR; refs are export ids', async (t) => {
  const { m, vm, vdis, snap } = await vmWithDevices(t);
  const db = m.manager.svc.db;
  const exp = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
  const text = ovaXml(db.model, exp.doc);
  assert.match(
    text,
    /^<value><struct><member><name>version<\/name><value><struct><member><name>hostname<\/name>/,
  );
  assert.doesNotMatch(text, />\s+</, 'no whitespace between elements (ocaml-rpc to_string)');
  // No internal ref of this database leaks into the file.
  for (const ref of [...db.all('VM').keys(), ...db.all('VDI').keys(), ...db.all('SR').keys()])
    assert.ok(!text.includes(ref), `internal ref ${ref} leaked`);

  const py = pythonReads(tempDir(t), text);
  assert.deepEqual(Object.keys(py), ['version', 'objects']);
  // int64 is written untagged: a plain reader sees a string, as with xapi's files.
  // Berth claims xapi 1.0 so that every xapi imports its files (docs/decisions.md, export).
  assert.match(py.version.date, /^\d{4}-\d{2}-\d{2}$/);
  assert.deepEqual(py.version, {
    hostname: 'localhost',
    date: py.version.date,
    product_version: '0.1.0',
    product_brand: 'Berth',
    build_number: '',
    xapi_major: '1',
    xapi_minor: '0',
    export_vsn: '2',
  });
  const objs = py.objects;
  assert.deepEqual(
    objs.map((o: any) => o.class),
    ['VM', 'VM_metrics', 'VBD', 'VBD', 'VBD', 'VIF', 'network', 'VDI', 'VDI', 'SR'],
    'xapi order; the snapshot is not part of a plain export',
  );
  const ids = new Set<string>(objs.map((o: any) => o.id));
  assert.equal(ids.size, objs.length);
  for (const id of ids) assert.match(id, /^Ref:\d+$/);

  const [v] = byClass(objs, 'VM');
  const s = v.snapshot;
  assert.equal(s.uuid, db.get('VM', vm)!.uuid);
  assert.equal(s.name_label, 'meta-vm');
  assert.equal(s.name_description, 'two disks & a "NIC" <x>');
  assert.equal(s.power_state, 'Halted');
  assert.deepEqual(s.is_a_snapshot, { bool: false });
  assert.equal(s.snapshot_of, NULL);
  assert.deepEqual(s.snapshots, [], 'the snapshot is dropped from a plain export');
  assert.equal(s.parent, NULL);
  assert.equal(s.memory_static_max, String(256 * MiB));
  assert.deepEqual(s.HVM_shadow_multiplier, { double: 1 }, 'a float field is a <double>');
  assert.deepEqual(s.snapshot_time, { dateTime: '19700101T00:00:00Z' });
  assert.deepEqual(s.allowed_operations, []);
  assert.deepEqual(s.consoles, []);
  assert.equal(s.resident_on, NULL);
  assert.equal(s.metrics, byClass(objs, 'VM_metrics')[0].id);
  const vbdIds = byClass(objs, 'VBD').map((o: any) => o.id);
  assert.deepEqual([...s.VBDs].sort(), [...vbdIds].sort());
  assert.deepEqual(s.VIFs, [byClass(objs, 'VIF')[0].id]);

  const srId = byClass(objs, 'SR')[0].id;
  const vdiById = new Map(byClass(objs, 'VDI').map((o: any) => [o.id, o.snapshot]));
  for (const b of byClass(objs, 'VBD')) {
    assert.equal(b.snapshot.VM, v.id);
    assert.deepEqual(b.snapshot.currently_attached, { bool: false });
    assert.equal(b.snapshot.metrics, NULL);
    if (b.snapshot.type === 'CD') {
      assert.equal(b.snapshot.VDI, NULL);
      continue;
    }
    const d = vdiById.get(b.snapshot.VDI) as any;
    assert.ok(d, 'a disk VBD points at an exported VDI');
    assert.deepEqual(d.VBDs, [b.id], "the VDI's other VBDs (the snapshot's) are filtered out");
    assert.equal(d.SR, srId);
    assert.equal(d.virtual_size, String(b.snapshot.userdevice === '0' ? 8 * MiB : 3 * MiB + 512));
  }
  const vif = byClass(objs, 'VIF')[0].snapshot;
  assert.equal(vif.VM, v.id);
  assert.equal(vif.network, byClass(objs, 'network')[0].id);
  assert.match(vif.MAC, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  assert.deepEqual(byClass(objs, 'network')[0].snapshot.PIFs, []);
  assert.deepEqual(byClass(objs, 'SR')[0].snapshot.PBDs, []);
  assert.deepEqual(byClass(objs, 'SR')[0].snapshot.VDIs.sort(), [...vdiById.keys()].sort());

  // The disks that follow ova.xml: both disks (not the CD), in lexicographic id order.
  assert.deepEqual(exp.disks.map((d) => d.vdi).sort(), [...vdis].sort());
  const diskIds = exp.disks.map((d) => d.id);
  assert.deepEqual(diskIds, [...diskIds].sort());
  assert.ok(db.get('VM', snap));

  // Our own parser reads back the same document.
  const back = parseOvaXml(db.model, text);
  assert.deepEqual(back.version, exp.doc.version);
  assert.deepEqual(
    back.objects.map((o) => [o.class, o.id]),
    exp.doc.objects.map((o) => [o.class, o.id]),
  );
  assert.deepEqual(back.objects[0].snapshot, exp.doc.objects[0].snapshot);
});

test('/export_metadata: snapshots with their metadata; excluded_device_types', async (t) => {
  const { m, vm, snap } = await vmWithDevices(t);
  const db = m.manager.svc.db;
  const exp = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: true, preservePowerState: true });
  const py = pythonReads(tempDir(t), ovaXml(db.model, exp.doc));
  const vms = byClass(py.objects, 'VM');
  assert.equal(vms.length, 2);
  const main = vms.find((o: any) => o.snapshot.uuid === db.get('VM', vm)!.uuid);
  const s = vms.find((o: any) => o.snapshot.uuid === db.get('VM', snap)!.uuid);
  assert.deepEqual(s.snapshot.is_a_snapshot, { bool: true });
  assert.equal(s.snapshot.snapshot_of, main.id);
  assert.deepEqual(main.snapshot.snapshots, [s.id]);
  assert.notDeepEqual(s.snapshot.snapshot_time, { dateTime: '19700101T00:00:00Z' });
  assert.equal(byClass(py.objects, 'VDI').length, 4, "the snapshot's disks too");
  assert.equal(byClass(py.objects, 'VBD').length, 6);
  assert.equal(byClass(py.objects, 'VM_metrics').length, 2);

  const noVif = vmToOvaObjects(db, {
    vms: [vm],
    withSnapshotMetadata: true,
    preservePowerState: true,
    excludedDevices: parseDeviceTypes('vif'),
  });
  assert.equal(byClass(noVif.doc.objects, 'VIF').length, 0);
  assert.equal(byClass(noVif.doc.objects, 'network').length, 0);
  for (const o of byClass(noVif.doc.objects, 'VM')) assert.deepEqual(o.snapshot.VIFs, []);
  assert.equal(byClass(noVif.doc.objects, 'VBD').length, 6);
  const noDisks = vmToOvaObjects(db, {
    vms: [vm],
    withSnapshotMetadata: false,
    preservePowerState: true,
    excludedDevices: parseDeviceTypes('vbd,vif'),
  });
  assert.deepEqual(
    noDisks.doc.objects.map((o) => o.class),
    ['VM', 'VM_metrics'],
  );
  assert.throws(() => parseDeviceTypes('vbd,floppy'), { code: 'INVALID_VALUE' });
});
