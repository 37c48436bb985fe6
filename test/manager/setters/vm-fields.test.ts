// The other hand-implemented VM setters through the real dispatcher (xapi_vm.ml): delays,
// HA priority, domain type / boot policy, vendor device, BIOS strings, suspend VDI, appliances,
// groups, snapshot schedules, NVRAM, templates and blocked operations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NULL_REF } from '../../../src/shared/datamodel/types.js';
import { harness } from './harness.js';

test('start_delay, shutdown_delay and order are non-negative', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  for (const f of ['start_delay', 'shutdown_delay', 'order']) {
    assert.deepEqual(await h.failure(`VM.set_${f}`, vm, -1), [
      'INVALID_VALUE',
      `${f} must be non-negative`,
      '-1',
    ]);
    await h.call(`VM.set_${f}`, vm, 5);
    assert.equal(h.record('VM', vm)[f], 5);
  }
});

test('HA restart priority: restart, best-effort or ""; a running VM follows it with ha_always_run', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  assert.deepEqual(await h.failure('VM.set_ha_restart_priority', vm, 'always'), [
    'INVALID_VALUE',
    'ha_restart_priority',
    'always',
  ]);
  await h.call('VM.set_ha_restart_priority', vm, 'best-effort');
  assert.equal(h.record('VM', vm).ha_always_run, false);
  await h.call('VM.start', vm, false, false);
  await h.call('VM.set_ha_restart_priority', vm, 'restart');
  assert.equal(h.record('VM', vm).ha_always_run, true);
  await h.call('VM.set_ha_always_run', vm, false);
  assert.deepEqual([h.record('VM', vm).ha_restart_priority, h.record('VM', vm).ha_always_run], ['', false]);
});

test('domain_type and HVM_boot_policy set each other; unspecified is refused', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  assert.deepEqual(await h.failure('VM.set_domain_type', vm, 'unspecified'), [
    'INVALID_VALUE',
    'domain_type',
    'unspecified',
  ]);
  await h.call('VM.set_domain_type', vm, 'hvm');
  assert.equal(h.record('VM', vm).HVM_boot_policy, 'BIOS order');
  await h.call('VM.set_HVM_boot_policy', vm, '');
  assert.equal(h.record('VM', vm).domain_type, 'pv');
  await h.call('VM.set_HVM_boot_policy', vm, 'BIOS order');
  assert.equal(h.record('VM', vm).domain_type, 'hvm');
});

test('has_vendor_device on a halted VM only; BIOS strings once, settable keys, printable, ≤ 512', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  assert.deepEqual(await h.failure('VM.set_bios_strings', vm, { 'bios-mode': 'x' }), [
    'INVALID_VALUE',
    'bios-mode',
    'Unknown key',
  ]);
  assert.deepEqual(await h.failure('VM.set_bios_strings', vm, { 'system-version': '' }), [
    'INVALID_VALUE',
    'system-version',
    'Value provided is empty',
  ]);
  const long = 'x'.repeat(513);
  assert.deepEqual(await h.failure('VM.set_bios_strings', vm, { 'system-version': long }), [
    'INVALID_VALUE',
    'system-version',
    `${long} has length more than 512 characters`,
  ]);
  assert.deepEqual(await h.failure('VM.set_bios_strings', vm, { 'system-version': 'a\tb' }), [
    'INVALID_VALUE',
    'system-version',
    'a\tb has non-printable ASCII characters',
  ]);
  await h.call('VM.set_bios_strings', vm, { 'system-manufacturer': 'Berth' });
  const bios = h.record('VM', vm).bios_strings;
  assert.equal(bios['system-manufacturer'], 'Berth');
  assert.equal(bios['bios-vendor'], 'Xen', 'the generic strings fill the rest');
  assert.deepEqual(await h.failure('VM.set_bios_strings', vm, { 'system-version': '2' }), [
    'VM_BIOS_STRINGS_ALREADY_SET',
  ]);

  await h.call('VM.set_has_vendor_device', vm, false);
  await h.call('VM.start', vm, false, false);
  assert.deepEqual(await h.failure('VM.set_has_vendor_device', vm, true), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
});

