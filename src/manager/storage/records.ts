// Database helpers for storage objects: SR descriptions for the agent, SR statistics, VDI
// records from volumes, per-object operation bookkeeping and locks.
import { randomUUID } from 'node:crypto';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Database, Row } from '../db/database.js';
import type { Services } from '../api/context.js';
import type { DriverInfo, SrConfig, SrStats, Volume } from '../../shared/host/storage.js';
import { hostForSr, storageOf } from './sr-host.js';

export const SR_OPERATIONS = [
  'scan',
  'destroy',
  'forget',
  'plug',
  'unplug',
  'update',
  'vdi_create',
  'vdi_introduce',
  'vdi_destroy',
  'vdi_resize',
  'vdi_clone',
  'vdi_snapshot',
  'vdi_copy',
  'vdi_forget',
  'vdi_update',
  'pbd_create',
  'pbd_destroy',
];

/** SR allowed_operations from its driver's capabilities (pure). */
export function srAllowedOperations(info: DriverInfo | undefined): string[] {
  const caps = new Set(info?.capabilities ?? []);
  const needs: Record<string, string> = {
    vdi_create: 'VDI_CREATE',
    vdi_destroy: 'VDI_DELETE',
    vdi_resize: 'VDI_RESIZE',
    vdi_clone: 'VDI_CLONE',
    vdi_snapshot: 'VDI_SNAPSHOT',
    vdi_copy: 'VDI_COPY',
  };
  return SR_OPERATIONS.filter((op) => !needs[op] || caps.has(needs[op]));
}

/** VDI allowed_operations (pure): what its SR supports, less what its state forbids. */
export function vdiAllowedOperations(info: DriverInfo | undefined, vdi: Row, attached: boolean): string[] {
  const caps = new Set(info?.capabilities ?? []);
  const ops: string[] = ['forget', 'update', 'generate_config', 'set_on_boot'];
  if (caps.has('VDI_CLONE')) ops.push('clone');
  if (caps.has('VDI_SNAPSHOT')) ops.push('snapshot');
  if (caps.has('VDI_COPY') || caps.has('VDI_CREATE')) ops.push('copy');
  if (caps.has('VDI_RESIZE') && !attached && !vdi.read_only) ops.push('resize');
  if (caps.has('VDI_RESIZE_ONLINE') && attached && !vdi.read_only) ops.push('resize_online');
  if (caps.has('VDI_DELETE') && !attached) ops.push('destroy');
  if (Object.keys((vdi.current_operations as object) ?? {}).length) return ops.filter((o) => o === 'copy');
  // xapi: a cbt_metadata VDI has no data to clone, copy, resize or snapshot; on_boot cannot
  // change while CBT is on. (The CBT operations themselves are never listed, as in xapi.)
  const noData = ['clone', 'copy', 'resize', 'resize_online', 'snapshot', 'set_on_boot'];
  if (vdi.type === 'cbt_metadata') return ops.filter((o) => !noData.includes(o)).sort();
  if (vdi.cbt_enabled) return ops.filter((o) => o !== 'set_on_boot').sort();
  return ops.sort();
}

export function driverInfoOf(svc: Services, type: string): DriverInfo | undefined {
  return svc.storageDrivers?.find((d) => d.type === type);
}

/** The PBD connecting `sr` to this host, if any. */
export function localPbd(svc: Services, sr: string): string | undefined {
  const row = svc.db.mustGet('SR', sr);
  return (row.PBDs as string[]).find((p) => svc.db.get('PBD', p)?.host === svc.hostRef());
}

/**
 * The SR as the agent of the host that does its work (hostForSr) sees it, through that host's
 * PBD; SR_HAS_NO_PBDS / SR_NOT_ATTACHED unless it is plugged on some host.
 */
export function attachedSr(svc: Services, sr: string): SrConfig {
  const row = svc.db.mustGet('SR', sr);
  const pbds = row.PBDs as string[];
  if (!pbds.length) throw new XenApiError('SR_HAS_NO_PBDS', [sr]);
  const host = hostForSr(svc, sr);
  const prow = pbds.map((p) => svc.db.get('PBD', p)).find((p) => p?.host === host);
  if (!prow?.currently_attached) throw new XenApiError('SR_NOT_ATTACHED', [sr]);
  return srConfig(row, prow);
}

/**
 * The SR as an attach through PBD `pbd` sees it: when another host has the (shared) SR attached,
 * the agent must not repair leftovers, which may be that host's operations in flight.
 */
export function srAttachConfig(db: Database, sr: Row, pbd: string): SrConfig {
  const cfg = srConfig(sr, db.mustGet('PBD', pbd));
  const elsewhere = (sr.PBDs as string[]).some((p) => p !== pbd && db.get('PBD', p)?.currently_attached);
  return elsewhere ? { ...cfg, inUseElsewhere: true } : cfg;
}

