// Where a VM may run and where it goes, as xapi decides it (xapi_vm_helpers.assert_can_boot_here,
// get_possible_hosts_for_vm, choose_host_for_vm; Memory_check; Vm_placement's host categories).
// Pure functions over database records: the caller passes a reader of the records and which
// hosts' agents are connected now; nothing here talks to a host.
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';

/** What placement reads: the database or any stand-in holding the same records. */
export interface RecordReader {
  get(cls: string, ref: string): Row | undefined;
  all(cls: string): Map<string, Row>;
}

export interface PoolView {
  records: RecordReader;
  /** Is this host's agent connected now (svc.hosts.live)? */
  reachable(host: string): boolean;
  /** This manager's own host: its unreachable agent is CANNOT_CONTACT_HOST, not HOST_OFFLINE. */
  localHost: string;
}

const isNull = (ref: unknown) => ref === undefined || ref === '' || ref === 'OpaqueRef:NULL';
const num = (v: unknown) => (Number.isFinite(Number(v)) ? Number(v) : 0);
const MiB = 1024 * 1024;

/** QEMU's own footprint beside guest RAM: a fixed part plus page tables (VM.compute_memory_overhead). */
export function vmMemoryOverhead(vm: Row): number {
  return 32 * MiB + Math.ceil(num(vm.memory_static_max) / 512);
}

/**
 * What a VM needs on a host to start, and what a resident one counts for: xapi's maximum
 * compression (Memory_check policy Dynamic_min), dynamic_min plus the VM's overhead.
 */
export function vmMemoryNeed(vm: Row): number {
  return num(vm.memory_dynamic_min) + vmMemoryOverhead(vm);
}

/**
 * Memory the host keeps for itself (xapi's host.memory_overhead). Berth's control domain is the
 * host's own OS: its record names the whole machine, so it is not counted as a guest; instead
 * the host keeps host.memory_overhead when set, else a tenth of its memory.
 */
export function hostMemoryOverhead(host: Row, metrics: Row | undefined): number {
  const set = num(host.memory_overhead);
  return set > 0 ? set : Math.floor(num(metrics?.memory_total) / 10);
}

/** Guests (not the control domain) resident on or scheduled to `host`, but `except`. */
function guestsOn(r: RecordReader, host: string, except?: string): Row[] {
  const out: Row[] = [];
  for (const [ref, vm] of r.all('VM')) {
    if (vm.is_control_domain || ref === except) continue;
    if (vm.resident_on === host || vm.scheduled_to_be_resident_on === host) out.push(vm);
  }
  return out;
}

/** Memory the guests may still use on the host: memory_total minus its overhead (xapi's maximum). */
function guestMemory(r: RecordReader, hostRef: string): number {
  const host = r.get('host', hostRef);
  if (!host) return 0;
  const metrics = r.get('host_metrics', String(host.metrics));
  return num(metrics?.memory_total) - hostMemoryOverhead(host, metrics);
}

/**
 * host.compute_free_memory: memory_total − the host's overhead − Σ over resident and scheduled
 * guests of (dynamic_min + overhead), at least 0 (Memory_check.
 * host_compute_free_memory_with_maximum_compression). `ignoreVm`: a VM whose own reservation on
 * the host must not count against it.
 */
export function hostFreeMemory(r: RecordReader, host: string, ignoreVm?: string): number {
  const used = guestsOn(r, host, ignoreVm).reduce((s, vm) => s + vmMemoryNeed(vm), 0);
  return Math.max(0, guestMemory(r, host) - used);
}

/** The SRs a VM's disks are on (its non-empty VBDs, and the suspend image when suspended). */
export function requiredSrs(r: RecordReader, vm: Row): string[] {
  const vdis: string[] = [];
  for (const vbd of (vm.VBDs as string[]) ?? []) {
    const b = r.get('VBD', vbd);
    if (b && !b.empty && !isNull(b.VDI)) vdis.push(String(b.VDI));
  }
  if (vm.power_state === 'Suspended' && !isNull(vm.suspend_VDI)) vdis.push(String(vm.suspend_VDI));
  const srs = vdis.map((v) => r.get('VDI', v)?.SR).filter((sr) => !isNull(sr));
  return [...new Set(srs.map(String))];
}

/** SRs with a PBD currently attached on `host`. */
function srsSeenBy(r: RecordReader, host: string): Set<string> {
  const seen = new Set<string>();
  for (const pbd of r.all('PBD').values())
    if (pbd.host === host && pbd.currently_attached) seen.add(String(pbd.SR));
  return seen;
}

