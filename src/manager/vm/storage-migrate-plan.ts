// Storage migration (VM.migrate_send, VM.assert_can_migrate, host.migrate_receive, VDI.pool_migrate)
// as xapi's xapi_vm_migrate.ml decides it, in pure functions over database records: the
// destination map `dest` (host.migrate_receive's token), the checks on vdi_map / vif_map / options
// in xapi's order, and which disks move (are mirrored into a new volume on the destination SR).
// Nothing here talks to a host: the handlers (api/vm-storage-migrate.ts) run the plan.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';
import { bootError, type PoolView, type RecordReader } from './placement.js';

/** The keys of xapi's dest map (Xapi_vm_migrate._sm, _host, _xenops, _session_id, _master). */
export const DEST_KEYS = ['SM', 'host', 'xenops', 'session_id', 'master'] as const;

export interface Dest {
  /** The destination host's ref (in this pool's database for an intra-pool migration). */
  host: string;
  /** A session on the destination pool (made by migrate_receive for the caller). */
  sessionId: string;
  /** The destination pool master's URL (http://address/). */
  master: string;
  xenops: string;
  sm: string;
}

const isNull = (ref: unknown) => ref === undefined || ref === '' || ref === NULL_REF;

/**
 * host.migrate_receive's token, as xapi builds it: SM and xenops URLs on the destination host's
 * address carrying the new session, the host's ref, the session, the master's URL.
 */
export function buildDest(o: {
  host: string;
  hostAddress: string;
  session: string;
  masterAddress: string;
}): Record<string, string> {
  const q = `session_id=${encodeURIComponent(o.session)}`;
  const h = urlHost(o.hostAddress);
  return {
    SM: `http://${h}/services/SM?${q}`,
    host: o.host,
    xenops: `http://${h}/services/xenops?${q}`,
    session_id: o.session,
    master: `http://${urlHost(o.masterAddress)}/`,
  };
}

/** An address as the host part of a URL (IPv6 in brackets). */
const urlHost = (a: string) => (a.includes(':') && !a.startsWith('[') ? `[${a}]` : a);

/**
 * The dest map a caller passed back (xapi's remote_of_dest). xapi fails with an internal error on
 * a missing key; Berth says which key is missing.
 */
export function parseDest(dest: Record<string, string>): Dest {
  for (const k of ['host', 'session_id', 'master', 'xenops'] as const)
    if (typeof dest?.[k] !== 'string' || dest[k] === '')
      throw new XenApiError('INVALID_VALUE', [
        'dest',
        `missing key ${k} (pass host.migrate_receive's result)`,
      ]);
  return {
    host: dest.host,
    sessionId: dest.session_id,
    master: dest.master,
    xenops: dest.xenops,
    sm: dest.SM ?? '',
  };
}

/** The address in a dest URL (xapi's get_ip_from_url). */
export function addressOfUrl(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw new XenApiError('INVALID_VALUE', ['dest', `not a URL: ${url}`]);
  }
}

/** A boolean in an options map as xapi reads force/copy (OCaml bool_of_string: "true" only). */
export const optionTrue = (options: Record<string, string>, key: string) => options?.[key] === 'true';

/** One disk of the VM and where it goes. */
export interface DiskMove {
  vbd: string;
  vdi: string;
  /** The QEMU device (`vbd-<device>`), as in the instance spec. */
  device: string;
  from: string;
  to: string;
  virtualSize: number;
  /** The disk moves to another SR: a new volume there is mirrored while the guest runs. */
  mirror: boolean;
}

export interface StoragePlan {
  /** Every disk (non-CD VBD with a VDI) of the VM. */
  disks: DiskMove[];
  /** The ones that move. */
  moves: DiskMove[];
  /** The destination is the host the VM runs on (disks move, the VM does not). */
  sameHost: boolean;
}

export interface PlanInput {
  vm: string;
  dstHost: string;
  vdiMap: Record<string, string>;
  vifMap: Record<string, string>;
  options: Record<string, string>;
  /** assert_can_migrate (true) or migrate_send (false): xapi checks slightly differently. */
  assertOnly: boolean;
}

/** What the plan needs besides records: which hosts are reachable and the SR drivers' capabilities. */
export interface PlanView extends PoolView {
  capabilities(srType: string): string[];
  /** A VM's QEMU device name of a VBD (vm-disks.ts vbdDevice). */
  deviceOf(vbd: Row): string;
}

