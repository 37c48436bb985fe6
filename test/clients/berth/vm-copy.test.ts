// `berth vm copy` against a real manager and agent: VM.clone without --sr (the disks are new
// VDIs of the same SR), VM.copy with --sr (full copies, in that SR), and a missing name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { EXIT_USAGE } from '../../../src/clients/berth/errors.js';
import { vmNoun } from '../../../src/clients/berth/nouns/vm.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { rejectsCli } from './compute-helpers.js';

async function diskVdis(api: Awaited<ReturnType<typeof connectApi>>, vm: string): Promise<ApiObject[]> {
  const vbds = (await api.call('VM.get_VBDs', vm)) as string[];
  const out: ApiObject[] = [];
  for (const vbd of vbds) {
    const vdi = (await api.call('VBD.get_VDI', vbd)) as string;
    if (vdi !== 'OpaqueRef:NULL') out.push(await api.byRef('VDI', vdi));
  }
  return out;
}

test('vm copy: clone without --sr, full copy with --sr, a name required', { timeout: 120_000 }, async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  const src = (
    await runVerb(api, vmNoun, 'create', undefined, { name: 'orig', memory: '256M', disk: ['64M'] })
  ).outcome as ApiObject;
  const [srcDisk] = await diskVdis(api, src.ref);
  assert.ok(srcDisk, 'the source has a disk');

  const clone = (await runVerb(api, vmNoun, 'copy', src, { name: 'cloned' })).outcome as ApiObject;
  assert.equal(clone.cls, 'VM');
  assert.equal(clone.record.name_label, 'cloned');
  assert.notEqual(clone.ref, src.ref);
  const [cloneDisk] = await diskVdis(api, clone.ref);
  assert.ok(cloneDisk && cloneDisk.ref !== srcDisk.ref, 'the clone has a disk of its own');

  const sr = (await api.call('VDI.get_SR', srcDisk.ref)) as string;
  const srName = (await api.call('SR.get_name_label', sr)) as string;
  const { outcome } = await runVerb(api, vmNoun, 'clone', src, { name: 'copied', sr: srName });
  const copy = outcome as ApiObject;
  assert.equal(copy.record.name_label, 'copied');
  const [copyDisk] = await diskVdis(api, copy.ref);
  assert.ok(copyDisk, 'the copy has a disk');
  assert.notEqual(copyDisk.ref, srcDisk.ref);
  assert.equal(copyDisk.record.SR, sr);
  assert.equal(copyDisk.record.virtual_size, srcDisk.record.virtual_size);

  await rejectsCli(runVerb(api, vmNoun, 'copy', src, {}), EXIT_USAGE, /-n NAME/);
  // Nothing was made by the refused call: three VMs named as asked, no more.
  const names = (await api.allRecords('VM'))
    .filter((v) => !v.record.is_a_template && !v.record.is_control_domain)
    .map((v) => v.record.name_label)
    .sort();
  assert.deepEqual(names, ['cloned', 'copied', 'orig']);
});
