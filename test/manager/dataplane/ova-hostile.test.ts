// Hostile or foreign ova.xml: refused with xapi's errors before anything is written, or read
// when another toolstack wrote it. The "XCP-ng" document is written by Python's xmlrpc.client
// (an independent writer: <string>-tagged values, <int>, whitespace) with the fields xapi's
// Export.make_* put in each record, including fields Berth does not know and missing newer ones.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import type { Services } from '../../../src/manager/api/context.js';
import {
  applyImportPlan,
  type OvaDocument,
  ovaObjectsToPlan,
  ovaXml,
  parseOvaXml,
  vmToOvaObjects,
} from '../../../src/manager/dataplane/index.js';
import { startStorageManager } from '../storage/harness.js';
import { defaultSr, MiB, vmWithDevices } from './harness.js';

const code = (c: string, params?: string[]) => (e: any) => {
  assert.equal(e?.code, c, `expected ${c}, got ${e?.code} ${JSON.stringify(e?.params)} ${e?.stack}`);
  if (params) assert.deepEqual(e.params, params);
  return true;
};
const CLASSES = ['VM', 'VM_metrics', 'VBD', 'VIF', 'VIF_metrics', 'VDI', 'network'];
const counts = (svc: Services) => Object.fromEntries(CLASSES.map((c) => [c, svc.db.all(c).size]));

