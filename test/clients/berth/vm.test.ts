// The `vm` noun's verbs that need no running guest, against a real manager and agent: create
// (template, memory, vCPUs, disks, NICs, boot order), disks and nics sub-verbs, snapshot and
// revert, delete, and the bad-input messages. Power verbs on a real guest: compute-e2e.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { EXIT_NOT_FOUND, EXIT_USAGE } from '../../../src/clients/berth/errors.js';
import { vmNoun } from '../../../src/clients/berth/nouns/vm.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { newNetwork, rejectsCli } from './compute-helpers.js';
import { startManager } from '../../helpers/manager.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

test('vm create, disks, nics, snapshot, revert and delete on a real manager', {
  timeout: 120_000,
}, async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  await newNetwork(api, 'lan-compute');

  // create: default template, memory, vCPUs, two new disks and a NIC; the first disk boots.
  const { outcome } = await runVerb(api, vmNoun, 'create', undefined, {
    name: 'web01',
    memory: '2G',
    cpu: '2',
    ostype: 'debian12',
    network: ['lan-compute'],
    disk: ['1G', '64M,data'],
  });
  const vm = outcome as ApiObject;
  assert.equal(vm.cls, 'VM');
  assert.equal(vm.record.name_label, 'web01');
  assert.equal(vm.record.is_a_template, false);
  assert.equal(Number(vm.record.memory_static_max), 2 * GiB);
  assert.equal(Number(vm.record.memory_dynamic_min), 2 * GiB);
  assert.equal(Number(vm.record.VCPUs_max), 2);
  assert.equal(Number(vm.record.VCPUs_at_startup), 2);
  assert.equal((vm.record.other_config as Record<string, string>).ostype, 'debian12');
  // "Other install media" boots in BIOS order: disk, then its CD, then the network (PXE).
  assert.equal((vm.record.HVM_boot_params as Record<string, string>).order, 'cdn');

  const disks = await runVerb(api, vmNoun, 'disks', vm, {}, ['list']);
  const rows = (disks.outcome as { records: ApiObject[] }).records;
  assert.deepEqual(
    rows.map((r) => [
      r.record.userdevice,
      r.record.name_label,
      Number(r.record.virtual_size),
      r.record.bootable,
    ]),
    [
      ['0', 'web01_sys', GiB, true],
      ['1', 'web01_data', 64 * MiB, false],
    ],
  );
  const nics = (await runVerb(api, vmNoun, 'nics', vm)).outcome as { records: ApiObject[] };
  assert.deepEqual(
    nics.records.map((r) => [r.record.device, r.record.name_label, r.record.network_name_label]),
    [['0', 'eth0', 'lan-compute']],
  );
  assert.match(String(nics.records[0].record.MAC), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

  // disks add / remove: the next free device; remove destroys the VDI unless --keep.
  const added = (await runVerb(api, vmNoun, 'disks', vm, {}, ['add', '--size', '32M', '--name', 'scratch']))
    .outcome as ApiObject;
  assert.equal(added.cls, 'VDI');
  assert.equal(Number(added.record.virtual_size), 32 * MiB);
  const dev2 = (await runVerb(api, vmNoun, 'disks', vm, {}, ['list'])).outcome as { records: ApiObject[] };
  assert.equal(dev2.records.find((r) => r.record.name_label === 'scratch')?.record.userdevice, '2');
  assert.equal((await runVerb(api, vmNoun, 'disks', vm, {}, ['remove', '2'])).outcome, true);
  await assert.rejects(api.call('VDI.get_record', added.ref), /HANDLE_INVALID/);
  const kept = (await runVerb(api, vmNoun, 'disks', vm, {}, ['add', '-s', '16M'])).outcome as ApiObject;
  await runVerb(api, vmNoun, 'disks', vm, {}, ['remove', String(kept.record.uuid), '--keep']);
  assert.deepEqual(await api.call('VDI.get_VBDs', kept.ref), []);
  await rejectsCli(
    runVerb(api, vmNoun, 'disks', vm, {}, ['remove', '9']),
    EXIT_NOT_FOUND,
    /no disk '9' on this VM/,
  );
  await rejectsCli(runVerb(api, vmNoun, 'disks', vm, {}, ['add']), EXIT_USAGE, /needs a size/);
  await rejectsCli(
    runVerb(api, vmNoun, 'disks', vm, {}, ['add', '--size', '2X']),
    EXIT_USAGE,
    /invalid size '2X'/,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'disks', vm, {}, ['add', '--bogus']),
    EXIT_USAGE,
    /disks add: Unknown option/,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'disks', vm, {}, ['frob']),
    EXIT_USAGE,
    /unknown disks sub-verb 'frob'/,
  );

  // nics add / remove.
  await newNetwork(api, 'lan-two');
  const vif = (await runVerb(api, vmNoun, 'nics', vm, {}, ['add', '--network', 'lan-two']))
    .outcome as ApiObject;
  assert.equal(vif.record.device, '1');
  assert.equal(
    (await runVerb(api, vmNoun, 'nics', vm, {}, ['remove', String(vif.record.MAC)])).outcome,
    true,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'nics', vm, {}, ['add', '--network', 'nowhere']),
    EXIT_NOT_FOUND,
    /no network found matching 'nowhere'/,
  );

  // snapshot, then revert brings the changed name back.
  const snap = (await runVerb(api, vmNoun, 'snapshot', vm, { name: 'before' })).outcome as ApiObject;
  assert.equal(snap.record.is_a_snapshot, true);
  assert.equal(snap.record.name_label, 'before');
  const description = await api.call('VM.get_name_description', vm.ref);
  await api.call('VM.set_name_description', vm.ref, 'changed');
  assert.equal((await runVerb(api, vmNoun, 'revert', vm, { snapshot: 'before' })).outcome, true);
  assert.equal(await api.call('VM.get_name_description', vm.ref), description);
  await rejectsCli(
    runVerb(api, vmNoun, 'revert', vm, { snapshot: 'nope' }),
    EXIT_NOT_FOUND,
    /no snapshot 'nope'/,
  );

  // Halted VM: no console, no statistics (xapi's error), waitfor checks its state name.
  await rejectsCli(runVerb(api, vmNoun, 'ticket', vm), 251, /No console available, not started/);
  await assert.rejects(runVerb(api, vmNoun, 'statistics', vm), (e: unknown) => {
    assert.ok(e instanceof XenApiError);
    assert.equal(e.code, 'VM_BAD_POWER_STATE');
    return true;
  });
  await rejectsCli(runVerb(api, vmNoun, 'waitfor', vm, { status: 'flying' }), 251, /^Unknown status flying$/);
  await rejectsCli(runVerb(api, vmNoun, 'waitfor', vm, {}), 251, /^No status given to wait$/);
  assert.equal((await runVerb(api, vmNoun, 'waitfor', vm, { status: 'HALTED' })).outcome, undefined);
  await rejectsCli(runVerb(api, vmNoun, 'migrate', vm, {}), EXIT_USAGE, /needs a destination host/);
  await rejectsCli(
    runVerb(api, vmNoun, 'migrate', vm, { host: 'nohost' }),
    EXIT_NOT_FOUND,
    /no host found matching 'nohost'/,
  );
  // A halted VM does not migrate: the manager's error through the task.
  const [host] = (await api.call('host.get_all')) as string[];
  const hostUuid = String(await api.call('host.get_uuid', host));
  await assert.rejects(runVerb(api, vmNoun, 'migrate', vm, { host: hostUuid }), (e: unknown) => {
    assert.ok(e instanceof XenApiError, String(e));
    assert.equal(e.code, 'VM_BAD_POWER_STATE');
    return true;
  });

  // migrating: one round, no VM migrates.
  const mig = (await runVerb(api, vmNoun, 'migrating', [vm])).outcome as AsyncIterable<string>;
  const lines: string[] = [];
  for await (const l of mig) lines.push(l);
  assert.deepEqual(lines, ['------']);

  // delete: the VM and the disks only it used (the kept disk was detached before).
  const vdis = rows.map((r) => r.ref);
  assert.equal((await runVerb(api, vmNoun, 'delete', vm)).outcome, true);
  await assert.rejects(api.call('VM.get_record', vm.ref), /HANDLE_INVALID/);
  for (const v of vdis) await assert.rejects(api.call('VDI.get_record', v), /HANDLE_INVALID/);
  assert.ok(await api.call('VDI.get_record', kept.ref));
});

