// The evacuation planner (src/manager/vm/evacuation-plan.ts) over hand-made pool records: which
// VMs move (resident guests only), where (biggest first to the host with the most room, memory
// of the guests already there counted), and xapi's per-VM errors (NO_HOSTS_AVAILABLE,
// VM_REQUIRES_SR, HOST_NOT_ENOUGH_FREE_MEMORY, an operation in progress), with
// get_vms_which_prevent_evacuation's map and assert_can_evacuate's CANNOT_EVACUATE_HOST.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Row } from '../../../src/manager/db/database.js';
import {
  biggestFitDecreasing,
  cannotEvacuateError,
  computeEvacuationPlan,
  evacuationTargets,
  type VmPlan,
  vmsPreventingEvacuation,
} from '../../../src/manager/vm/evacuation-plan.js';
import { hostFreeMemory, type PoolView } from '../../../src/manager/vm/placement.js';
import { Records } from '../../helpers/record-tables.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const NULL = 'OpaqueRef:NULL';

/** Hosts A, B (the one emptied) and C, 8 GiB each (7.2 GiB for guests), one SR seen by all. */
function pool() {
  const r = new Records();
  const unreachable = new Set<string>();
  const host = (ref: string) => {
    r.add('host_metrics', `${ref}-metrics`, { memory_total: 8 * GiB, live: true });
    r.add('host', ref, { enabled: true, metrics: `${ref}-metrics`, memory_overhead: 0 });
    r.add('PBD', `${ref}-shared`, { host: ref, SR: 'shared', currently_attached: true });
  };
  for (const h of ['A', 'B', 'C']) host(h);
  r.add('PBD', 'B-local', { host: 'B', SR: 'localB', currently_attached: true });
  let n = 0;
  const vm = (over: Row = {}) =>
    r.add('VM', `vm${++n}`, {
      power_state: 'Running',
      is_control_domain: false,
      resident_on: 'B',
      scheduled_to_be_resident_on: NULL,
      affinity: NULL,
      memory_static_max: GiB,
      memory_dynamic_max: GiB,
      memory_dynamic_min: GiB,
      VBDs: [],
      VIFs: [],
      suspend_VDI: NULL,
      current_operations: {},
      blocked_operations: {},
      ...over,
    });
  const diskOn = (vmRef: string, sr: string) => {
    r.add('VDI', `${vmRef}-vdi`, { SR: sr });
    r.add('VBD', `${vmRef}-vbd`, { VDI: `${vmRef}-vdi`, empty: false });
    r.get('VM', vmRef)!.VBDs = [`${vmRef}-vbd`];
  };
  const view: PoolView = { records: r, reachable: (h) => !unreachable.has(h), localHost: 'A' };
  return { r, vm, diskOn, view, unreachable };
}

const destinations = (plans: Map<string, VmPlan>) =>
  Object.fromEntries([...plans].map(([vm, p]) => [vm, 'host' in p ? p.host : p.error.code]));

test('biggest fit decreasing: biggest first, each to the bin with most room, misfits left out', () => {
  const out = biggestFitDecreasing(
    [
      ['small', 1],
      ['big', 5],
      ['mid', 3],
      ['huge', 9],
    ],
    [
      ['x', 6],
      ['y', 5],
    ],
  );
  // big → x (6 → 1), mid → y (5 → 2), small → y (2 → 1); huge fits nowhere.
  assert.deepEqual(Object.fromEntries(out), { big: 'x', mid: 'y', small: 'y' });
});

test('the resident guests of the host spread over the other hosts, balanced', () => {
  const { vm, view, r } = pool();
  const vms = [vm(), vm(), vm({ memory_dynamic_min: 2 * GiB, memory_static_max: 2 * GiB })];
  vm({ power_state: 'Halted', resident_on: NULL, affinity: 'B' }); // halted with affinity: stays
  vm({ power_state: 'Suspended', resident_on: NULL }); // suspended: not resident, stays
  vm({ is_control_domain: true }); // the host's own control domain
  vm({ resident_on: 'A' }); // already elsewhere: counts against A
  const plans = computeEvacuationPlan(view, 'B');
  assert.deepEqual([...plans.keys()], vms, 'only the running guests of B are planned');
  // Free for guests: A 7372.8 − 1058 (its guest: 1 GiB + 34 MiB overhead) = 6314.8 MiB, C 7372.8.
  // The 2 GiB VM (2084 MiB) first, to C (→ 5288.8); vm1 (1058) to A, the roomier (→ 5256.8);
  // vm2 to C (5288.8 > 5256.8).
  assert.equal(hostFreeMemory(r, 'A'), 8 * GiB - Math.floor((8 * GiB) / 10) - (GiB + 34 * MiB));
  assert.deepEqual(destinations(plans), { [vms[0]]: 'A', [vms[1]]: 'C', [vms[2]]: 'C' });
  assert.deepEqual(vmsPreventingEvacuation(plans), {});
  assert.equal(cannotEvacuateError(plans), undefined);
});

