// The placement rules (src/manager/vm/placement.ts) over hand-made pool records: free memory as
// xapi's Memory_check counts it, every reason a host cannot boot a VM in xapi's order, the
// possible hosts, and the host VM.start chooses (affinity, memory categories, master bias,
// the memory fallback, NO_HOSTS_AVAILABLE).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/shared/errors.js';
import type { Row } from '../../../src/manager/db/database.js';
import {
  bootError,
  chooseHost,
  hostFreeMemory,
  hostMemoryOverhead,
  type PoolView,
  possibleHosts,
  requiredSrs,
  vmMemoryNeed,
  vmMemoryOverhead,
} from '../../../src/manager/vm/placement.js';
import { Records } from '../../helpers/record-tables.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const NULL = 'OpaqueRef:NULL';

/** A pool with hosts A (the master, local) and B, both 8 GiB, enabled, live and reachable. */
function pool() {
  const r = new Records();
  const unreachable = new Set<string>();
  const host = (ref: string, over: Row = {}, metrics: Row = {}) => {
    r.add('host_metrics', `${ref}-metrics`, {
      memory_total: 8 * GiB,
      memory_free: 7 * GiB,
      live: true,
      ...metrics,
    });
    return r.add('host', ref, {
      name_label: ref,
      enabled: true,
      metrics: `${ref}-metrics`,
      memory_overhead: 0,
      current_operations: {},
      ...over,
    });
  };
  host('A');
  host('B');
  let n = 0;
  const vm = (over: Row = {}) =>
    r.add('VM', `vm${++n}`, {
      name_label: `vm${n}`,
      power_state: 'Halted',
      is_control_domain: false,
      resident_on: NULL,
      scheduled_to_be_resident_on: NULL,
      affinity: NULL,
      memory_static_max: GiB,
      memory_dynamic_max: GiB,
      memory_dynamic_min: GiB,
      memory_static_min: 512 * MiB,
      VBDs: [],
      VIFs: [],
      suspend_VDI: NULL,
      ...over,
    });
  /** An SR with a PBD per entry: [host, currently_attached]. */
  const sr = (ref: string, pbds: [string, boolean][]) => {
    r.add('SR', ref, { name_label: ref, PBDs: pbds.map(([h]) => `${ref}-pbd-${h}`) });
    for (const [h, attached] of pbds)
      r.add('PBD', `${ref}-pbd-${h}`, { SR: ref, host: h, currently_attached: attached });
    return ref;
  };
  /** A disk of `vmRef` on `srRef` (a VDI and its VBD). */
  const disk = (vmRef: string, srRef: string, over: Row = {}) => {
    const vdi = r.add('VDI', `vdi-${vmRef}-${srRef}`, { SR: srRef });
    const vbd = r.add('VBD', `vbd-${vmRef}-${srRef}`, { VM: vmRef, VDI: vdi, empty: false, ...over });
    (r.get('VM', vmRef)!.VBDs as string[]).push(vbd);
    return vdi;
  };
  const view: PoolView = { records: r, reachable: (h) => !unreachable.has(h), localHost: 'A' };
  return { r, host, vm, sr, disk, view, unreachable };
}

const err = (e: XenApiError | undefined) => (e ? [e.code, ...e.params] : undefined);
function thrown(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof XenApiError) return [e.code, ...e.params];
    throw e;
  }
  assert.fail('expected an error');
}

test('memory figures: a VM needs dynamic_min plus its overhead; a host keeps its overhead or a tenth', () => {
  const { r, vm } = pool();
  const v = r.get('VM', vm({ memory_static_max: 2 * GiB, memory_dynamic_min: 768 * MiB }))!;
  assert.equal(vmMemoryOverhead(v), 32 * MiB + (2 * GiB) / 512);
  assert.equal(vmMemoryNeed(v), 768 * MiB + 32 * MiB + (2 * GiB) / 512);
  assert.equal(hostMemoryOverhead({ memory_overhead: 0 }, { memory_total: 10 * GiB }), GiB);
  assert.equal(hostMemoryOverhead({ memory_overhead: 300 * MiB }, { memory_total: 10 * GiB }), 300 * MiB);
});