/**
 * Can `host` reach a network (xapi's assert_can_see_named_networks)? Through one of its PIFs if
 * the network has any; a PIF-less network marked other_config:assume_network_is_shared=true is
 * everywhere; any other PIF-less network is pinned to the hosts of the running VMs on it.
 */
function networkAvailable(r: RecordReader, net: string, host: string): boolean {
  const network = r.get('network', net);
  if (!network) return false;
  const pifs = ((network.PIFs as string[]) ?? []).map((p) => r.get('PIF', p)).filter((p) => p);
  if (pifs.length) return pifs.some((p) => p!.host === host);
  if ((network.other_config as Record<string, string>)?.assume_network_is_shared === 'true') return true;
  const hosts = ((network.VIFs as string[]) ?? [])
    .map((v) => r.get('VIF', v))
    .map((vif) => (vif ? r.get('VM', String(vif.VM)) : undefined))
    .filter((vm) => vm?.power_state === 'Running')
    .map((vm) => String(vm!.resident_on));
  return hosts.length === 0 || hosts.includes(host);
}

export interface BootCheckOptions {
  /** Compare the CPU a suspended VM last ran on (VM.assert_can_boot_here does; placement does not). */
  cpuCheck?: (vmRef: string, vm: Row, hostRef: string, host: Row) => XenApiError | undefined;
  /** Check free memory (default true; automatic placement retries without it, as xapi). */
  memory?: boolean;
  /**
   * Check the disks' SRs and the VIFs' networks (default true; a storage migration maps them to
   * the destination's own, and its caller checks those).
   */
  devices?: boolean;
}

/** The records of VM `vmRef` and host `hostRef`, or HANDLE_INVALID for the first one missing. */
export function vmAndHost(
  r: RecordReader,
  vmRef: string,
  hostRef: string,
): { vm: Row; host: Row } | XenApiError {
  const vm = r.get('VM', vmRef);
  if (!vm) return new XenApiError('HANDLE_INVALID', ['VM', vmRef]);
  const host = r.get('host', hostRef);
  if (!host) return new XenApiError('HANDLE_INVALID', ['host', hostRef]);
  return { vm, host };
}

/**
 * The first reason VM `vmRef` cannot boot on `hostRef`, in xapi's order (assert_can_boot_here):
 * host live (HOST_NOT_LIVE; an agent Berth cannot reach: HOST_OFFLINE, or CANNOT_CONTACT_HOST
 * for this manager's own host), a control domain only on its affinity host, host enabled
 * (HOST_DISABLED, not for control domains), every disk's SR attached there (VM_REQUIRES_SR),
 * every VIF's network reachable there (VM_REQUIRES_NETWORK), then free memory
 * (HOST_NOT_ENOUGH_FREE_MEMORY [needed, available]).
 */
export function bootError(
  view: PoolView,
  vmRef: string,
  hostRef: string,
  opts: BootCheckOptions = {},
): XenApiError | undefined {
  const r = view.records;
  const found = vmAndHost(r, vmRef, hostRef);
  if (found instanceof XenApiError) return found;
  const { vm, host } = found;
  if (r.get('host_metrics', String(host.metrics))?.live !== true) return new XenApiError('HOST_NOT_LIVE', []);
  if (!view.reachable(hostRef))
    return new XenApiError(hostRef === view.localHost ? 'CANNOT_CONTACT_HOST' : 'HOST_OFFLINE', [hostRef]);
  if (vm.is_control_domain && !isNull(vm.affinity) && vm.affinity !== hostRef)
    return new XenApiError('OPERATION_NOT_ALLOWED', [
      'Cannot boot a control domain on a host different from its affinity',
    ]);
  const localLiveMigration = vm.power_state === 'Running' && vm.resident_on === hostRef;
  if (!vm.is_control_domain && !localLiveMigration && !host.enabled)
    return new XenApiError('HOST_DISABLED', [hostRef]);
  const cpu = opts.cpuCheck?.(vmRef, vm, hostRef, host);
  if (cpu) return cpu;
  const seen = srsSeenBy(r, hostRef);
  const missingSr = opts.devices === false ? undefined : requiredSrs(r, vm).find((sr) => !seen.has(sr));
  if (missingSr) return new XenApiError('VM_REQUIRES_SR', [vmRef, missingSr]);
  for (const vif of opts.devices === false ? [] : ((vm.VIFs as string[]) ?? [])) {
    const net = String(r.get('VIF', vif)?.network ?? '');
    if (net && !isNull(net) && !networkAvailable(r, net, hostRef))
      return new XenApiError('VM_REQUIRES_NETWORK', [vmRef, net]);
  }
  if (opts.memory !== false) {
    const needed = vmMemoryNeed(vm);
    const available = hostFreeMemory(r, hostRef, vmRef);
    if (available < needed)
      return new XenApiError('HOST_NOT_ENOUGH_FREE_MEMORY', [String(needed), String(available)]);
  }
  return undefined;
}