test('no other enabled, live, reachable host: NO_HOSTS_AVAILABLE for every guest', () => {
  const { vm, view, r, unreachable } = pool();
  const [v1, v2] = [vm(), vm()];
  r.get('host', 'A')!.enabled = false;
  r.get('host_metrics', 'C-metrics')!.live = false;
  assert.deepEqual(evacuationTargets(view, 'B'), []);
  assert.deepEqual(vmsPreventingEvacuation(computeEvacuationPlan(view, 'B')), {
    [v1]: ['NO_HOSTS_AVAILABLE', v1],
    [v2]: ['NO_HOSTS_AVAILABLE', v2],
  });
  r.get('host_metrics', 'C-metrics')!.live = true;
  unreachable.add('C');
  assert.deepEqual(evacuationTargets(view, 'B'), [], 'a live record whose agent is unreachable');
  unreachable.clear();
  assert.deepEqual(evacuationTargets(view, 'B'), ['C']);
  assert.deepEqual(destinations(computeEvacuationPlan(view, 'B')), { [v1]: 'C', [v2]: 'C' });
});

test('a disk on the host local SR: VM_REQUIRES_SR [vm, sr]; the others still move', () => {
  const { vm, view, diskOn } = pool();
  const [local, shared] = [vm(), vm()];
  diskOn(local, 'localB');
  diskOn(shared, 'shared');
  const plans = computeEvacuationPlan(view, 'B');
  assert.deepEqual(vmsPreventingEvacuation(plans), { [local]: ['VM_REQUIRES_SR', local, 'localB'] });
  assert.ok('host' in plans.get(shared)!);
  const e = cannotEvacuateError(plans)!;
  assert.equal(e.code, 'CANNOT_EVACUATE_HOST');
  assert.deepEqual(e.params, [`VM_REQUIRES_SR,${local},localB`]);
});

test('memory: what the guests already on a host need counts; a VM fitting nowhere is named', () => {
  const { vm, view } = pool();
  vm({ resident_on: 'A', memory_dynamic_min: 6 * GiB, memory_static_max: 6 * GiB });
  vm({ resident_on: 'C', memory_dynamic_min: 6 * GiB, memory_static_max: 6 * GiB });
  const small = vm({ memory_dynamic_min: 512 * MiB, memory_static_max: 512 * MiB });
  const big = vm({ memory_dynamic_min: 3 * GiB, memory_static_max: 3 * GiB });
  const plans = computeEvacuationPlan(view, 'B');
  assert.deepEqual(vmsPreventingEvacuation(plans), { [big]: ['HOST_NOT_ENOUGH_FREE_MEMORY', big] });
  assert.ok('host' in plans.get(small)!);
});

test('a VM busy with another operation, or with pool_migrate blocked, cannot be evacuated', () => {
  const { vm, view } = pool();
  const busy = vm({ current_operations: { 'OpaqueRef:task1': 'clean_shutdown' } });
  const blocked = vm({ blocked_operations: { pool_migrate: 'maintenance' } });
  const free = vm();
  const plans = computeEvacuationPlan(view, 'B');
  assert.deepEqual(vmsPreventingEvacuation(plans), {
    [busy]: ['OTHER_OPERATION_IN_PROGRESS', 'VM', busy, 'clean_shutdown', 'OpaqueRef:task1'],
    [blocked]: ['OPERATION_BLOCKED', blocked, 'maintenance'],
  });
  assert.ok('host' in plans.get(free)!);
});

test('a source whose agent is unreachable: every guest HOST_OFFLINE [host] (nothing could move)', () => {
  const { vm, view, unreachable } = pool();
  const [v1, v2] = [vm(), vm()];
  unreachable.add('B');
  assert.deepEqual(vmsPreventingEvacuation(computeEvacuationPlan(view, 'B')), {
    [v1]: ['HOST_OFFLINE', 'B'],
    [v2]: ['HOST_OFFLINE', 'B'],
  });
});
