// VM placement by an external iallocator (issue 18; docs/hooks.md), after Ganeti's iallocator
// protocol (ganeti-noded.md §9): when the pool's other_config names one (`berth-iallocator`), a
// VM.start / VM.resume without a host asks it instead of xapi's own choice. The request is
// Ganeti's version 2 `allocate` request over the pool (nodes with memory and CPUs, instances, the
// VM asked about); the answer `{"success", "info", "result": [node]}` names the host. The
// allocator runs on the pool master's agent (allow-listed: its iallocator directory); any failure
// or bad answer refuses the start with IALLOCATOR_FAILED [name, why, output] — no silent fallback
// to the built-in choice (docs/decisions.md).
import { XenApiError } from '../../shared/errors.js';
import type { Services } from '../api/context.js';
import type { Row } from '../db/database.js';
import {
  bootError,
  hostFreeMemory,
  hostMemoryOverhead,
  type PoolView,
  type RecordReader,
} from './placement.js';
import { masterOf, poolView } from './reservation.js';

/** The pool other_config key naming the iallocator (a file of each agent's iallocator dir). */
export const IALLOCATOR_KEY = 'berth-iallocator';

const MiB = 1024 * 1024;
const mib = (v: unknown) => Math.floor((Number(v) || 0) / MiB);
const isNull = (ref: unknown) => ref === undefined || ref === null || ref === '' || ref === 'OpaqueRef:NULL';

/** Ganeti's node names for the pool's hosts: their name_label, the uuid where a label repeats. */
export function nodeNames(r: RecordReader): Map<string, string> {
  const hosts = [...r.all('host').entries()];
  const count = new Map<string, number>();
  for (const [, h] of hosts) count.set(String(h.name_label), (count.get(String(h.name_label)) ?? 0) + 1);
  return new Map(
    hosts.map(([ref, h]) => [
      ref,
      count.get(String(h.name_label)) === 1 ? String(h.name_label) : String(h.uuid),
    ]),
  );
}

function disksOf(r: RecordReader, vm: Row) {
  return ((vm.VBDs as string[]) ?? [])
    .map((v) => r.get('VBD', v))
    .filter((b) => b && b.type !== 'CD' && !isNull(b.VDI))
    .map((b) => ({
      size: mib(r.get('VDI', String(b!.VDI))?.virtual_size),
      mode: b!.mode === 'RO' ? 'r' : 'rw',
    }));
}

function nicsOf(r: RecordReader, vm: Row) {
  return ((vm.VIFs as string[]) ?? [])
    .map((v) => r.get('VIF', v))
    .filter((v) => v)
    .map((v) => ({
      mac: String(v!.MAC ?? ''),
      ip: null,
      link: String(r.get('network', String(v!.network))?.bridge ?? ''),
    }));
}

/**
 * Ganeti's iallocator input (version 2, request type allocate) for VM `vmRef`. A node the VM
 * cannot boot on for reasons other than memory (host not live or unreachable, disabled, its SRs
 * or networks missing, CPU) is `offline` or `drained`, so a Ganeti allocator passes it over;
 * memory is the allocator's to judge (free_memory).
 */