test('hostile ova.xml objects are refused with xapi errors and create nothing', async (t) => {
  const { m, vm } = await vmWithDevices(t);
  const svc = m.manager.svc;
  const { db } = svc;
  const sr = await defaultSr(m);
  const exp = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
  const text = ovaXml(db.model, exp.doc);
  const fresh = (): OvaDocument => parseOvaXml(db.model, text);
  const full = { mode: 'full' as const, sr };
  const before = counts(svc);
  const baseline = ovaObjectsToPlan(db, fresh(), full).creates.length;
  const one = (doc: OvaDocument, cls: string, pick?: (s: any) => boolean) =>
    doc.objects.find((o) => o.class === cls && (!pick || pick(o.snapshot)))!;

  // Classes with no handler (and Berth's absent GPU/PVS) are ignored, as xapi's handle_all does.
  const extra = fresh();
  extra.objects.push({ class: 'Bogus', id: 'Ref:900', snapshot: { x: 1 } });
  extra.objects.push({ class: 'PVS_site', id: 'Ref:901', snapshot: { uuid: 'u' } });
  assert.equal(ovaObjectsToPlan(db, extra, full).creates.length, baseline);
  const unknownText = text.replace(
    '<value><array><data><value><struct><member><name>class</name>',
    '<value><array><data><value><struct><member><name>class</name><value>Bogus</value></member><member><name>id</name><value>Ref:77</value></member><member><name>snapshot</name><value><struct><member><name>a</name><value><i4>1</i4></value></member></struct></value></member></struct></value><value><struct><member><name>class</name>',
  );
  assert.notEqual(unknownText, text);
  assert.equal(parseOvaXml(db.model, unknownText).objects[0].class, 'Bogus');

  // Dangling refs: IMPORT_ERROR_FAILED_TO_FIND_OBJECT [id].
  const cases: [string, (d: OvaDocument) => void, string, string[]?][] = [
    [
      'VBD.VM',
      (d) => void (one(d, 'VBD').snapshot.VM = 'Ref:999'),
      'IMPORT_ERROR_FAILED_TO_FIND_OBJECT',
      ['Ref:999'],
    ],
    [
      'VDI.SR',
      (d) => void (one(d, 'VDI').snapshot.SR = 'Ref:998'),
      'IMPORT_ERROR_FAILED_TO_FIND_OBJECT',
      ['Ref:998'],
    ],
    [
      'VIF.network',
      (d) => void (one(d, 'VIF').snapshot.network = 'OpaqueRef:NULL'),
      'IMPORT_ERROR_FAILED_TO_FIND_OBJECT',
      ['OpaqueRef:NULL'],
    ],
    [
      'VM.snapshot_of',
      (d) => Object.assign(one(d, 'VM').snapshot, { is_a_snapshot: true, snapshot_of: 'Ref:996' }),
      'IMPORT_ERROR_FAILED_TO_FIND_OBJECT',
      ['Ref:996'],
    ],
    [
      'attached disk without its VDI',
      (d) =>
        Object.assign(one(d, 'VBD', (s) => s.type === 'Disk').snapshot, {
          currently_attached: true,
          VDI: 'Ref:995',
        }),
      'IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND',
      [],
    ],
    ['duplicate ids', (d) => d.objects.push({ ...d.objects[0] }), 'IMPORT_ERROR_GENERIC'],
    ['newer xapi', (d) => void (d.version.xapi_major = 26), 'IMPORT_INCOMPATIBLE_VERSION', []],
    [
      'a VM record without memory_static_max',
      (d) => void delete one(d, 'VM').snapshot.memory_static_max,
      'IMPORT_ERROR_GENERIC',
    ],
    [
      'a bad userdevice',
      (d) => void (one(d, 'VBD').snapshot.userdevice = '../../x'),
      'INVALID_DEVICE',
      ['../../x'],
    ],
    ['a bad VIF device', (d) => void (one(d, 'VIF').snapshot.device = '9999'), 'INVALID_DEVICE', ['9999']],
    [
      'a negative virtual_size',
      (d) => void (one(d, 'VDI').snapshot.virtual_size = -1),
      'IMPORT_ERROR_GENERIC',
    ],
  ];
  for (const [what, mutate, err, params] of cases) {
    const d = fresh();
    mutate(d);
    assert.throws(() => ovaObjectsToPlan(db, d, full), code(err, params), what);
  }

  // Wrong types, broken XML, too much of it: IMPORT_ERROR_GENERIC from the reader.
  const memMember = /<member><name>memory_static_max<\/name><value>\d+<\/value><\/member>/;
  assert.match(text, memMember);
  const bad: [string, string][] = [
    [
      'int64 as a struct',
      text.replace(
        memMember,
        '<member><name>memory_static_max</name><value><struct></struct></value></member>',
      ),
    ],
    [
      'string as a boolean',
      text.replace(
        /<member><name>name_label<\/name><value>meta-vm<\/value>/,
        '<member><name>name_label</name><value><boolean>1</boolean></value>',
      ),
    ],
    ['not XML', '<value><struct><member>'],
    ['not a struct', '<value><array><data></data></array></value>'],
    [
      'no objects',
      '<value><struct><member><name>version</name><value><struct></struct></value></member></struct></value>',
    ],
    [
      'objects not an array',
      text.replace(
        /<name>objects<\/name><value><array><data>.*<\/data><\/array><\/value>/,
        '<name>objects</name><value>x</value>',
      ),
    ],
    ['a DOCTYPE', `<!DOCTYPE x [<!ENTITY a "b">]>${text}`],
  ];
  for (const [what, t2] of bad)
    assert.throws(() => parseOvaXml(db.model, t2), code('IMPORT_ERROR_GENERIC'), what);

  const huge = text.replace(
    /<member><name>tags<\/name><value><array><data><\/data><\/array><\/value><\/member>/,
    `<member><name>tags</name><value><array><data>${'<value>t</value>'.repeat(30_000)}</data></array></value></member>`,
  );
  assert.notEqual(huge, text);
  assert.throws(
    () => parseOvaXml(db.model, huge, { maxElements: 20_000, maxDepth: 32, maxObjects: 100 }),
    code('IMPORT_ERROR_GENERIC'),
  );
  assert.throws(
    () => parseOvaXml(db.model, text, { maxElements: 1_000_000, maxDepth: 32, maxObjects: 3 }),
    code('IMPORT_ERROR_GENERIC'),
  );
  const deep = `<value>${'<array><data><value>'.repeat(100)}x${'</value></data></array>'.repeat(100)}</value>`;
  assert.throws(() => parseOvaXml(db.model, deep), code('IMPORT_ERROR_GENERIC'));
  assert.deepEqual(counts(svc), before, 'nothing was created');
});

