// Where each VM of a host goes when the host is emptied (host.evacuate), as xapi's
// Xapi_host.compute_evacuation_plan_no_wlb decides it: the VMs resident on the host (not its
// control domain) to the other enabled hosts, each VM either given a destination or the error
// that keeps it there. Pure: records and reachability come in through the PoolView.
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';
import { checkOperation } from './lifecycle.js';
import {
  type BootCheckOptions,
  bootError,
  hostFreeMemory,
  type PoolView,
  vmMemoryNeed,
} from './placement.js';

/** A VM's part of the plan: the host it migrates to, or why it cannot move. */
export type VmPlan = { host: string } | { error: XenApiError };

export interface EvacuationOptions {
  /** CPU compatibility of a destination (VM.assert_can_boot_here's do_cpuid_check). */
  cpuCheck?: BootCheckOptions['cpuCheck'];
  /** Why the VM may not pool_migrate now (default: lifecycle's strict check, as xapi's). */
  operationError?: (ref: string, vm: Row) => XenApiError | undefined;
}

const isNull = (ref: unknown) => ref === undefined || ref === '' || ref === 'OpaqueRef:NULL';

/** The guests resident on `host`, in reference order (a stable plan for the same records). */
export function residentGuests(view: PoolView, host: string): string[] {
  const out: string[] = [];
  for (const [ref, vm] of view.records.all('VM'))
    if (!vm.is_control_domain && !isNull(vm.resident_on) && vm.resident_on === host) out.push(ref);
  return out.sort();
}

/**
 * The hosts VMs may go to: enabled, not `host`. Unlike xapi, Berth also leaves out hosts that are
 * not live or whose agent it cannot reach: xapi would name every VM unmovable because of such a
 * host (its boot check fails there), while nothing could be migrated to it anyway.
 */
export function evacuationTargets(view: PoolView, host: string): string[] {
  const r = view.records;
  return [...r.all('host')]
    .filter(([ref, h]) => ref !== host && h.enabled === true)
    .filter(([, h]) => r.get('host_metrics', String(h.metrics))?.live === true)
    .filter(([ref]) => view.reachable(ref))
    .map(([ref]) => ref)
    .sort();
}

/**
 * Binpack's biggest_fit_decreasing: the biggest VM first, each to the bin with the most room left
 * (so the load spreads); a VM that fits nowhere is left out. Ties by name, for a stable plan.
 */
export function biggestFitDecreasing(
  things: Array<[string, number]>,
  bins: Array<[string, number]>,
): Map<string, string> {
  const bySize = (a: [string, number], b: [string, number]) => b[1] - a[1] || a[0].localeCompare(b[0]);
  const room = [...bins].sort(bySize);
  const out = new Map<string, string>();
  for (const [thing, size] of [...things].sort(bySize)) {
    const first = room[0];
    if (!first || first[1] < size) continue;
    first[1] -= size;
    out.set(thing, first[0]);
    room.sort(bySize);
  }
  return out;
}

/**
 * The evacuation plan of `host`: every resident guest → its destination or its error, computed
 * as xapi does it: no other enabled host → NO_HOSTS_AVAILABLE [vm]; a VM that cannot boot on
 * every candidate host (memory aside: storage, networks, CPU) → that host's error; a VM that may
 * not pool_migrate now → the operation's error; a source whose agent is unreachable →
 * HOST_OFFLINE [host] for every VM (Berth's: nothing could migrate from it); then the VMs are
 * packed by memory (dynamic_min + overhead, against each host's free memory counting what its
 * own and scheduled guests need), a VM that fits nowhere → HOST_NOT_ENOUGH_FREE_MEMORY [vm];
 * finally the chosen host is checked again (storage and networks there).
 */
export function computeEvacuationPlan(
  view: PoolView,
  host: string,
  opts: EvacuationOptions = {},
): Map<string, VmPlan> {
  const r = view.records;
  const vms = residentGuests(view, host);
  const targets = evacuationTargets(view, host);
  const plans = new Map<string, VmPlan>();
  if (targets.length === 0) {
    for (const vm of vms) plans.set(vm, { error: new XenApiError('NO_HOSTS_AVAILABLE', [vm]) });
    return plans;
  }
  const check = { memory: false, cpuCheck: opts.cpuCheck };
  const movable: string[] = [];
  for (const vm of vms) {
    const error = targets.map((t) => bootError(view, vm, t, check)).find((e) => e);
    if (error) plans.set(vm, { error });
    else movable.push(vm);
  }
  const operationError =
    opts.operationError ?? ((ref: string, vm: Row) => checkOperation(ref, vm, 'pool_migrate', true));
  for (const vm of vms) {
    const error = operationError(vm, r.get('VM', vm)!);
    if (error) plans.set(vm, { error });
  }
  // Berth's: the source's agent must be reachable to migrate from it (as VM.pool_migrate checks).
  if (!view.reachable(host)) {
    const code = host === view.localHost ? 'CANNOT_CONTACT_HOST' : 'HOST_OFFLINE';
    for (const vm of vms) plans.set(vm, { error: new XenApiError(code, [host]) });
  }
  const placed = biggestFitDecreasing(
    movable.map((vm) => [vm, vmMemoryNeed(r.get('VM', vm)!)]),
    targets.map((t) => [t, hostFreeMemory(r, t)]),
  );
  for (const vm of movable) {
    const to = placed.get(vm);
    if (!to) {
      plans.set(vm, { error: new XenApiError('HOST_NOT_ENOUGH_FREE_MEMORY', [vm]) });
      continue;
    }
    const error = bootError(view, vm, to, check);
    if (error) plans.set(vm, { error });
    else if (!plans.has(vm)) plans.set(vm, { host: to });
  }
  return plans;
}

/** The VMs the plan cannot move, with xapi's per-VM error list [code, ...params]. */
export function vmsPreventingEvacuation(plans: Map<string, VmPlan>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [vm, plan] of plans)
    if ('error' in plan) out[vm] = [plan.error.code, ...plan.error.params.map(String)];
  return out;
}

/** host.assert_can_evacuate's error: CANNOT_EVACUATE_HOST ["code,params|code,params"] (xapi's). */
export function cannotEvacuateError(plans: Map<string, VmPlan>): XenApiError | undefined {
  const errors = Object.values(vmsPreventingEvacuation(plans)).map((e) => e.join(','));
  return errors.length ? new XenApiError('CANNOT_EVACUATE_HOST', [errors.join('|')]) : undefined;
}