test('hostFreeMemory: total − overhead − what resident and scheduled guests need, never below 0', () => {
  const { r, vm, host } = pool();
  const total = 8 * GiB;
  const reserve = Math.floor(total / 10);
  assert.equal(hostFreeMemory(r, 'A'), total - reserve);
  const running = vm({ power_state: 'Running', resident_on: 'A' });
  const scheduled = vm({ scheduled_to_be_resident_on: 'A', memory_dynamic_min: 512 * MiB });
  vm({ power_state: 'Running', resident_on: 'B' }); // another host's
  // The control domain's record names the whole machine; the reserve stands for it.
  vm({ is_control_domain: true, power_state: 'Running', resident_on: 'A', memory_dynamic_min: total });
  const need = (ref: string) => vmMemoryNeed(r.get('VM', ref)!);
  assert.equal(hostFreeMemory(r, 'A'), total - reserve - need(running) - need(scheduled));
  // A VM's own reservation does not count against it.
  assert.equal(hostFreeMemory(r, 'A', scheduled), total - reserve - need(running));
  host('C', {}, { memory_total: GiB });
  vm({ power_state: 'Running', resident_on: 'C' });
  assert.equal(hostFreeMemory(r, 'C'), 0);
  assert.equal(hostFreeMemory(r, 'nowhere'), 0);
});

test('bootError: liveness, reachability, control-domain affinity and enabled, in that order', () => {
  const { r, vm, view, unreachable } = pool();
  const v = vm();
  assert.equal(bootError(view, v, 'B'), undefined);
  assert.deepEqual(err(bootError(view, 'vm-gone', 'B')), ['HANDLE_INVALID', 'VM', 'vm-gone']);
  assert.deepEqual(err(bootError(view, v, 'host-gone')), ['HANDLE_INVALID', 'host', 'host-gone']);

  r.get('host', 'B')!.enabled = false;
  unreachable.add('B');
  r.get('host_metrics', 'B-metrics')!.live = false;
  assert.deepEqual(err(bootError(view, v, 'B')), ['HOST_NOT_LIVE']);
  r.get('host_metrics', 'B-metrics')!.live = true;
  assert.deepEqual(err(bootError(view, v, 'B')), ['HOST_OFFLINE', 'B']);
  unreachable.add('A');
  assert.deepEqual(err(bootError(view, v, 'A')), ['CANNOT_CONTACT_HOST', 'A']);
  unreachable.clear();
  assert.deepEqual(err(bootError(view, v, 'B')), ['HOST_DISABLED', 'B']);

  // A control domain boots on a disabled host, but only on its affinity host.
  const dom0 = vm({ is_control_domain: true, affinity: 'A' });
  assert.deepEqual(err(bootError(view, dom0, 'B')), [
    'OPERATION_NOT_ALLOWED',
    'Cannot boot a control domain on a host different from its affinity',
  ]);
  r.get('host', 'A')!.enabled = false;
  assert.equal(bootError(view, dom0, 'A'), undefined);
});

test('bootError: every disk SR must be attached on the host (VM_REQUIRES_SR), empty drives aside', () => {
  const { r, vm, sr, disk, view } = pool();
  const local = sr('sr-local-A', [['A', true]]);
  const shared = sr('sr-shared', [
    ['A', true],
    ['B', true],
  ]);
  const unplugged = sr('sr-unplugged-B', [
    ['A', true],
    ['B', false],
  ]);
  const v = vm();
  disk(v, shared);
  assert.equal(bootError(view, v, 'B'), undefined);
  disk(v, local);
  assert.deepEqual(requiredSrs(r, r.get('VM', v)!), [shared, local]);
  assert.deepEqual(err(bootError(view, v, 'B')), ['VM_REQUIRES_SR', v, local]);
  assert.equal(bootError(view, v, 'A'), undefined);

  const w = vm();
  disk(w, unplugged);
  assert.deepEqual(err(bootError(view, w, 'B')), ['VM_REQUIRES_SR', w, unplugged]);
  // An empty CD drive needs no SR.
  const x = vm();
  disk(x, local, { empty: true, VDI: NULL });
  assert.equal(bootError(view, x, 'B'), undefined);
  // A suspended VM needs its suspend image's SR too.
  const y = vm({ power_state: 'Suspended', suspend_VDI: r.add('VDI', 'suspend-img', { SR: local }) });
  assert.deepEqual(err(bootError(view, y, 'B')), ['VM_REQUIRES_SR', y, local]);
});

