// The hand-implemented setters of VIF, network, PIF, Bond, host, pool, SR, VBD, subject and
// task through the real dispatcher (xapi_vif.ml, xapi_network.ml, xapi_pif.ml, xapi_bond.ml,
// xapi_host.ml, xapi_pool.ml, xapi_sr.ml, xapi_vbd.ml, xapi_subject.ml, xapi_task.ml).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NULL_REF } from '../../../src/shared/datamodel/types.js';
import { harness } from './harness.js';
import { vbdRecord, vdiRecord, vifRecord } from '../../helpers/records.js';

const netRec = { name_label: 'setters-net', name_description: '', MTU: 1500, other_config: {}, bridge: '' };

test('VIF: allowed addresses are IPs or CIDRs of the family, trunks are VLAN tags, duplicates dropped', async (t) => {
  const h = await harness(t);
  const vm = await h.newVm();
  const net = await h.call('network.create', netRec);
  const vif = await h.call('VIF.create', vifRecord(vm, net));
  const badV4 = ['INVALID_IP_ADDRESS_SPECIFIED', 'ipv4_allowed'];
  assert.deepEqual(await h.failure('VIF.add_ipv4_allowed', vif, '10.0.0.300'), badV4);
  assert.deepEqual(await h.failure('VIF.add_ipv4_allowed', vif, 'fe80::1'), badV4);
  assert.deepEqual(await h.failure('VIF.set_ipv4_allowed', vif, ['10.0.0.1', 'nope']), badV4);
  assert.deepEqual(await h.failure('VIF.add_ipv6_allowed', vif, '10.0.0.1'), [
    'INVALID_IP_ADDRESS_SPECIFIED',
    'ipv6_allowed',
  ]);
  await h.call('VIF.set_ipv4_allowed', vif, ['10.0.0.1', '10.1.0.0/16', '10.0.0.1']);
  assert.deepEqual(h.record('VIF', vif).ipv4_allowed, ['10.0.0.1', '10.1.0.0/16']);
  await h.call('VIF.add_ipv6_allowed', vif, 'fd00::/64');
  assert.deepEqual(await h.failure('VIF.add_trunks', vif, 4095), ['VLAN_TAG_INVALID', '4095']);
  assert.deepEqual(await h.failure('VIF.set_trunks', vif, [10, -1]), ['VLAN_TAG_INVALID', '-1']);
  await h.call('VIF.set_trunks', vif, [10, 20, 10]);
  assert.deepEqual(h.record('VIF', vif).trunks, [10, 20]);

  // network: the default locking mode cannot change under an attached VIF.
  h.m.manager.db.update('VIF', vif, { currently_attached: true });
  assert.deepEqual(await h.failure('network.set_default_locking_mode', net, 'disabled'), [
    'VIF_IN_USE',
    net,
    vif,
  ]);
  h.m.manager.db.update('VIF', vif, { currently_attached: false });
  await h.call('network.set_default_locking_mode', net, 'disabled');
});

test('network purposes: nbd and insecure_nbd never together; unmanaged networks have none', async (t) => {
  const h = await harness(t);
  const a = await h.call('network.create', netRec);
  const b = await h.call('network.create', { ...netRec, name_label: 'b' });
  await h.call('network.add_purpose', a, 'nbd');
  assert.deepEqual(await h.failure('network.add_purpose', b, 'insecure_nbd'), [
    'NETWORK_INCOMPATIBLE_PURPOSES',
    'insecure_nbd',
    'nbd',
  ]);
  await h.call('network.add_purpose', a, 'nbd'); // already there: nothing to do
  const u = await h.call('network.create', { ...netRec, name_label: 'u', managed: false });
  assert.deepEqual(await h.failure('network.add_purpose', u, 'nbd'), ['NETWORK_UNMANAGED', u]);
});