/**
 * VM.get_possible_hosts: the host the VM is already scheduled to, else every host it can boot
 * on (no CPU check, as xapi's get_possible_hosts_for_vm).
 */
export function possibleHosts(view: PoolView, vmRef: string): string[] {
  const vm = view.records.get('VM', vmRef);
  if (vm && !isNull(vm.scheduled_to_be_resident_on)) return [String(vm.scheduled_to_be_resident_on)];
  return [...view.records.all('host').keys()].filter((h) => !bootError(view, vmRef, h));
}

/** A host's memory sums with the VM being placed counted in (Vm_placement.summarise_host_snapshot). */
interface HostSummary {
  ref: string;
  isMaster: boolean;
  available: number;
  staticMax: number;
  dynamicMax: number;
  dynamicMin: number;
}

function summarise(r: RecordReader, hostRef: string, vmRef: string, vm: Row, master: string): HostSummary {
  const guests = [...guestsOn(r, hostRef, vmRef), vm];
  const sum = (f: (g: Row) => number) => guests.reduce((s, g) => s + f(g), 0);
  return {
    ref: hostRef,
    isMaster: hostRef === master,
    available: guestMemory(r, hostRef) - sum(vmMemoryOverhead),
    staticMax: sum((g) => num(g.memory_static_max)),
    dynamicMax: sum((g) => num(g.memory_dynamic_max)),
    dynamicMin: sum((g) => num(g.memory_dynamic_min)),
  };
}

/** A host category: a value ≥ 0 for hosts inside it, higher is better (Vm_placement). */
type Category = (h: HostSummary) => number;

/** The pool master is valued (v − 1) / 2: it has the API's work to do as well. */
const awayFromMaster =
  (c: Category): Category =>
  (h) =>
    h.isMaster ? Math.trunc((c(h) - 1) / 2) : c(h);
/** Hosts that fit every guest at static_max. */
const definite = awayFromMaster((h) => h.available - h.staticMax);
/** Hosts that fit every guest at dynamic_max. */
const probable = awayFromMaster((h) => h.available - h.dynamicMax);
/** Hosts that fit every guest at dynamic_min, valued by how little they must squeeze (0–1000). */
const possible: Category = (h) => {
  if (h.available >= h.dynamicMax) return 1000;
  if (h.available < h.dynamicMin) return -1;
  return Math.trunc((1000 * (h.available - h.dynamicMin)) / (h.dynamicMax - h.dynamicMin));
};

/**
 * VM.start without a host (xapi's choose_host_for_vm without WLB, with xapi's deterministic
 * selection): the affinity host if the VM can boot there, then hosts that fit every guest at
 * static_max, then at dynamic_max, then at dynamic_min, the best-valued first (most memory to
 * spare; the master only when it has twice the headroom of a slave). If no host passes every
 * check, the first that passes all but the memory check is chosen, as xapi does: starting there
 * then fails with HOST_NOT_ENOUGH_FREE_MEMORY, which says more than NO_HOSTS_AVAILABLE.
 */
export function chooseHost(
  view: PoolView,
  vmRef: string,
  master: string,
  opts: BootCheckOptions = {},
): string {
  const r = view.records;
  const vm = r.get('VM', vmRef);
  if (!vm) throw new XenApiError('HANDLE_INVALID', ['VM', vmRef]);
  const affinity = String(vm.affinity ?? '');
  const summaries = [...r.all('host').keys()].map((h) => summarise(r, h, vmRef, vm, master));
  const categories: Category[] = [
    (h) => (h.ref === affinity ? possible(h) : -1),
    definite,
    probable,
    possible,
  ];
  const fits = (h: string) => !bootError(view, vmRef, h, opts);
  let remaining = summaries;
  for (const category of categories) {
    const inside = remaining
      .map((h) => ({ h, v: category(h) }))
      .filter((x) => x.v >= 0)
      .sort((a, b) => b.v - a.v);
    const found = inside.find((x) => fits(x.h.ref));
    if (found) return found.h.ref;
    remaining = remaining.filter((h) => category(h) < 0);
  }
  const anyMemory = summaries
    .map((h) => ({ h, v: possible(h) }))
    .sort((a, b) => b.v - a.v)
    .find((x) => !bootError(view, vmRef, x.h.ref, { ...opts, memory: false }));
  if (anyMemory) return anyMemory.h.ref;
  throw new XenApiError('NO_HOSTS_AVAILABLE', []);
}