test('vm create: template, existing disk, --nopxe, -d keeps disks, bad input', {
  timeout: 120_000,
}, async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  const [sr] = (await api.call('SR.get_by_name_label', 'Local storage')) as string[];
  const srUuid = String(await api.call('SR.get_uuid', sr));
  const spare = (await api.call('VDI.create', {
    name_label: 'spare',
    SR: sr,
    virtual_size: 8 * MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
  })) as string;
  const spareUuid = String(await api.call('VDI.get_uuid', spare));

  const vm = (
    await runVerb(api, vmNoun, 'create', undefined, {
      name: 'db01',
      // `template:` as a YAML template's key (the seed's); -t is --base_template.
      template: 'Other install media',
      disk: [['16M', 'root', srUuid], spareUuid],
      nopxe: true,
      cpu: { topology: { cores: 2, sockets: 1 } },
    })
  ).outcome as ApiObject;
  assert.equal((vm.record.HVM_boot_params as Record<string, string>).order, 'cd');
  assert.equal(Number(vm.record.VCPUs_max), 2);
  const rows = ((await runVerb(api, vmNoun, 'disks', vm)).outcome as { records: ApiObject[] }).records;
  assert.deepEqual(
    rows.map((r) => [r.record.name_label, r.record.bootable]),
    [
      ['db01_root', true],
      ['spare', false],
    ],
  );
  // -d: the VM goes, its disks stay.
  await runVerb(api, vmNoun, 'remove', vm, { detach_only: true });
  for (const r of rows) assert.ok(await api.call('VDI.get_record', r.ref));

  await rejectsCli(runVerb(api, vmNoun, 'create', undefined, {}), EXIT_USAGE, /needs a name/);
  await rejectsCli(
    runVerb(api, vmNoun, 'create', undefined, { name: 'x', base_template: 'Windows 95' }),
    EXIT_NOT_FOUND,
    /no template found matching 'Windows 95'/,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'create', undefined, { name: 'x', memory: 'lots' }),
    EXIT_USAGE,
    /invalid size 'lots'/,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'create', undefined, { name: 'x', disk: ['1G,a,b,c'] }),
    EXIT_USAGE,
    /invalid disk '1G,a,b,c'/,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'create', undefined, { name: 'x', cpu: 'many' }),
    EXIT_USAGE,
    /invalid cpu/,
  );
  await rejectsCli(
    runVerb(api, vmNoun, 'create', undefined, { name: 'x', disk: ['1G'], sr: 'nosuch' }),
    EXIT_NOT_FOUND,
    /no SR found matching 'nosuch'/,
  );
  // More vCPUs than a VM may have: the manager's error once the VM and its disk exist; nothing
  // is left behind.
  await assert.rejects(
    runVerb(api, vmNoun, 'create', undefined, { name: 'huge', disk: ['16M'], cpu: 999 }),
    (e: unknown) => {
      assert.ok(e instanceof XenApiError, String(e));
      assert.deepEqual(e.description.slice(0, 3), ['VALUE_NOT_SUPPORTED', 'VCPUs_max', '999']);
      return true;
    },
  );
  assert.deepEqual(await api.call('VM.get_by_name_label', 'huge'), []);
  const left = (await api.allRecords('VDI')).filter((v) => String(v.record.name_label).startsWith('huge_'));
  assert.deepEqual(left, []);
});
