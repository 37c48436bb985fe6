// Storage-migration planning (xapi's xapi_vm_migrate.ml checks) over records held in memory: the
// dest map, vdi_map / vif_map checks in xapi's order, which disks move, VDI.pool_migrate's map.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/shared/errors.js';
import type { Row } from '../../../src/manager/db/database.js';
import {
  addressOfUrl,
  buildDest,
  checkVgpuMap,
  parseDest,
  type PlanInput,
  type PlanView,
  planIntraPool,
  poolMigrateHost,
  poolMigrateMap,
  remappedReader,
} from '../../../src/manager/vm/storage-migrate-plan.js';

const GiB = 1024 ** 3;

function records() {
  const t: Record<string, Map<string, Row>> = {};
  const put = (cls: string, ref: string, row: Row) => {
    t[cls] ??= new Map();
    t[cls].set(ref, row);
  };
  for (const h of ['hA', 'hB']) {
    put('host', h, { metrics: `m${h}`, enabled: true, address: h === 'hA' ? '10.0.0.1' : '10.0.0.2' });
    put('host_metrics', `m${h}`, { live: true, memory_total: 8 * GiB });
  }
  const sr = (ref: string, hosts: string[], type = 'file') => {
    put('SR', ref, { type, PBDs: hosts.map((h) => `pbd-${ref}-${h}`) });
    for (const h of hosts) put('PBD', `pbd-${ref}-${h}`, { SR: ref, host: h, currently_attached: true });
  };
  sr('localA', ['hA']);
  sr('localB', ['hB']);
  sr('localB2', ['hB']);
  sr('isoB', ['hB'], 'iso');
  put('VM', 'vm', {
    power_state: 'Running',
    resident_on: 'hA',
    VBDs: ['vbd0', 'vbd1', 'cd'],
    VIFs: [],
    memory_dynamic_min: GiB,
    memory_static_max: GiB,
  });
  put('VBD', 'vbd0', { VM: 'vm', VDI: 'vdi0', userdevice: '0', type: 'Disk', mode: 'RW', empty: false });
  put('VBD', 'vbd1', { VM: 'vm', VDI: 'vdi1', userdevice: '1', type: 'Disk', mode: 'RW', empty: false });
  put('VBD', 'cd', { VM: 'vm', VDI: 'OpaqueRef:NULL', userdevice: '3', type: 'CD', mode: 'RO', empty: true });
  put('VDI', 'vdi0', { SR: 'localA', virtual_size: GiB, on_boot: 'persist', VBDs: ['vbd0'] });
  put('VDI', 'vdi1', { SR: 'localA', virtual_size: 2 * GiB, on_boot: 'persist', VBDs: ['vbd1'] });
  put('VIF', 'vif0', { VM: 'vm', network: 'net' });
  put('network', 'net', { PIFs: [], VIFs: ['vif0'], other_config: {} });
  return { t, put };
}

function viewOf(t: Record<string, Map<string, Row>>): PlanView {
  return {
    records: { get: (c, r) => t[c]?.get(r), all: (c) => t[c] ?? new Map() },
    reachable: () => true,
    localHost: 'hA',
    capabilities: (type) => (type === 'iso' ? ['VDI_ATTACH'] : ['VDI_CREATE', 'VDI_DELETE']),
    deviceOf: (vbd) => `xvd${'abcd'[Number(vbd.userdevice)]}`,
  };
}

const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  vm: 'vm',
  dstHost: 'hB',
  vdiMap: { vdi0: 'localB', vdi1: 'localB' },
  vifMap: {},
  options: {},
  assertOnly: false,
  ...over,
});

const code = (c: string, params?: string[]) => (e: unknown) => {
  assert.ok(e instanceof XenApiError, String(e));
  assert.equal(e.code, c);
  if (params) assert.deepEqual(e.params, params);
  return true;
};