// An ova.xml as xapi 24 (XCP-ng 8.3) writes it, produced by Python's own XML-RPC writer.
const XCPNG_OVA = `
import sys, xmlrpc.client as x
D = x.DateTime('20240131T12:34:56Z')
NULL = 'OpaqueRef:NULL'
vm = dict(uuid='5f5d0f0c-1c1e-4c5a-9a55-0a1b2c3d4e5f', allowed_operations=[], current_operations={},
  name_label='xcp-vm', name_description='from XCP-ng', power_state='Halted', user_version='1',
  is_a_template=False, is_default_template=False, suspend_VDI=NULL, resident_on='Ref:0', scheduled_to_be_resident_on=NULL,
  affinity='Ref:0', memory_overhead='11534336', memory_target='1073741824', memory_static_max='1073741824',
  memory_dynamic_max='1073741824', memory_dynamic_min='1073741824', memory_static_min='536870912',
  VCPUs_params={}, VCPUs_max=2, VCPUs_at_startup='2', actions_after_softreboot='soft_reboot',
  actions_after_shutdown='destroy', actions_after_reboot='restart', actions_after_crash='restart',
  consoles=[], VIFs=['Ref:5'], VBDs=['Ref:3', 'Ref:4'], VUSBs=[], crash_dumps=[], VTPMs=[],
  PV_bootloader='', PV_kernel='', PV_ramdisk='', PV_args='', PV_bootloader_args='', PV_legacy_args='',
  HVM_boot_policy='BIOS order', HVM_boot_params={'order': 'cdn'}, HVM_shadow_multiplier=1.0,
  platform={'viridian': 'true', 'acpi': '1', 'apic': 'true', 'pae': 'true', 'nx': 'true', 'device-model': 'qemu-upstream-compat'},
  PCI_bus='', other_config={'mac_seed': '0d0c0b0a-0000-4000-8000-000000000001', 'base_template_name': 'Other install media'},
  domid='-1', domarch='', last_boot_CPU_flags={}, is_control_domain=False, metrics='Ref:2', guest_metrics=NULL,
  last_booted_record='', recommendations='<restrictions/>', xenstore_data={}, ha_always_run=False, ha_restart_priority='',
  is_a_snapshot=False, snapshot_of=NULL, snapshots=[], snapshot_time=x.DateTime('19700101T00:00:00Z'),
  transportable_snapshot_id='', blobs={}, tags=['imported'], blocked_operations={}, snapshot_info={}, snapshot_metadata='',
  parent=NULL, children=[], bios_strings={'bios-vendor': 'Xen'}, protection_policy=NULL, is_snapshot_from_vmpp=False,
  snapshot_schedule=NULL, is_vmss_snapshot=False, appliance=NULL, start_delay='0', shutdown_delay='0', order='0', VGPUs=[],
  attached_PCIs=[], suspend_SR=NULL, version='0', generation_id='0:0', hardware_platform_version='0', has_vendor_device=False,
  requires_reboot=False, reference_label='other-install-media', domain_type='hvm', NVRAM={},
  pending_guidances=[], pending_guidances_recommended=[], pending_guidances_full=[],
  a_field_from_the_future='ignored')
host = dict(uuid='00000000-dead-beef-0000-000000000000', name_label='xcp-host', PIFs=[], PBDs=[], other_config={}, software_version={})
vmm = dict(uuid='6a6a6a6a-0000-4000-8000-000000000002', memory_actual='1073741824', VCPUs_number='2', VCPUs_utilisation={'0': 0.25},
  VCPUs_CPU={}, VCPUs_params={}, VCPUs_flags={}, state=[], start_time=D, install_time=D, last_updated=D, other_config={},
  hvm=True, nested_virt=False, nomigrate=False, current_domain_type='hvm')
def vbd(i, vdi, t):
  return dict(uuid='7b7b7b7b-0000-4000-8000-00000000000%d' % i, allowed_operations=[], current_operations={}, VM='Ref:1',
    VDI=vdi, device='xvd' + 'ab'[i], userdevice=str(i), bootable=(i == 0), mode='RW' if t == 'Disk' else 'RO', type=t,
    unpluggable=True, storage_lock=False, empty=(vdi == NULL), other_config={}, currently_attached=False,
    status_code='0', status_detail='', runtime_properties={}, qos_algorithm_type='', qos_algorithm_params={},
    qos_supported_algorithms=[], metrics=NULL)
vif = dict(uuid='8c8c8c8c-0000-4000-8000-000000000001', allowed_operations=[], current_operations={}, device='0',
  network='Ref:6', VM='Ref:1', MAC='aa:bb:cc:00:11:22', MTU='1500', other_config={}, currently_attached=False,
  status_code='0', status_detail='', runtime_properties={}, qos_algorithm_type='', qos_algorithm_params={},
  qos_supported_algorithms=[], metrics=NULL, MAC_autogenerated=True, locking_mode='network_default',
  ipv4_allowed=[], ipv6_allowed=[], ipv4_configuration_mode='None', ipv4_addresses=[], ipv4_gateway='',
  ipv6_configuration_mode='None', ipv6_addresses=[], ipv6_gateway='')
net = dict(uuid='9d9d9d9d-0000-4000-8000-000000000001', name_label='Pool-wide network associated with eth0',
  name_description='', allowed_operations=[], current_operations={}, VIFs=['Ref:5'], PIFs=[], MTU='1500',
  other_config={}, bridge='xenbr0', managed=True, blobs={}, tags=[], default_locking_mode='unlocked',
  assigned_ips={}, purpose=[])
vdi = dict(uuid='aeaeaeae-0000-4000-8000-000000000001', name_label='xcp disk', name_description='Created by template provisioner',
  allowed_operations=[], current_operations={}, SR='Ref:8', VBDs=['Ref:3'], crash_dumps=[], virtual_size='10485760',
  physical_utilisation='4096', type='system', sharable=False, read_only=False, other_config={}, storage_lock=False,
  location='aeaeaeae-0000-4000-8000-000000000001', managed=True, missing=False, parent=NULL, xenstore_data={},
  sm_config={'vdi_type': 'vhd'}, is_a_snapshot=False, snapshot_of=NULL, snapshots=[], snapshot_time=D, tags=[],
  allow_caching=False, on_boot='persist', metadata_of_pool=NULL, metadata_latest=False, is_tools_iso=False,
  cbt_enabled=False)
sr = dict(uuid='bfbfbfbf-0000-4000-8000-000000000001', name_label='Local storage', name_description='',
  allowed_operations=[], current_operations={}, VDIs=['Ref:7'], PBDs=[], virtual_allocation='10485760',
  physical_utilisation='4096', physical_size='100000000000', type='ext', content_type='user', shared=False,
  other_config={}, tags=[], sm_config={'devserial': 'scsi-x'}, blobs={}, local_cache_enabled=False,
  introduced_by=NULL, clustered=False, is_tools_sr=False)
version = dict(hostname='localhost', date='2024-09-20', product_version='8.3.0', product_brand='XCP-ng',
  build_number='release/yangtze/master/58', xapi_major=24, xapi_minor=19, export_vsn=2)
objs = [('host', 'Ref:0', host), ('VM', 'Ref:1', vm), ('VM_metrics', 'Ref:2', vmm), ('VBD', 'Ref:3', vbd(0, 'Ref:7', 'Disk')),
  ('VBD', 'Ref:4', vbd(1, NULL, 'CD')), ('VIF', 'Ref:5', vif), ('network', 'Ref:6', net), ('VDI', 'Ref:7', vdi), ('SR', 'Ref:8', sr)]
doc = {'version': version, 'objects': [{'class': c, 'id': i, 'snapshot': s} for c, i, s in objs]}
out = x.dumps((doc,), methodresponse=True)
start = out.index('<value>'); end = out.rindex('</value>') + len('</value>')
sys.stdout.write(out[start:end])
`;

