// Handlers honour every declared parameter: VM.start/start_on's force skips the nested-virt
// memory check, VM.resume/resume_on's force skips the CPU compatibility check, VM.snapshot's
// ignore_vdis leaves disks out, host.disable's auto_enable decides whether a restart re-enables
// the host (xapi_vm.ml start/resume, Cpuid_helpers, Xapi_vm_clone, xapi_host.ml disable).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startManager } from '../../helpers/manager.js';
import { harness, MiB } from './harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const unpinnedNestedVirt = {
  platform: { 'nested-virt': 'true' },
  memory_static_min: 128 * MiB,
  memory_dynamic_min: 128 * MiB,
  memory_dynamic_max: 256 * MiB,
  memory_static_max: 256 * MiB,
};

test('VM.start and VM.start_on: force=false checks the nested-virt memory pinning, force=true skips it', async (t) => {
  const h = await harness(t);
  const host = h.m.manager.svc.hostRef();
  const vm = await h.newVm(unpinnedNestedVirt);
  const maxpin = ['MEMORY_CONSTRAINT_VIOLATION_MAXPIN', 'nested virt'];
  assert.deepEqual(await h.failure('VM.start', vm, false, false), maxpin);
  assert.deepEqual(await h.failure('VM.start_on', vm, host, false, false), maxpin);
  assert.equal(h.agent.started.length, 0);
  await h.call('VM.start', vm, false, true);
  assert.equal(h.record('VM', vm).power_state, 'Running');
  // The operation's own checks still come first, force or not.
  assert.deepEqual(await h.failure('VM.start', vm, false, true), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
  assert.deepEqual(await h.failure('VM.start', vm, false, false), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);

  const vm2 = await h.newVm(unpinnedNestedVirt);
  await h.call('VM.start_on', vm2, host, true, true);
  assert.equal(h.record('VM', vm2).power_state, 'Paused');
});

test('VM.resume and VM.resume_on: force=false checks the CPU the VM last booted on, force=true skips it', async (t) => {
  const h = await harness(t);
  const { db } = h.m.manager;
  const host = h.m.manager.svc.hostRef();
  const vendor = String((h.record('host', host).cpu_info as Record<string, string>).vendor);
  const vm = await h.newVm();
  await h.call('VM.start', vm, false, false);
  await h.call('VM.suspend', vm);
  assert.equal(h.record('VM', vm).power_state, 'Suspended');

  db.update('VM', vm, { last_boot_CPU_flags: { vendor: `${vendor}-other` } });
  const other = [
    'VM_INCOMPATIBLE_WITH_THIS_HOST',
    vm,
    host,
    'VM last booted on a host which had a CPU from a different vendor.',
  ];
  assert.deepEqual(await h.failure('VM.resume', vm, false, false), other);
  assert.deepEqual(await h.failure('VM.resume_on', vm, host, false, false), other);
  // Features the host cannot compare (no leveling keys): refused unless forced, as xapi.
  db.update('VM', vm, { last_boot_CPU_flags: { vendor, features: '0000ffff-ffffffff' } });
  assert.deepEqual(await h.failure('VM.resume', vm, false, false), [
    'VM_INCOMPATIBLE_WITH_THIS_HOST',
    vm,
    host,
    "Host does not have new leveling feature keys - not comparing VM's flags",
  ]);
  assert.equal(h.agent.calls.filter(([c]) => c === 'resume').length, 0);

  await h.call('VM.resume', vm, false, true);
  assert.equal(h.agent.calls.filter(([c]) => c === 'resume').length, 1);
  assert.equal(h.record('VM', vm).power_state, 'Running');

  // Same vendor, no features recorded: compatible without force.
  await h.call('VM.suspend', vm);
  db.update('VM', vm, { last_boot_CPU_flags: { vendor } });
  await h.call('VM.resume_on', vm, host, false, false);
  assert.equal(h.record('VM', vm).power_state, 'Running');
});

test("VM.snapshot's ignore_vdis: the ignored disks are left out of the snapshot", async (t) => {
  const h = await harness(t);
  const sr = String(h.record('pool', h.m.manager.svc.poolRef()).default_SR);
  const vm = await h.newVm();
  const vdi = async (name: string) =>
    h.call('VDI.create', vdiRecord(sr, 4 * MiB, { name_label: name, name_description: '' }));
  const [system, scratch] = [await vdi('system'), await vdi('scratch')];
  for (const [i, d] of [system, scratch].entries()) {
    await h.call('VBD.create', vbdRecord(vm, d, { userdevice: String(i), bootable: i === 0 }));
  }
  const snapVdis = (snap: string) =>
    (h.record('VM', snap).VBDs as string[]).map((b) => h.record('VDI', h.record('VBD', b).VDI).snapshot_of);

  const all = await h.call('VM.snapshot', vm, 'all', []);
  assert.deepEqual(new Set(snapVdis(all)), new Set([system, scratch]));
  const some = await h.call('VM.snapshot', vm, 'without scratch', [scratch]);
  assert.deepEqual(snapVdis(some), [system]);
});

test("host.disable's auto_enable: true re-enables the host at the next start, false keeps it disabled", async (t) => {
  const first = await startManager(t);
  const dataDir = first.dataDir;
  const svc = first.manager.svc;
  const session = svc.sessions.validate(svc.sessions.localLogin('setters-test'));
  const host = svc.hostRef();
  await svc.call(session, 'host.disable', [host, true]);
  assert.equal(first.manager.db.get('host', host)?.enabled, false);
  await first.manager.close();

  const second = await startManager(t, { dataDir });
  assert.equal(second.manager.db.get('host', host)?.enabled, true, 'auto_enable=true: enabled again');
  const s2 = second.manager.svc;
  await s2.call(s2.sessions.validate(s2.sessions.localLogin('setters-test')), 'host.disable', [host, false]);
  await second.manager.close();

  const third = await startManager(t, { dataDir });
  assert.equal(third.manager.db.get('host', host)?.enabled, false, 'auto_enable=false: still disabled');
  const s3 = third.manager.svc;
  await s3.call(s3.sessions.validate(s3.sessions.localLogin('setters-test')), 'host.enable', [host]);
  await third.manager.close();
  const fourth = await startManager(t, { dataDir });
  assert.equal(fourth.manager.db.get('host', host)?.enabled, true);
});
