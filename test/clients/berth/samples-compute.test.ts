// The compute samples (samples/berth/vm_create.yaml, pxekernel.yaml) give `vm create` and `vm
// autoinstall` the options they need, against a real manager. The YAML template is merged by
// template.ts's mergeTemplate, as the runner merges `-T FILE -V NAME VALUE`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { vmNoun } from '../../../src/clients/berth/nouns/vm.js';
import { mergeTemplate as merge } from '../../../src/clients/berth/template.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { newNetwork } from './compute-helpers.js';

const SAMPLES = join(import.meta.dirname, '../../../samples/berth');
const GiB = 2 ** 30;

test('samples/berth/vm_create.yaml makes the VM the README example describes', {
  timeout: 120_000,
}, async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  await newNetwork(api, 'lan-sample');
  const opts = await merge({ name: 'web01', memory: '3G' }, join(SAMPLES, 'vm_create.yaml'), {
    memory: '2G',
    cores: '4',
    sr: 'Local storage',
    ostype: 'debian12',
    disksize: '64M',
    network: 'lan-sample',
  });
  const vm = (await runVerb(api, vmNoun, 'create', undefined, opts)).outcome as ApiObject;
  // -m on the command line beats the template's memory.
  assert.equal(Number(vm.record.memory_static_max), 3 * GiB);
  assert.equal(Number(vm.record.VCPUs_max), 4);
  assert.equal((vm.record.other_config as Record<string, string>).ostype, 'debian12');
  const disks = ((await runVerb(api, vmNoun, 'disks', vm)).outcome as { records: ApiObject[] }).records;
  assert.deepEqual(
    disks.map((d) => [d.record.name_label, Number(d.record.virtual_size)]),
    [['web01_sys', 64 * 2 ** 20]],
  );
  const nics = ((await runVerb(api, vmNoun, 'nics', vm)).outcome as { records: ApiObject[] }).records;
  assert.deepEqual(
    nics.map((n) => n.record.network_name_label),
    ['lan-sample'],
  );

  // Without -V network the NIC list is empty (`${network:}`), and the defaults fill the rest.
  const bare = await merge({ name: 'web02' }, join(SAMPLES, 'vm_create.yaml'), { sr: 'Local storage' });
  const vm2 = (await runVerb(api, vmNoun, 'create', undefined, bare)).outcome as ApiObject;
  assert.equal(Number(vm2.record.memory_static_max), GiB);
  assert.deepEqual(vm2.record.VIFs, []);
});

test('samples/berth/pxekernel.yaml gives autoinstall its kernel, initrd and command line', async () => {
  const opts = await merge({}, join(SAMPLES, 'pxekernel.yaml'), { osversion: '12', hostname: 'web01' });
  assert.equal(opts.kernel, '/var/lib/berth/install/debian12/vmlinuz');
  assert.equal(opts.initrd, '/var/lib/berth/install/debian12/initrd.gz');
  assert.match(String(opts.cmdline), /preseed\/debian12\.cfg hostname=web01 console=ttyS0 $/);
  const verb = vmNoun.verbs.find((v) => v.name === 'autoinstall');
  assert.equal(verb?.usesTemplate, true);
  for (const k of Object.keys(opts))
    assert.ok(
      verb?.options?.some((o) => o.long === k),
      `autoinstall takes --${k}`,
    );
});