test('an ova.xml as XCP-ng writes it (via an independent XML-RPC writer) imports', async (t) => {
  const text = execFileSync('/usr/bin/python3', ['-c', XCPNG_OVA], { encoding: 'utf8' });
  assert.match(text, /<string>xcp-vm<\/string>/, "Python's writer tags strings");
  assert.match(text, /<int>2<\/int>/);
  assert.match(text, /\n/, 'and puts newlines between elements');
  const m = await startStorageManager(t);
  const svc = m.manager.svc;
  const sr = await defaultSr(m);
  const doc = parseOvaXml(svc.db.model, text);
  assert.equal(doc.version.product_brand, 'XCP-ng');
  assert.equal(doc.version.xapi_major, 24);
  assert.equal(doc.version.export_vsn, 2);
  const vmObj = doc.objects.find((o) => o.class === 'VM')!;
  assert.equal(vmObj.snapshot.memory_static_max, 1024 * MiB, '<string> int64 read as a number');
  assert.equal(vmObj.snapshot.VCPUs_max, 2, '<int> read');
  assert.equal('a_field_from_the_future' in vmObj.snapshot, false);
  const plan = ovaObjectsToPlan(svc.db, doc, { mode: 'full', sr });
  assert.deepEqual(
    plan.disks.map((d) => d.id),
    ['Ref:7'],
  );
  const [vm] = await applyImportPlan(svc, plan, { writeDisks: async () => undefined });
  const rec = svc.db.get('VM', vm)!;
  assert.equal(rec.name_label, 'xcp-vm');
  assert.equal(rec.HVM_boot_policy, 'BIOS order');
  assert.deepEqual(rec.HVM_boot_params, { order: 'cdn' });
  assert.deepEqual(rec.tags, ['imported']);
  assert.equal(rec.resident_on, 'OpaqueRef:NULL', 'the foreign host is not here');
  assert.equal(rec.affinity, 'OpaqueRef:NULL');
  assert.equal(rec.domain_type, 'hvm');
  // Without a domain type (older xapi), it follows the boot policy.
  const older = parseOvaXml(svc.db.model, text);
  const olderVm = older.objects.find((o) => o.class === 'VM')!;
  delete olderVm.snapshot.domain_type;
  const planned = ovaObjectsToPlan(svc.db, older, { mode: 'full', sr }).creates.find((r) => r.cls === 'VM')!;
  assert.equal(planned.fields.domain_type, 'hvm');
  olderVm.snapshot.HVM_boot_policy = '';
  const pv = ovaObjectsToPlan(svc.db, older, { mode: 'full', sr }).creates.find((r) => r.cls === 'VM')!;
  assert.equal(pv.fields.domain_type, 'pv');
  assert.equal(
    Number(svc.db.get('VM_metrics', String(rec.metrics))!.VCPUs_number),
    2,
    "the file's VM_metrics",
  );
  const vbds = (rec.VBDs as string[]).map((b) => svc.db.get('VBD', b)!);
  assert.deepEqual(vbds.map((b) => `${b.userdevice}:${b.type}:${b.empty}`).sort(), [
    '0:Disk:false',
    '1:CD:true',
  ]);
  const disk = svc.db.get('VDI', String(vbds.find((b) => b.type === 'Disk')!.VDI))!;
  assert.equal(Number(disk.virtual_size), 10 * MiB);
  assert.equal(disk.name_label, 'xcp disk');
  assert.equal(disk.SR, sr);
  const vif = svc.db.get('VIF', (rec.VIFs as string[])[0])!;
  assert.notEqual(vif.MAC, 'aa:bb:cc:00:11:22', 'not a restore: a new MAC');
  assert.equal(
    svc.db.get('network', String(vif.network))!.name_label,
    'Pool-wide network associated with eth0',
  );

  // And Berth exports it again in a form Python reads.
  const again = vmToOvaObjects(svc.db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
  const text2 = ovaXml(svc.db.model, again.doc);
  assert.equal(
    parseOvaXml(svc.db.model, text2).objects.find((o) => o.class === 'VM')!.snapshot.name_label,
    'xcp-vm',
  );
});