test('suspend_VDI only on a suspended VM; appliances, groups and schedules not for templates', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  assert.deepEqual(await h.failure('VM.set_suspend_VDI', vm, NULL_REF), [
    'VM_BAD_POWER_STATE',
    vm,
    'suspended',
    'halted',
  ]);
  const tpl = await h.newVm({ is_a_template: true });
  assert.deepEqual(await h.failure('VM.set_appliance', tpl, NULL_REF), [
    'OPERATION_NOT_ALLOWED',
    'Control domains, templates and snapshots cannot be assigned to appliances.',
  ]);
  assert.deepEqual(await h.failure('VM.set_groups', tpl, []), [
    'OPERATION_NOT_ALLOWED',
    'Control domains, templates, and snapshots cannot be added to VM groups.',
  ]);
  assert.deepEqual(await h.failure('VM.set_groups', vm, ['OpaqueRef:a', 'OpaqueRef:b']), ['TOO_MANY_GROUPS']);
  assert.deepEqual(await h.failure('VM.set_snapshot_schedule', vm, 'OpaqueRef:nope'), [
    'INVALID_VALUE',
    'OpaqueRef:nope',
  ]);
  const vmss = await h.call('VMSS.create', {
    name_label: 's',
    type: 'snapshot',
    frequency: 'daily',
    schedule: {},
    retained_snapshots: 7,
    enabled: true,
  });
  assert.deepEqual(await h.failure('VM.set_snapshot_schedule', tpl, vmss), ['VM_IS_TEMPLATE', tpl]);
  for (const n of [0, 11])
    assert.deepEqual(await h.failure('VMSS.set_retained_snapshots', vmss, n), [
      'INVALID_VALUE',
      'retained_snapshots',
      String(n),
    ]);
  await h.call('VMSS.set_retained_snapshots', vmss, 10);
  // Schedules: keys per frequency, canonical spelling, defaults (xapi_vmss.ml, Map_check).
  assert.deepEqual(await h.failure('VMSS.set_schedule', vmss, { min: '10' }), [
    'INVALID_VALUE',
    'schedule:min',
    '10',
  ]);
  assert.deepEqual(await h.failure('VMSS.add_to_schedule', vmss, 'hour', '24'), [
    'INVALID_VALUE',
    'schedule:hour',
    '24',
  ]);
  assert.deepEqual(await h.failure('VMSS.add_to_schedule', vmss, 'colour', 'red'), [
    'INVALID_VALUE',
    'schedule:colour',
    'red',
  ]);
  assert.deepEqual(await h.failure('VMSS.set_schedule', vmss, { days: 'monday,Monday' }), [
    'INVALID_VALUE',
    'schedule:days',
    'monday,Monday',
  ]);
  await h.call('VMSS.set_schedule', vmss, { hour: '6', min: '30' });
  assert.deepEqual(h.record('VMSS', vmss).schedule, { hour: '6', min: '30' });
  await h.call('VMSS.set_frequency', vmss, 'weekly');
  assert.deepEqual(h.record('VMSS', vmss).schedule, { hour: '6', min: '30', days: 'Monday' });
  await h.call('VMSS.set_schedule', vmss, { days: 'friday,tuesday' });
  assert.equal(h.record('VMSS', vmss).schedule.days, 'Friday,Tuesday');
  await h.call('VMSS.set_frequency', vmss, 'hourly');
  assert.deepEqual(h.record('VMSS', vmss).schedule, { min: '30' });
  await h.call('VM.set_snapshot_schedule', vm, vmss);
  assert.equal(h.record('VM', vm).snapshot_schedule, vmss);
  await h.call('VM.set_snapshot_schedule', vm, NULL_REF);
});

test('NVRAM changes need a halted VM; a running VM cannot become a template', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  await h.call('VM.add_to_NVRAM', vm, 'EFI-variables', 'AAAA');
  assert.deepEqual(await h.failure('VM.add_to_NVRAM', vm, 'EFI-variables', 'BBBB'), [
    'MAP_DUPLICATE_KEY',
    'VM',
    'NVRAM',
    vm,
    'EFI-variables',
  ]);
  await h.call('VM.start', vm, false, false);
  const bad = ['VM_BAD_POWER_STATE', vm, 'halted', 'running'];
  assert.deepEqual(await h.failure('VM.set_NVRAM', vm, {}), bad);
  assert.deepEqual(await h.failure('VM.remove_from_NVRAM', vm, 'EFI-variables'), bad);
  // The operation is checked before the map: a duplicate key on a running VM is a power-state error.
  assert.deepEqual(await h.failure('VM.add_to_NVRAM', vm, 'EFI-variables', 'CCCC'), bad);
  assert.deepEqual(await h.failure('VM.set_is_a_template', vm, true), bad);
  assert.equal(h.record('VM', vm).is_a_template, false);
});

test('blocked operations change allowed_operations at once (add_to/remove_from too)', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  assert.ok(h.record('VM', vm).allowed_operations.includes('start'));
  await h.call('VM.add_to_blocked_operations', vm, 'start', 'maintenance');
  assert.ok(!h.record('VM', vm).allowed_operations.includes('start'));
  assert.deepEqual(await h.failure('VM.start', vm, false, false), ['OPERATION_BLOCKED', vm, 'maintenance']);
  await h.call('VM.remove_from_blocked_operations', vm, 'start');
  assert.ok(h.record('VM', vm).allowed_operations.includes('start'));
  await h.call('VM.set_blocked_operations', vm, { clone: 'no' });
  assert.ok(!h.record('VM', vm).allowed_operations.includes('clone'));
  // A template made of a VM: is_a_template set, then false clears is_default_template.
  await h.call('VM.set_is_a_template', vm, true);
  assert.ok(!h.record('VM', vm).allowed_operations.includes('start'));
  await h.call('VM.set_is_a_template', vm, false);
  assert.ok(h.record('VM', vm).allowed_operations.includes('start'));
});

test('any name_label is accepted, as xapi; the VM still starts with a label QEMU takes', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  const label = `line one\nline two ${'é'.repeat(300)}`;
  await h.call('VM.set_name_label', vm, label);
  assert.equal(h.record('VM', vm).name_label, label);
  await h.call('VM.start', vm, false, false);
  const name = h.agent.started.at(-1)!.name;
  assert.equal(name.length, 255);
  assert.ok(!name.includes('\n'));
  assert.ok(label.replace('\n', ' ').startsWith(name));
});