export const srConfig = (sr: Row, pbd: Row): SrConfig => ({
  uuid: String(sr.uuid),
  type: String(sr.type),
  deviceConfig: { ...(pbd.device_config as Record<string, string>) },
});

/** physical_size / physical_utilisation from the agent, virtual_allocation from the VDIs. */
export function recordSrStats(db: Database, sr: string, stats: SrStats | undefined) {
  const row = db.get('SR', sr);
  if (!row) return;
  let virtual = 0;
  for (const v of row.VDIs as string[]) virtual += Number(db.get('VDI', v)?.virtual_size ?? 0);
  const upd: Row = { virtual_allocation: virtual };
  if (stats) {
    upd.physical_size = stats.physicalSize;
    upd.physical_utilisation = stats.physicalUtilisation;
  }
  if (Object.entries(upd).some(([k, v]) => row[k] !== v)) db.update('SR', sr, upd);
}

export async function refreshSrStats(svc: Services, sr: string, cfg: SrConfig) {
  const stats = await Promise.resolve()
    .then(() => storageOf(svc, sr).sr_stats(cfg))
    .catch(() => undefined);
  recordSrStats(svc.db, sr, stats);
}

export const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s);

/** Fields of a new VDI record for a volume. */
export function vdiFields(sr: string, vol: Volume, info: DriverInfo | undefined, extra: Row = {}): Row {
  const base: Row = {
    name_label: '',
    name_description: '',
    SR: sr,
    virtual_size: vol.virtualSize,
    physical_utilisation: vol.physicalUtilisation,
    type: 'user',
    sharable: false,
    read_only: vol.readOnly,
    other_config: {},
    xenstore_data: {},
    sm_config: {},
    tags: [],
    location: vol.location,
    managed: true,
    missing: false,
    ...extra,
  };
  if (!base.uuid) base.uuid = isUuid(vol.location) ? vol.location : randomUUID();
  base.allowed_operations = vdiAllowedOperations(info, base, false);
  return base;
}

/** VBDs of a VDI plugged into a running VM. */
export function attachedVbds(db: Database, vdi: string): string[] {
  const row = db.get('VDI', vdi);
  return ((row?.VBDs as string[]) ?? []).filter((b) => db.get('VBD', b)?.currently_attached);
}

/** Refreshes a VDI's allowed_operations. */
export function refreshVdiOps(svc: Services, vdi: string) {
  const row = svc.db.get('VDI', vdi);
  if (!row) return;
  const sr = svc.db.get('SR', String(row.SR));
  const ops = vdiAllowedOperations(
    driverInfoOf(svc, String(sr?.type)),
    row,
    attachedVbds(svc.db, vdi).length > 0,
  );
  const old = row.allowed_operations as string[];
  if (old.length !== ops.length || old.some((o, i) => o !== ops[i]))
    svc.db.update('VDI', vdi, { allowed_operations: ops });
}

/**
 * Runs `fn` as operation `op` on a VDI: recorded in current_operations (so clients see it and a
 * conflicting call gets OTHER_OPERATION_IN_PROGRESS) and always removed afterwards. Copies may
 * run side by side; anything else is exclusive.
 */
export async function withVdiOperation<T>(
  svc: Services,
  vdi: string,
  op: string,
  task: string,
  fn: () => Promise<T>,
): Promise<T> {
  const { db } = svc;
  db.transaction(() => {
    const row = db.mustGet('VDI', vdi);
    const cur = row.current_operations as Record<string, string>;
    for (const [t, other] of Object.entries(cur)) {
      if (!(op === 'copy' && other === 'copy'))
        throw new XenApiError('OTHER_OPERATION_IN_PROGRESS', ['VDI', vdi, other, t]);
    }
    db.update('VDI', vdi, { current_operations: { ...cur, [task]: op } });
    refreshVdiOps(svc, vdi);
  });
  try {
    return await fn();
  } finally {
    db.transaction(() => {
      const row = db.get('VDI', vdi);
      if (!row) return;
      const { [task]: _done, ...rest } = row.current_operations as Record<string, string>;
      db.update('VDI', vdi, { current_operations: rest });
      refreshVdiOps(svc, vdi);
    });
  }
}

/** Locations of an SR's VDIs that must not be rewritten now (plugged or under an operation). */
export function busyLocations(db: Database, sr: string): string[] {
  const out: string[] = [];
  for (const v of (db.get('SR', sr)?.VDIs as string[]) ?? []) {
    const row = db.get('VDI', v);
    if (!row) continue;
    if (attachedVbds(db, v).length || Object.keys(row.current_operations as object).length)
      out.push(String(row.location));
  }
  return out;
}

/** Serialises async work per key (one GC per SR at a time, …). */
const chains = new Map<string, Promise<unknown>>();
export function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = chains.get(key) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  chains.set(key, next);
  void next
    .finally(() => {
      if (chains.get(key) === next) chains.delete(key);
    })
    .catch(() => undefined);
  return next;
}

export const isNull = (ref: unknown) => ref === NULL_REF || ref === '' || ref === undefined;
