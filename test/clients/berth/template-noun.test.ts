// The `template` and `snapshot` nouns and XVA transfers against a real manager and agent:
// instantiate a template, snapshot/revert/delete through the snapshot noun, the noun filters,
// and an XVA export read back by Python's tarfile then imported again as a new VM.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { EXIT_NOT_FOUND, EXIT_USAGE } from '../../../src/clients/berth/errors.js';
import { snapshotNoun } from '../../../src/clients/berth/nouns/snapshot.js';
import { templateNoun } from '../../../src/clients/berth/nouns/template.js';
import { vdiNoun } from '../../../src/clients/berth/nouns/vdi.js';
import { vmNoun } from '../../../src/clients/berth/nouns/vm.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { rejectsCli } from './compute-helpers.js';

const MiB = 2 ** 20;

test('templates, snapshots and XVA export/import', { timeout: 180_000 }, async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  const dir = tempDir(t);

  // instantiate: a halted VM with the template's direct-kernel boot.
  const [tmplRef] = (await api.call('VM.get_by_name_label', 'Berth test guest')) as string[];
  const tmpl = await api.byRef('VM', tmplRef);
  const vm = (await runVerb(api, templateNoun, 'instantiate', tmpl, { name: 'guest01' }))
    .outcome as ApiObject;
  assert.equal(vm.record.is_a_template, false);
  assert.equal(vm.record.power_state, 'Halted');
  assert.equal(vm.record.PV_kernel, tmpl.record.PV_kernel);
  await rejectsCli(runVerb(api, templateNoun, 'instantiate', tmpl, {}), EXIT_USAGE, /needs a name/);
  // --sr: VM.copy (disks copied into that SR) instead of a clone.
  const copied = (
    await runVerb(api, templateNoun, 'instantiate', tmpl, { name: 'guest02', sr: 'Local storage' })
  ).outcome as ApiObject;
  assert.equal(copied.record.is_a_template, false);
  assert.equal(copied.record.PV_kernel, tmpl.record.PV_kernel);
  await runVerb(api, vmNoun, 'delete', copied);
  await rejectsCli(
    runVerb(api, templateNoun, 'instantiate', tmpl, { name: 'x', sr: 'nowhere' }),
    EXIT_NOT_FOUND,
    /no SR found matching 'nowhere'/,
  );

  // A disk with content to carry through the XVA.
  await runVerb(api, vmNoun, 'disks', vm, {}, ['add', '--size', '4M', '--name', 'guest01_data']);

  // Noun filters: templates, snapshots and VMs apart.
  const all = await api.allRecords('VM');
  const names = (f: (r: Record<string, unknown>) => boolean) =>
    all.filter((o) => f(o.record)).map((o) => o.record.name_label);
  assert.deepEqual(names(vmNoun.filter!), ['guest01']);
  assert.ok(names(templateNoun.filter!).includes('Berth test guest'));
  assert.ok(!names(templateNoun.filter!).includes('guest01'));

  // snapshot through vm, seen by the snapshot noun; revert and delete through it.
  const snap = (await runVerb(api, vmNoun, 'snapshot', vm, { name: 'clean' })).outcome as ApiObject;
  const snaps = (await api.allRecords('VM')).filter((o) => snapshotNoun.filter!(o.record));
  assert.deepEqual(
    snaps.map((s) => s.record.name_label),
    ['clean'],
  );
  await api.call('VM.set_VCPUs_max', vm.ref, 2);
  assert.equal((await runVerb(api, snapshotNoun, 'revert', snap)).outcome, true);
  assert.equal(Number(await api.call('VM.get_VCPUs_max', vm.ref)), 1);
  const snapVdis = [];
  for (const vbd of (await api.call('VM.get_VBDs', snap.ref)) as string[])
    snapVdis.push(await api.call('VBD.get_VDI', vbd));
  // Its disk images are the snapshot's, not disks of their own.
  const vdiRecords = await api.allRecords('VDI');
  for (const v of snapVdis) assert.equal(vdiNoun.filter!(vdiRecords.find((o) => o.ref === v)!.record), false);
  assert.ok(vdiRecords.some((o) => vdiNoun.filter!(o.record) && o.record.name_label === 'guest01_data'));
  assert.equal((await runVerb(api, snapshotNoun, 'delete', snap)).outcome, true);
  await assert.rejects(api.call('VM.get_record', snap.ref), /HANDLE_INVALID/);
  for (const v of snapVdis) await assert.rejects(api.call('VDI.get_record', v), /HANDLE_INVALID/);

  // xva-export: a tar Python reads, with ova.xml first and the disk's chunks.
  const file = join(dir, 'guest01.xva');
  const exp = await runVerb(api, vmNoun, 'xva-export', vm, {}, [file]);
  assert.equal(exp.outcome, true);
  const listing = execFileSync('/usr/bin/python3', [
    '-c',
    'import sys, tarfile\nwith tarfile.open(sys.argv[1]) as t:\n  for m in t.getmembers(): print(m.name, m.size)',
    file,
  ])
    .toString()
    .trim()
    .split('\n');
  assert.match(listing[0], /^ova\.xml \d+$/);
  assert.ok(
    listing.some((l) => /^Ref:\d+\/\d{8} 1048576$/.test(l)),
    listing.slice(0, 5).join('\n'),
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'xva-export', vm, { compress: 'lzma' }, [join(dir, 'x')]),
    EXIT_USAGE,
    /unknown compression 'lzma'/,
  );
  await rejectsCli(runVerb(api, vmNoun, 'xva-export', vm, {}, []), EXIT_USAGE, /needs one FILE/);

  // xva-import: a new VM with a copy of the disk.
  const imp = (await runVerb(api, vmNoun, 'xva-import', undefined, { sr: 'Local storage' }, [file]))
    .outcome as {
    records: ApiObject[];
  };
  assert.equal(imp.records.length, 1);
  const copy = imp.records[0];
  assert.notEqual(copy.ref, vm.ref);
  assert.equal(copy.record.name_label, 'guest01');
  const disks = ((await runVerb(api, vmNoun, 'disks', copy)).outcome as { records: ApiObject[] }).records;
  assert.deepEqual(
    disks.map((d) => [d.record.name_label, Number(d.record.virtual_size)]),
    [['guest01_data', 4 * MiB]],
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'xva-import', undefined, { sr: 'nope' }, [file]),
    EXIT_NOT_FOUND,
    /no SR found matching 'nope'/,
  );

  // template delete: a template made from the VM goes with its disks.
  const made = (await api.call('VM.clone', copy.ref, 'tmpl-copy')) as string;
  await api.call('VM.set_is_a_template', made, true);
  assert.equal((await runVerb(api, templateNoun, 'delete', await api.byRef('VM', made))).outcome, true);
  await assert.rejects(api.call('VM.get_record', made), /HANDLE_INVALID/);
  assert.equal(((await api.call('VM.get_by_name_label', 'guest01')) as string[]).length, 2);
});