test('PIF and Bond properties: known names and values, physical PIFs and bond masters only', async (t) => {
  const h = await harness(t);
  const { db } = h.m.manager;
  const host = h.m.manager.svc.hostRef();
  const net = await h.call('network.create', netRec);
  const pif = (o: Record<string, unknown>) =>
    db.create('PIF', {
      device: 'eth9',
      network: net,
      host,
      MAC: '02:00:00:00:00:09',
      MTU: 1500,
      VLAN: -1,
      ...o,
    });
  const phys = pif({ physical: true, management: true });
  const vlan = pif({ physical: false, device: 'eth9.5', VLAN: 5 });
  assert.deepEqual(await h.failure('PIF.set_property', phys, 'gro', 'maybe'), [
    'INVALID_VALUE',
    'properties',
    'gro = maybe',
  ]);
  assert.deepEqual(await h.failure('PIF.set_property', phys, 'tso', 'on'), [
    'INVALID_VALUE',
    'properties',
    'tso = on',
  ]);
  assert.deepEqual(await h.failure('PIF.set_property', vlan, 'gro', 'off'), [
    'CANNOT_CHANGE_PIF_PROPERTIES',
    vlan,
  ]);
  await h.call('PIF.set_property', phys, 'gro', 'off');
  assert.deepEqual(h.record('PIF', phys).properties, { gro: 'off' });
  assert.deepEqual(await h.failure('PIF.set_primary_address_type', phys, 'IPv6'), [
    'PIF_IS_MANAGEMENT_IFACE',
    phys,
  ]);
  await h.call('PIF.set_primary_address_type', vlan, 'IPv6');

  const master = pif({ physical: false, device: 'bond0' });
  const slave = pif({ physical: true, device: 'eth8' });
  const bond = db.create('Bond', { master, slaves: [], mode: 'balance-slb', properties: {} });
  db.update('PIF', slave, { bond_slave_of: bond });
  assert.deepEqual(await h.failure('PIF.set_property', slave, 'gro', 'off'), [
    'CANNOT_CHANGE_PIF_PROPERTIES',
    slave,
  ]);
  await h.call('PIF.set_property', master, 'gro', 'off');
  assert.deepEqual(
    h.record('PIF', slave).properties,
    { gro: 'off' },
    "the master's properties reach its slaves",
  );

  assert.deepEqual(await h.failure('Bond.set_property', bond, 'lacp-time', 'fast'), [
    'INVALID_VALUE',
    'properties',
    'lacp-time = fast',
  ]);
  await h.call('Bond.set_mode', bond, 'lacp');
  assert.deepEqual(h.record('Bond', bond).properties, {
    hashing_algorithm: 'tcpudp_ports',
    'lacp-time': 'slow',
    'lacp-fallback-ab': 'true',
  });
  assert.deepEqual(await h.failure('Bond.set_property', bond, 'lacp-time', 'sometimes'), [
    'INVALID_VALUE',
    'properties',
    'lacp-time = sometimes',
  ]);
  await h.call('Bond.set_property', bond, 'lacp-time', 'fast');
  await h.call('Bond.set_mode', bond, 'active-backup');
  assert.deepEqual(h.record('Bond', bond).properties, {}, 'lacp properties dropped');
});

test('host setters: timeouts, max_cstate, time zone, NTP, iSCSI IQN, power-on config, legacy SSL, UEFI', async (t) => {
  const h = await harness(t);
  const host = h.m.manager.svc.hostRef();
  assert.deepEqual(await h.failure('host.set_console_idle_timeout', host, -1), [
    'INVALID_VALUE',
    'console_timeout',
    '-1',
  ]);
  await h.call('host.set_console_idle_timeout', host, 300);
  assert.deepEqual(await h.failure('host.set_ssh_enabled_timeout', host, 172801), [
    'INVALID_VALUE',
    'ssh_enabled_timeout',
    '172801',
  ]);
  await h.call('host.set_ssh_enabled_timeout', host, 172800);
  assert.deepEqual(await h.failure('host.set_max_cstate', host, 'C2'), ['INVALID_VALUE', 'max_cstate', 'C2']);
  assert.deepEqual(await h.failure('host.set_max_cstate', host, '2'), [
    'VALUE_NOT_SUPPORTED',
    'max_cstate',
    '2',
    'Only C0, C1 and unlimited are supported for max-cstate',
  ]);
  await h.call('host.set_max_cstate', host, '1,0');
  assert.deepEqual(await h.failure('host.set_timezone', host, 'Mars/Olympus_Mons'), [
    'INVALID_VALUE',
    'timezone',
    'Mars/Olympus_Mons',
  ]);
  await h.call('host.set_timezone', host, 'Europe/Paris');
  assert.equal(h.record('host', host).timezone, 'Europe/Paris');
  assert.deepEqual(await h.failure('host.set_ntp_mode', host, 'Custom'), [
    'INVALID_NTP_CONFIG',
    "Can't set ntp_mode to Custom when ntp_custom_servers is empty",
  ]);
  await h.call('host.set_ntp_custom_servers', host, ['ntp.example']);
  await h.call('host.set_ntp_mode', host, 'Custom');
  assert.deepEqual(await h.failure('host.set_ntp_custom_servers', host, []), [
    'INVALID_NTP_CONFIG',
    "Can't set ntp_custom_servers empty when ntp_mode is Custom",
  ]);
  assert.deepEqual(await h.failure('host.set_iscsi_iqn', host, ''), ['INVALID_VALUE', 'value', '']);
  await h.call('host.set_iscsi_iqn', host, 'iqn.2026-12.org.example:berth');
  assert.equal(h.record('host', host).other_config.iscsi_iqn, 'iqn.2026-12.org.example:berth');
  await h.call('host.set_multipathing', host, true);
  assert.equal(h.record('host', host).other_config.multipathing, 'true');
  await h.call('host.set_power_on_mode', host, 'wake-on-lan', { mac: '02:00:00:00:00:01' });
  assert.deepEqual(
    [h.record('host', host).power_on_mode, h.record('host', host).power_on_config],
    ['wake-on-lan', { mac: '02:00:00:00:00:01' }],
  );
  assert.deepEqual(await h.failure('host.set_ssl_legacy', host, true), [
    'VALUE_NOT_SUPPORTED',
    'value',
    'true',
    'Legacy SSL support has been removed',
  ]);
  await h.call('host.set_ssl_legacy', host, false);
  assert.equal((await h.failure('host.set_uefi_certificates', host, 'x'))[0], 'OPERATION_NOT_ALLOWED');
});