test('bootError: every VIF network must reach the host (VM_REQUIRES_NETWORK), as xapi decides it', () => {
  const { r, vm, view } = pool();
  const nic = (vmRef: string, net: string) => {
    const vif = r.add('VIF', `vif-${vmRef}-${net}`, { VM: vmRef, network: net });
    (r.get('VM', vmRef)!.VIFs as string[]).push(vif);
    (r.get('network', net)!.VIFs as string[]).push(vif);
  };
  r.add('PIF', 'pif-A', { host: 'A', network: 'net-phys' });
  r.add('network', 'net-phys', { PIFs: ['pif-A'], VIFs: [], other_config: {} });
  r.add('network', 'net-internal', { PIFs: [], VIFs: [], other_config: {} });
  r.add('network', 'net-shared', { PIFs: [], VIFs: [], other_config: { assume_network_is_shared: 'true' } });

  const v = vm();
  nic(v, 'net-phys');
  assert.deepEqual(err(bootError(view, v, 'B')), ['VM_REQUIRES_NETWORK', v, 'net-phys']);
  assert.equal(bootError(view, v, 'A'), undefined);

  // A PIF-less network: anywhere while no VM on it runs, then pinned to the hosts running them.
  const w = vm();
  nic(w, 'net-internal');
  assert.equal(bootError(view, w, 'B'), undefined);
  const other = vm({ power_state: 'Running', resident_on: 'A' });
  nic(other, 'net-internal');
  assert.deepEqual(err(bootError(view, w, 'B')), ['VM_REQUIRES_NETWORK', w, 'net-internal']);
  assert.equal(bootError(view, w, 'A'), undefined);

  const x = vm();
  nic(x, 'net-shared');
  const y = vm({ power_state: 'Running', resident_on: 'A' });
  nic(y, 'net-shared');
  assert.equal(bootError(view, x, 'B'), undefined);
});

test('bootError: HOST_NOT_ENOUGH_FREE_MEMORY [needed, available] last; memory:false and cpuCheck', () => {
  const { r, vm, sr, disk, view } = pool();
  const big = vm({ memory_dynamic_min: 8 * GiB, memory_dynamic_max: 8 * GiB, memory_static_max: 8 * GiB });
  const needed = 8 * GiB + 32 * MiB + (8 * GiB) / 512;
  const available = 8 * GiB - Math.floor((8 * GiB) / 10);
  assert.deepEqual(err(bootError(view, big, 'B')), [
    'HOST_NOT_ENOUGH_FREE_MEMORY',
    String(needed),
    String(available),
  ]);
  assert.equal(bootError(view, big, 'B', { memory: false }), undefined);
  // The SR check comes before the memory check.
  disk(big, sr('sr-A', [['A', true]]));
  assert.equal(err(bootError(view, big, 'B'))?.[0], 'VM_REQUIRES_SR');

  // The CPU check runs after enabled and before the SRs.
  const v = vm();
  const seen: string[] = [];
  const cpuCheck = (vmRef: string, _vm: Row, hostRef: string) => {
    seen.push(`${vmRef}@${hostRef}`);
    return new XenApiError('VM_INCOMPATIBLE_WITH_THIS_HOST', [vmRef, hostRef, 'test']);
  };
  assert.deepEqual(err(bootError(view, v, 'B', { cpuCheck })), [
    'VM_INCOMPATIBLE_WITH_THIS_HOST',
    v,
    'B',
    'test',
  ]);
  assert.deepEqual(seen, [`${v}@B`]);
  r.get('host', 'B')!.enabled = false;
  assert.equal(err(bootError(view, v, 'B', { cpuCheck }))?.[0], 'HOST_DISABLED');
});