export function allocatorRequest(view: PoolView, vmRef: string, master: string, poolName: string) {
  const r = view.records;
  const vm = r.get('VM', vmRef);
  if (!vm) throw new XenApiError('HANDLE_INVALID', ['VM', vmRef]);
  const names = nodeNames(r);
  const nodes: Record<string, unknown> = {};
  for (const [ref, h] of r.all('host')) {
    const metrics = r.get('host_metrics', String(h.metrics));
    const why = bootError(view, vmRef, ref, { memory: false });
    const offline = metrics?.live !== true || !view.reachable(ref);
    const guests = [...r.all('VM').values()].filter((g) => !g.is_control_domain && g.resident_on === ref);
    nodes[names.get(ref)!] = {
      uuid: String(h.uuid),
      total_memory: mib(metrics?.memory_total),
      reserved_memory: mib(hostMemoryOverhead(h, metrics)),
      free_memory: mib(hostFreeMemory(r, ref, vmRef)),
      total_cpus: Number((h.cpu_info as Record<string, string>)?.cpu_count ?? 0),
      total_disk: 0,
      free_disk: 0,
      i_pri_memory: guests.reduce((s, g) => s + mib(g.memory_static_max), 0),
      i_pri_up_memory: guests
        .filter((g) => g.power_state === 'Running')
        .reduce((s, g) => s + mib(g.memory_static_max), 0),
      offline,
      drained: !offline && why !== undefined,
      master_candidate: ref === master,
      vm_capable: true,
      group: 'default',
      primary_ip: String(h.address ?? ''),
      secondary_ip: String(h.address ?? ''),
      tags: (h.tags as string[]) ?? [],
      // Berth's own: why the VM cannot boot there (null: it can, memory aside).
      berth_boot_error: why ? [why.code, ...why.params] : null,
    };
  }
  const instances: Record<string, unknown> = {};
  for (const [ref, g] of r.all('VM')) {
    if (g.is_control_domain || g.is_a_template || isNull(g.resident_on) || ref === vmRef) continue;
    instances[String(g.uuid)] = {
      name: String(g.name_label),
      memory: mib(g.memory_static_max),
      vcpus: Number(g.VCPUs_max) || 1,
      nodes: [names.get(String(g.resident_on)) ?? String(g.resident_on)],
      admin_state: g.power_state === 'Running' ? 'up' : 'down',
      disk_template: 'plain',
      disks: disksOf(r, g),
      nics: nicsOf(r, g),
      tags: (g.tags as string[]) ?? [],
      os: '',
      hypervisor: 'kvm',
      spindle_use: 1,
    };
  }
  const disks = disksOf(r, vm);
  return {
    version: 2,
    cluster_name: poolName,
    cluster_tags: [],
    enabled_hypervisors: ['kvm'],
    ipolicy: {},
    nodegroups: {
      default: { name: 'default', alloc_policy: 'preferred', networks: [], ipolicy: {}, tags: [] },
    },
    nodes,
    instances,
    request: {
      type: 'allocate',
      name: String(vm.uuid),
      berth_name_label: String(vm.name_label),
      memory: mib(vm.memory_static_max),
      vcpus: Number(vm.VCPUs_max) || 1,
      disks,
      disk_space_total: disks.reduce((s, d) => s + d.size, 0),
      disk_template: 'plain',
      nics: nicsOf(r, vm),
      os: '',
      tags: (vm.tags as string[]) ?? [],
      hypervisor: 'kvm',
      required_nodes: 1,
      spindle_use: 1,
      // Berth's own: the VM's affinity host (xapi's first choice), null when none.
      berth_affinity: isNull(vm.affinity) ? null : (names.get(String(vm.affinity)) ?? null),
    },
  };
}

/** The host ref an allocator's answer names, or IALLOCATOR_FAILED [name, why, output]. */
export function parseAllocatorAnswer(name: string, text: string, names: Map<string, string>): string {
  const fail = (why: string) => new XenApiError('IALLOCATOR_FAILED', [name, why, text.slice(-1000)]);
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw fail('the answer is not JSON');
  }
  const a = answer as { success?: unknown; info?: unknown; result?: unknown };
  if (!a || typeof a !== 'object' || typeof a.success !== 'boolean')
    throw fail('the answer has no boolean "success"');
  if (!a.success) throw fail(`no placement: ${typeof a.info === 'string' ? a.info : 'no reason given'}`);
  if (!Array.isArray(a.result) || a.result.length !== 1 || typeof a.result[0] !== 'string')
    throw fail('"result" must list exactly one node name');
  const node = a.result[0];
  for (const [ref, n] of names) if (n === node) return ref;
  throw fail(`the answer names an unknown node ${JSON.stringify(node).slice(0, 200)}`);
}

/**
 * The host the pool's iallocator chooses for VM `vm`, or undefined when the pool names none. The
 * caller still checks and reserves it (reserveHost): a host that cannot boot the VM refuses it
 * with its own reason.
 */
export async function allocatorChoice(svc: Services, vm: string): Promise<string | undefined> {
  const pool = svc.db.get('pool', svc.poolRef());
  const name = (pool?.other_config as Record<string, string> | undefined)?.[IALLOCATOR_KEY];
  if (!name) return undefined;
  const view = poolView(svc);
  const master = masterOf(svc);
  const request = allocatorRequest(view, vm, master, String(pool?.name_label ?? ''));
  const text = await svc.hosts.get(master).hooks.iallocator_runner(name, JSON.stringify(request));
  return parseAllocatorAnswer(name, text, nodeNames(svc.db));
}