test('pool setters: auth cache, HA failures, vswitch, IGMP, update sync, telemetry, guest agent config', async (t) => {
  const h = await harness(t);
  const pool = h.m.manager.svc.poolRef();
  assert.deepEqual(await h.failure('pool.set_ext_auth_cache_expiry', pool, 0), [
    'INVALID_VALUE',
    'expiry',
    '0',
  ]);
  await h.call('pool.set_ext_auth_cache_expiry', pool, 300);
  assert.deepEqual(await h.failure('pool.set_ext_auth_cache_size', pool, -1), [
    'INVALID_VALUE',
    'size',
    '-1',
  ]);
  assert.deepEqual(await h.failure('pool.set_ha_host_failures_to_tolerate', pool, -1), [
    'INVALID_VALUE',
    'ha_host_failures_to_tolerate',
    '-1',
  ]);
  assert.deepEqual(await h.failure('pool.set_vswitch_controller', '10.0.0.1'), [
    'OPERATION_NOT_ALLOWED',
    'host not configured for vswitch operation',
  ]);
  assert.deepEqual(await h.failure('pool.set_igmp_snooping_enabled', pool, true), ['OPENVSWITCH_NOT_ACTIVE']);
  assert.deepEqual(await h.failure('pool.set_update_sync_enabled', pool, true), [
    'NO_REPOSITORIES_CONFIGURED',
  ]);
  await h.call('pool.set_update_sync_enabled', pool, false);
  const late = await h.failure('pool.set_telemetry_next_collection', pool, '2099-01-01T00:00:00Z');
  assert.deepEqual(late, ['TELEMETRY_NEXT_COLLECTION_TOO_LATE', '2099-01-01T00:00:00Z']);
  assert.deepEqual(await h.failure('pool.add_to_guest_agent_config', pool, 'auto_update_enabled', 'yes'), [
    'INVALID_VALUE',
    'guest_agent_config',
    'auto_update_enabled = yes',
  ]);
  assert.deepEqual(await h.failure('pool.add_to_guest_agent_config', pool, 'colour', 'red'), [
    'INVALID_VALUE',
    'guest_agent_config',
    'colour = red',
  ]);
  await h.call('pool.add_to_guest_agent_config', pool, 'auto_update_url', 'https://example.org/tools');
  assert.equal((await h.failure('pool.set_uefi_certificates', pool, 'x'))[0], 'OPERATION_NOT_ALLOWED');
  assert.equal((await h.failure('pool.set_custom_uefi_certificates', pool, 'x'))[0], 'OPERATION_NOT_ALLOWED');
});