test('possibleHosts: the scheduled host if any, else every host that can boot the VM', () => {
  const { r, vm, sr, disk, view } = pool();
  const v = vm();
  assert.deepEqual(possibleHosts(view, v), ['A', 'B']);
  disk(v, sr('sr-A', [['A', true]]));
  assert.deepEqual(possibleHosts(view, v), ['A']);
  r.get('host', 'A')!.enabled = false;
  assert.deepEqual(possibleHosts(view, v), []);
  r.get('VM', v)!.scheduled_to_be_resident_on = 'B';
  assert.deepEqual(possibleHosts(view, v), ['B']);
});

test('chooseHost: the affinity host when the VM can boot there, else the most memory to spare', () => {
  const { r, vm, host, view } = pool();
  host('C', {}, { memory_total: 16 * GiB });
  const v = vm();
  // C has the most memory (A is the master besides, valued at half).
  assert.equal(chooseHost(view, v, 'A'), 'C');
  r.get('VM', v)!.affinity = 'B';
  assert.equal(chooseHost(view, v, 'A'), 'B');
  // An affinity host that cannot boot the VM is passed over.
  r.get('host', 'B')!.enabled = false;
  assert.equal(chooseHost(view, v, 'A'), 'C');
  // A host using its memory ranks below one that is free.
  r.get('VM', v)!.affinity = NULL;
  r.get('host', 'B')!.enabled = true;
  for (let i = 0; i < 3; i++) vm({ power_state: 'Running', resident_on: 'C', memory_static_max: 4 * GiB });
  assert.equal(chooseHost(view, v, 'A'), 'B');
});

test('chooseHost: the master only with twice the headroom; categories static_max → dynamic_max → dynamic_min', () => {
  const { r, vm, host, view } = pool();
  const v = vm();
  // Equal hosts: the slave.
  assert.equal(chooseHost(view, v, 'A'), 'B');
  assert.equal(chooseHost(view, v, 'B'), 'A');
  // A guest on B whose static_max does not fit beside v, while its dynamic_max does: B leaves the
  // definite category, so A (the master) is chosen from it.
  vm({
    power_state: 'Running',
    resident_on: 'B',
    memory_static_max: 7 * GiB,
    memory_dynamic_max: 2 * GiB,
    memory_dynamic_min: 2 * GiB,
  });
  assert.equal(chooseHost(view, v, 'A'), 'A');
  // No host fits anyone at static_max or dynamic_max: chosen by how little it must squeeze.
  host('C', {}, { memory_total: 3 * GiB });
  r.get('host', 'A')!.enabled = false;
  r.get('host', 'B')!.enabled = false;
  const w = vm({ memory_static_max: 3 * GiB, memory_dynamic_max: 3 * GiB, memory_dynamic_min: 2 * GiB });
  assert.equal(chooseHost(view, w, 'A'), 'C');
});

test('chooseHost: without memory anywhere, a host that fails only on memory; NO_HOSTS_AVAILABLE otherwise', () => {
  const { r, vm, sr, disk, view } = pool();
  const big = vm({ memory_static_max: 9 * GiB, memory_dynamic_max: 9 * GiB, memory_dynamic_min: 9 * GiB });
  // The start then fails there with HOST_NOT_ENOUGH_FREE_MEMORY (vm/reservation.ts).
  assert.equal(chooseHost(view, big, 'A'), 'A');
  r.get('host', 'A')!.enabled = false;
  assert.equal(chooseHost(view, big, 'A'), 'B');
  disk(big, sr('sr-A', [['A', true]]));
  assert.deepEqual(
    thrown(() => chooseHost(view, big, 'A')),
    ['NO_HOSTS_AVAILABLE'],
  );
  assert.deepEqual(
    thrown(() => chooseHost(view, 'vm-gone', 'A')),
    ['HANDLE_INVALID', 'VM', 'vm-gone'],
  );
});