test('dest map: xapi keys, URLs on the destination address, parsed back; a missing key is named', () => {
  const d = buildDest({
    host: 'OpaqueRef:h',
    hostAddress: '10.0.0.2',
    session: 'OpaqueRef:s',
    masterAddress: '10.0.0.1',
  });
  assert.deepEqual(Object.keys(d).sort(), ['SM', 'host', 'master', 'session_id', 'xenops']);
  assert.equal(d.SM, 'http://10.0.0.2/services/SM?session_id=OpaqueRef%3As');
  assert.equal(d.xenops, 'http://10.0.0.2/services/xenops?session_id=OpaqueRef%3As');
  assert.equal(d.master, 'http://10.0.0.1/');
  assert.equal(addressOfUrl(d.xenops), '10.0.0.2');
  const v6 = buildDest({ host: 'h', hostAddress: 'fd00::2', session: 's', masterAddress: 'fd00::1' });
  assert.equal(addressOfUrl(v6.xenops), 'fd00::2');
  assert.deepEqual(parseDest(d), {
    host: 'OpaqueRef:h',
    sessionId: 'OpaqueRef:s',
    master: 'http://10.0.0.1/',
    xenops: d.xenops,
    sm: d.SM,
  });
  const { host: _h, ...noHost } = d;
  assert.throws(
    () => parseDest(noHost),
    (e: XenApiError) => e.code === 'INVALID_VALUE' && /key host/.test(e.params[1]),
  );
});

test('intra-pool plan: disks mapped to other SRs move, CDs and unmoved disks stay', () => {
  const { t } = records();
  const p = planIntraPool(viewOf(t), input());
  assert.equal(p.sameHost, false);
  assert.deepEqual(
    p.moves.map((m) => [m.vdi, m.device, m.from, m.to, m.virtualSize]),
    [
      ['vdi0', 'xvda', 'localA', 'localB', GiB],
      ['vdi1', 'xvdb', 'localA', 'localB', 2 * GiB],
    ],
  );
  assert.equal(p.disks.length, 2, 'the empty CD is not a disk');
  // The same host: the disks move, the VM does not.
  const same = planIntraPool(viewOf(t), input({ dstHost: 'hA', vdiMap: { vdi0: 'localA', vdi1: 'localA' } }));
  assert.equal(same.sameHost, true);
  assert.deepEqual(same.moves, []);
});

test('checks in xapi order: copy, power state, map handles, VDI_NOT_IN_MAP, vif_map, on_boot, SR support, CBT', () => {
  const { t, put } = records();
  const v = viewOf(t);
  assert.throws(
    () => planIntraPool(v, input({ options: { copy: 'true' } })),
    code('OPERATION_NOT_ALLOWED', [
      'Copy mode is disallowed on intra pool storage migration, try efficient alternatives, for example, VM.copy/clone.',
    ]),
  );
  assert.throws(
    () => planIntraPool(v, input({ vdiMap: { vdi0: 'localB' } })),
    code('VDI_NOT_IN_MAP', ['vdi1']),
  );
  assert.throws(
    () => planIntraPool(v, input({ vdiMap: { vdi0: 'localB', vdi1: 'nope' } })),
    code('HANDLE_INVALID', ['SR', 'nope']),
  );
  assert.throws(
    () => planIntraPool(v, input({ vdiMap: { vdi0: 'localB', vdi1: 'localB', ghost: 'localB' } })),
    code('HANDLE_INVALID', ['VDI', 'ghost']),
  );
  // A vif_map within a pool: assert_can_migrate refuses it, migrate_send ignores it (as xapi).
  assert.throws(
    () => planIntraPool(v, input({ vifMap: { vif0: 'net' }, assertOnly: true })),
    code('OPERATION_NOT_ALLOWED'),
  );
  assert.equal(planIntraPool(v, input({ vifMap: { vif0: 'net' } })).moves.length, 2);
  t.VDI.get('vdi1')!.on_boot = 'reset';
  assert.throws(
    () => planIntraPool(v, input()),
    code('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', ['vdi1']),
  );
  t.VDI.get('vdi1')!.on_boot = 'persist';
  assert.throws(
    () => planIntraPool(v, input({ vdiMap: { vdi0: 'localB', vdi1: 'isoB' } })),
    code('SR_DOES_NOT_SUPPORT_MIGRATION', ['isoB', 'VDI_CREATE']),
  );
  t.VDI.get('vdi0')!.cbt_enabled = true;
  assert.throws(() => planIntraPool(v, input()), code('VDI_CBT_ENABLED', ['vdi0']));
  // CBT matters only for a disk that moves.
  assert.throws(
    () => planIntraPool(v, input({ vdiMap: { vdi0: 'localA', vdi1: 'localB' } })),
    code('VM_REQUIRES_SR', ['vm', 'localA']),
  );
  t.VDI.get('vdi0')!.cbt_enabled = false;
  t.VM.get('vm')!.power_state = 'Halted';
  assert.throws(() => planIntraPool(v, input()), code('VM_BAD_POWER_STATE', ['vm', 'running', 'halted']));
  put('VM', 'vm', { ...t.VM.get('vm')!, power_state: 'Running' });
});