/** The VM's disk VBDs (not CDs, not empty: xapi's vdi_filter), with their VDIs. */
function diskVbds(r: RecordReader, vm: Row): { vbd: string; row: Row; vdi: string }[] {
  const out: { vbd: string; row: Row; vdi: string }[] = [];
  for (const vbd of (vm.VBDs as string[]) ?? []) {
    const row = r.get('VBD', vbd);
    if (!row || row.empty || row.type === 'CD' || isNull(row.VDI)) continue;
    out.push({ vbd, row, vdi: String(row.VDI) });
  }
  return out;
}

/** The records with VDIs' SRs replaced by their destinations (for the destination's boot checks). */
export function remappedReader(r: RecordReader, vdiMap: Record<string, string>): RecordReader {
  const remap = (cls: string, ref: string, row: Row | undefined) =>
    row && cls === 'VDI' && vdiMap[ref] ? { ...row, SR: vdiMap[ref] } : row;
  return {
    get: (cls, ref) => remap(cls, ref, r.get(cls, ref)),
    all: (cls) => {
      if (cls !== 'VDI') return r.all(cls);
      const m = new Map<string, Row>();
      for (const [ref, row] of r.all(cls)) m.set(ref, remap(cls, ref, row)!);
      return m;
    },
  };
}

/**
 * The checks of VM.migrate_send / VM.assert_can_migrate for a destination in this pool, in xapi's
 * order, and the disks that move. Errors: OPERATION_NOT_ALLOWED (copy within a pool; a vif_map in
 * assert_can_migrate within a pool), VM_BAD_POWER_STATE (not running), VDI_NOT_IN_MAP,
 * HANDLE_INVALID (a map's key or value), VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION,
 * SR_DOES_NOT_SUPPORT_MIGRATION, VDI_CBT_ENABLED, then the destination's boot checks with the
 * disks on their new SRs (HOST_NOT_LIVE, HOST_OFFLINE, HOST_DISABLED, VM_REQUIRES_SR,
 * VM_REQUIRES_NETWORK, HOST_NOT_ENOUGH_FREE_MEMORY).
 */
export function planIntraPool(view: PlanView, input: PlanInput): StoragePlan {
  const r = view.records;
  const { vm: vmRef, dstHost, vdiMap, vifMap, options } = input;
  const vm = r.get('VM', vmRef);
  if (!vm) throw new XenApiError('HANDLE_INVALID', ['VM', vmRef]);
  if (!r.get('host', dstHost)) throw new XenApiError('HANDLE_INVALID', ['host', dstHost]);
  if (optionTrue(options, 'copy'))
    throw new XenApiError('OPERATION_NOT_ALLOWED', [
      'Copy mode is disallowed on intra pool storage migration, try efficient alternatives, for example, VM.copy/clone.',
    ]);
  // Berth mirrors disks through the running guest's QEMU: a halted or suspended VM has none.
  if (vm.power_state !== 'Running')
    throw new XenApiError('VM_BAD_POWER_STATE', [vmRef, 'running', String(vm.power_state).toLowerCase()]);
  for (const [vdi, sr] of Object.entries(vdiMap ?? {})) {
    if (!r.get('VDI', vdi)) throw new XenApiError('HANDLE_INVALID', ['VDI', vdi]);
    if (!r.get('SR', sr)) throw new XenApiError('HANDLE_INVALID', ['SR', sr]);
  }
  for (const [vif, net] of Object.entries(vifMap ?? {})) {
    if (!r.get('VIF', vif)) throw new XenApiError('HANDLE_INVALID', ['VIF', vif]);
    if (!r.get('network', net)) throw new XenApiError('HANDLE_INVALID', ['network', net]);
  }
  const vbds = diskVbds(r, vm);
  // check_vdi_map: every disk of the VM is in the map.
  for (const d of vbds) if (!(d.vdi in (vdiMap ?? {}))) throw new XenApiError('VDI_NOT_IN_MAP', [d.vdi]);
  if (input.assertOnly && Object.keys(vifMap ?? {}).length)
    throw new XenApiError('OPERATION_NOT_ALLOWED', [
      'VIF mapping is not allowed for intra-pool migration -all VIFs must be on the same network',
    ]);
  for (const d of vbds)
    if (r.get('VDI', d.vdi)?.on_boot === 'reset')
      throw new XenApiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', [d.vdi]);
  const disks: DiskMove[] = vbds.map((d) => {
    const vdi = r.get('VDI', d.vdi)!;
    const from = String(vdi.SR);
    const to = vdiMap[d.vdi];
    return {
      vbd: d.vbd,
      vdi: d.vdi,
      device: view.deviceOf(d.row),
      from,
      to,
      virtualSize: Number(vdi.virtual_size) || 0,
      mirror: to !== from,
    };
  });
  const moves = disks.filter((d) => d.mirror);
  // assert_sr_support_operations: the source volume is deleted afterwards, the destination makes one.
  for (const m of moves) {
    const missing = (sr: string, cap: string) =>
      !view.capabilities(String(r.get('SR', sr)?.type)).includes(cap);
    if (missing(m.from, 'VDI_DELETE'))
      throw new XenApiError('SR_DOES_NOT_SUPPORT_MIGRATION', [m.from, 'VDI_DELETE']);
    if (missing(m.to, 'VDI_CREATE'))
      throw new XenApiError('SR_DOES_NOT_SUPPORT_MIGRATION', [m.to, 'VDI_CREATE']);
    if (m.vbd && r.get('VBD', m.vbd)?.mode === 'RO') throw new XenApiError('VDI_READONLY', [m.vdi]); // Berth: a read-only disk is not mirrored
  }
  // assert_can_migrate_vdis: a disk that moves has no changed-block tracking.
  for (const m of moves)
    if (r.get('VDI', m.vdi)?.cbt_enabled) throw new XenApiError('VDI_CBT_ENABLED', [m.vdi]);
  const sameHost = vm.resident_on === dstHost;
  const e = bootError({ ...view, records: remappedReader(r, vdiMap) }, vmRef, dstHost);
  if (e) throw e;
  return { disks, moves, sameHost };
}