test('SR.set_shared false with several PBDs; VBD.set_mode on a running VM', async (t) => {
  const h = await harness(t);
  const { db } = h.m.manager;
  const host = h.m.manager.svc.hostRef();
  const sr = db.create('SR', { name_label: 'shared', type: 'nfs', shared: true, content_type: 'user' });
  const pbds = [0, 1].map(() =>
    db.create('PBD', { SR: sr, host, device_config: {}, currently_attached: false }),
  );
  const e = await h.failure('SR.set_shared', sr, false);
  assert.equal(e[0], 'SR_HAS_MULTIPLE_PBDS');
  assert.deepEqual(new Set(e.slice(1)), new Set(pbds));
  assert.equal(h.record('SR', sr).shared, true);

  const vm = await h.newVm();
  const vbd = db.create('VBD', {
    VM: vm,
    VDI: NULL_REF,
    type: 'CD',
    mode: 'RO',
    empty: true,
    userdevice: '3',
  });
  await h.call('VM.start', vm, false, false);
  assert.deepEqual(await h.failure('VBD.set_mode', vbd, 'RO'), [
    'VM_BAD_POWER_STATE',
    vm,
    'halted',
    'running',
  ]);
});

test('subject roles: a role (not a permission) once; removing one the subject lacks fails', async (t) => {
  const h = await harness(t);
  const { db } = h.m.manager;
  const roleNamed = (name: string) => [...db.all('role')].find(([, r]) => r.name_label === name)![0];
  const admin = roleNamed('pool-admin');
  const permission = [...db.all('role')].find(([, r]) => r.is_internal)![0];
  const subject = db.create('subject', {
    subject_identifier: 'S-1-5-21-setters',
    other_config: {},
    roles: [],
  });
  assert.deepEqual(await h.failure('subject.add_to_roles', subject, permission), ['ROLE_NOT_FOUND']);
  await h.call('subject.add_to_roles', subject, admin);
  assert.deepEqual(h.record('subject', subject).roles, [admin]);
  assert.deepEqual(await h.failure('subject.add_to_roles', subject, admin), ['ROLE_ALREADY_EXISTS']);
  await h.call('subject.remove_from_roles', subject, admin);
  assert.deepEqual(h.record('subject', subject).roles, []);
  assert.deepEqual(await h.failure('subject.remove_from_roles', subject, admin), ['ROLE_NOT_FOUND']);
});

test("task other_config: only the task's creator (or task.destroy/any) may add or remove keys", async (t) => {
  const h = await harness(t);
  const { svc } = h.m.manager;
  await svc.users.add('setters-vmop', 'vm-operator', 'pw-setters');
  const own = await h.call('task.create', 'mine', '');
  await h.call('task.add_to_other_config', own, 'k', 'v');
  // Another user's task: a vm-operator holds no task.destroy/any.
  const other = svc.sessions.localLogin('setters-other');
  const theirs = (await svc.call(svc.sessions.validate(other), 'task.create', ['theirs', ''])) as string;
  const res = await fetch(`${h.m.httpUrl}/jsonrpc`, {
    method: 'POST',
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'session.login_with_password',
      params: ['setters-vmop', 'pw-setters', '1.0', 't'],
    }),
  });
  const session = ((await res.json()) as { result: string }).result;
  const add = await fetch(`${h.m.httpUrl}/jsonrpc`, {
    method: 'POST',
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 2,
      method: 'task.add_to_other_config',
      params: [session, theirs, 'k', 'v'],
    }),
  });
  const body = (await add.json()) as { error?: { message: string } };
  assert.equal(body.error?.message, 'RBAC_PERMISSION_DENIED');
  assert.deepEqual(h.record('task', theirs).other_config, {});
  // root (pool-admin) holds task.destroy/any.
  await h.call('task.add_to_other_config', theirs, 'k', 'v');
  await h.call('task.remove_from_other_config', theirs, 'k');
});

test('VDI.set_on_boot and set_allow_caching: not while a VM using the VDI runs', async (t) => {
  const h = await harness(t);
  const sr = String(h.record('pool', h.m.manager.svc.poolRef()).default_SR);
  const vm = await h.newVm();
  const vdi = await h.call('VDI.create', vdiRecord(sr, 4 * 1024 * 1024, { name_description: '' }));
  await h.call('VBD.create', vbdRecord(vm, vdi));
  await h.call('VDI.set_allow_caching', vdi, true);
  await h.call('VM.start', vm, false, false);
  const bad = ['VM_BAD_POWER_STATE', vm, 'halted', 'running'];
  assert.deepEqual(await h.failure('VDI.set_on_boot', vdi, 'reset'), bad);
  assert.deepEqual(await h.failure('VDI.set_allow_caching', vdi, false), bad);
  assert.equal(h.record('VDI', vdi).on_boot, 'persist');
  await h.call('VDI.set_name_label', vdi, 'renamed'); // names may change any time
});