test('destination boot checks see the disks on their new SRs', () => {
  const { t } = records();
  const v = viewOf(t);
  // A disk left on a local SR of the source: the destination cannot reach it.
  assert.throws(
    () => planIntraPool(v, input({ vdiMap: { vdi0: 'localB', vdi1: 'localA' } })),
    code('VM_REQUIRES_SR', ['vm', 'localA']),
  );
  t.host.get('hB')!.enabled = false;
  assert.throws(() => planIntraPool(v, input()), code('HOST_DISABLED', ['hB']));
  t.host.get('hB')!.enabled = true;
  t.host_metrics.get('mhB')!.memory_total = GiB;
  assert.throws(() => planIntraPool(v, input()), code('HOST_NOT_ENOUGH_FREE_MEMORY'));
  t.host_metrics.get('mhB')!.live = false;
  assert.throws(() => planIntraPool(v, input()), code('HOST_NOT_LIVE'));
  const r = remappedReader(v.records, { vdi0: 'localB' });
  assert.equal(r.get('VDI', 'vdi0')?.SR, 'localB');
  assert.equal(r.all('VDI').get('vdi1')?.SR, 'localA');
  assert.equal(t.VDI.get('vdi0')!.SR, 'localA', 'the records themselves are untouched');
});

test('VDI.pool_migrate: the VM of its VBD, the full map, the VM host first, else one that sees the SRs', () => {
  const { t, put } = records();
  const v = viewOf(t);
  const m = poolMigrateMap(v.records, 'vdi1', 'localB');
  assert.deepEqual(m, { vm: 'vm', vdiMap: { vdi0: 'localA', vdi1: 'localB' } });
  // vdi0 stays on host A's local SR, vdi1 goes to host B's: no host sees both.
  assert.throws(() => poolMigrateHost(v, m.vm, m.vdiMap), code('VM_REQUIRES_SR', ['vm', 'localB']));
  // A second local SR on host A: the VM stays there.
  put('SR', 'localA2', { type: 'file', PBDs: ['pbd-localA2-hA'] });
  put('PBD', 'pbd-localA2-hA', { SR: 'localA2', host: 'hA', currently_attached: true });
  assert.equal(poolMigrateHost(v, 'vm', poolMigrateMap(v.records, 'vdi1', 'localA2').vdiMap), 'hA');
  // Both disks to host B: host B is chosen.
  assert.equal(poolMigrateHost(v, 'vm', { vdi0: 'localB', vdi1: 'localB2' }), 'hB');
  put('VDI', 'lonely', { SR: 'localA', VBDs: [] });
  assert.throws(
    () => poolMigrateMap(v.records, 'lonely', 'localB'),
    code('VDI_NEEDS_VM_FOR_MIGRATE', ['lonely']),
  );
  t.VDI.get('vdi1')!.cbt_enabled = true;
  assert.throws(() => poolMigrateMap(v.records, 'vdi1', 'localB'), code('VDI_CBT_ENABLED', ['vdi1']));
});

test('vgpu_map: empty passes; any VGPU is one this VM cannot have (HANDLE_INVALID)', () => {
  checkVgpuMap({});
  assert.throws(
    () => checkVgpuMap({ 'OpaqueRef:vgpu-1': 'OpaqueRef:group-1' }),
    (e: unknown) =>
      e instanceof XenApiError && e.code === 'HANDLE_INVALID' && e.params.join() === 'VGPU,OpaqueRef:vgpu-1',
  );
});