/**
 * VM.migrate_send / assert_can_migrate's `vgpu_map` (VGPU → GPU_group): Berth VMs have no vGPUs,
 * so every key names a VGPU this VM does not have: HANDLE_INVALID ['VGPU', ref] (pure).
 */
export function checkVgpuMap(vgpuMap: Record<string, string>): void {
  for (const vgpu of Object.keys(vgpuMap)) throw new XenApiError('HANDLE_INVALID', ['VGPU', vgpu]);
}

/**
 * VDI.pool_migrate's VM (message_forwarding: the VM of the VDI's first VBD;
 * VDI_NEEDS_VM_FOR_MIGRATE without one) and its full vdi_map: the other disks stay on their SRs.
 */
export function poolMigrateMap(
  r: RecordReader,
  vdi: string,
  sr: string,
): { vm: string; vdiMap: Record<string, string> } {
  const row = r.get('VDI', vdi);
  if (!row) throw new XenApiError('HANDLE_INVALID', ['VDI', vdi]);
  if (!r.get('SR', sr)) throw new XenApiError('HANDLE_INVALID', ['SR', sr]);
  if (row.type === 'cbt_metadata') throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata']);
  if (row.cbt_enabled) throw new XenApiError('VDI_CBT_ENABLED', [vdi]);
  const vbds = ((row.VBDs as string[]) ?? []).filter((b) => r.get('VBD', b));
  if (!vbds.length) throw new XenApiError('VDI_NEEDS_VM_FOR_MIGRATE', [vdi]);
  const vm = String(r.get('VBD', vbds[0])!.VM);
  const vmRow = r.get('VM', vm);
  if (!vmRow) throw new XenApiError('HANDLE_INVALID', ['VM', vm]);
  const vdiMap: Record<string, string> = {};
  for (const d of diskVbds(r, vmRow)) vdiMap[d.vdi] = String(r.get('VDI', d.vdi)?.SR);
  vdiMap[vdi] = sr;
  return { vm, vdiMap };
}

/**
 * VDI.pool_migrate's destination host (xapi: the VM's own host when it sees every SR of the
 * full map, else another host that does): hosts are tried with the boot checks of `planIntraPool`.
 */
export function poolMigrateHost(view: PlanView, vm: string, vdiMap: Record<string, string>): string {
  const r = view.records;
  const here = String(r.get('VM', vm)?.resident_on ?? NULL_REF);
  const remapped = { ...view, records: remappedReader(r, vdiMap) };
  if (!isNull(here) && !bootError(remapped, vm, here)) return here;
  for (const h of r.all('host').keys()) if (h !== here && !bootError(remapped, vm, h)) return h;
  // None fits: the VM's own host's reason says the most.
  const e = bootError(remapped, vm, isNull(here) ? [...r.all('host').keys()][0] : here);
  throw e ?? new XenApiError('NO_HOSTS_AVAILABLE', []);
}

/** Fields of the destination's new VDI: the source's description (xapi's SMAPI copy keeps them). */
export function movedVdiFields(row: Row): Row {
  return {
    name_label: row.name_label,
    name_description: row.name_description,
    type: row.type,
    sharable: row.sharable,
    read_only: row.read_only,
    other_config: { ...(row.other_config as object) },
    xenstore_data: { ...(row.xenstore_data as object) },
    sm_config: { ...(row.sm_config as object) },
    tags: [...((row.tags as string[]) ?? [])],
    on_boot: row.on_boot,
    allow_caching: row.allow_caching,
  };
}
