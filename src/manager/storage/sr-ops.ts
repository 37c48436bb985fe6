// SR and PBD operations: create/introduce/destroy/forget, plug/unplug, and scan, which makes the
// database's VDIs match what the storage really holds.
import { randomUUID } from 'node:crypto';
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';
import type { Services } from '../api/context.js';
import {
  attachedSr,
  attachedVbds,
  driverInfoOf,
  isUuid,
  localPbd,
  recordSrStats,
  srAllowedOperations,
  srAttachConfig,
  srConfig,
  vdiFields,
} from './records.js';
import type { SrConfig, Volume } from '../../shared/host/storage.js';
import { plugWhenConnected } from './plug-later.js';
import { hostStorage, storageOf } from './sr-host.js';

export interface NewSr {
  host: string;
  deviceConfig: Record<string, string>;
  physicalSize: number;
  nameLabel: string;
  nameDescription: string;
  type: string;
  contentType: string;
  shared: boolean;
  smConfig: Record<string, string>;
  otherConfig?: Record<string, string>;
}

function assertKnownType(svc: Services, type: string) {
  if (!driverInfoOf(svc, type)) throw new XenApiError('SR_UNKNOWN_DRIVER', [type]);
}

/** What SR.scan does to the database, given the volumes found (pure decision, applied here). */
export interface ScanChanges {
  introduced: string[];
  forgotten: string[];
  missing: string[];
  updated: string[];
}

export function syncVolumes(svc: Services, sr: string, volumes: Volume[]): ScanChanges {
  const { db } = svc;
  const row = db.mustGet('SR', sr);
  const info = driverInfoOf(svc, String(row.type));
  const out: ScanChanges = { introduced: [], forgotten: [], missing: [], updated: [] };
  const inFlight = svc.storageIntents?.inFlight ?? new Set<string>();
  const byLoc = new Map(volumes.map((v) => [v.location, v]));
  db.transaction(() => {
    const known = new Set<string>();
    for (const vdi of [...(row.VDIs as string[])]) {
      const v = db.get('VDI', vdi)!;
      const loc = String(v.location);
      known.add(loc);
      const vol = byLoc.get(loc);
      if (!vol) {
        // A VDI mid-operation may lack its file for a moment (a live snapshot renames it).
        if (!v.managed || Object.keys((v.current_operations as object) ?? {}).length) continue;
        if ((v.VBDs as string[]).length) {
          if (!v.missing) {
            db.update('VDI', vdi, { missing: true });
            out.missing.push(String(v.uuid));
          }
        } else {
          db.destroy('VDI', vdi);
          out.forgotten.push(String(v.uuid));
        }
        continue;
      }
      const upd: Row = {};
      if (v.virtual_size !== vol.virtualSize) upd.virtual_size = vol.virtualSize;
      if (v.physical_utilisation !== vol.physicalUtilisation)
        upd.physical_utilisation = vol.physicalUtilisation;
      if (v.missing) upd.missing = false;
      if (Object.keys(upd).length) {
        db.update('VDI', vdi, upd);
        out.updated.push(String(v.uuid));
      }
    }
    for (const vol of volumes) {
      if (known.has(vol.location) || inFlight.has(`${row.uuid}/${vol.location}`)) continue;
      const extra: Row = {};
      if (row.type === 'iso')
        Object.assign(extra, { name_label: vol.location, read_only: true, sharable: true });
      // A leftover uuid already used elsewhere gets a fresh one (uuids are unique per class).
      if (isUuid(vol.location) && db.refByUuid('VDI', vol.location)) extra.uuid = randomUUID();
      db.create('VDI', vdiFields(sr, vol, info, extra));
      out.introduced.push(vol.location);
    }
  });
  return out;
}

export async function scanSr(svc: Services, sr: string): Promise<ScanChanges> {
  const cfg = attachedSr(svc, sr);
  const { stats, volumes } = await storageOf(svc, sr).sr_scan(cfg);
  const changes = syncVolumes(svc, sr, volumes);
  recordSrStats(svc.db, sr, stats);
  return changes;
}

export async function updateSr(svc: Services, sr: string): Promise<void> {
  const cfg = attachedSr(svc, sr);
  recordSrStats(svc.db, sr, await storageOf(svc, sr).sr_stats(cfg));
}

/** A shared SR must be of a type several hosts can attach at once (nfs, a shared file directory). */
function assertShareable(svc: Services, type: string) {
  if (!driverInfoOf(svc, type)?.shareable)
    throw new XenApiError('INVALID_VALUE', ['shared', 'true', `SR type ${type} is local to one host`]);
}

/**
 * SR.create: initialises the storage, records the SR and a plugged PBD for `host`, scans. A
 * shared SR gets a PBD on every host of the pool, as xapi's; each is plugged on its host.
 */
export async function createSr(svc: Services, n: NewSr): Promise<string> {
  const { db } = svc;
  db.mustGet('host', n.host);
  assertKnownType(svc, n.type);
  if (n.shared) assertShareable(svc, n.type);
  // The SR is made by the agent of the host named (HOST_OFFLINE when it is not connected).
  const agent = hostStorage(svc, n.host);
  const uuid = randomUUID();
  const cfg: SrConfig = { uuid, type: n.type, deviceConfig: { ...n.deviceConfig } };
  await agent.storage_validate(n.type, cfg.deviceConfig);
  const stats = await agent.sr_create(cfg);
  const info = driverInfoOf(svc, n.type);
  const sr = db.transaction(() => {
    const ref = db.create('SR', {
      uuid,
      name_label: n.nameLabel,
      name_description: n.nameDescription,
      type: n.type,
      content_type: n.contentType || info?.contentType || '',
      shared: n.shared,
      physical_size: stats.physicalSize,
      physical_utilisation: stats.physicalUtilisation,
      other_config: { ...(n.otherConfig ?? {}) },
      sm_config: { ...n.smConfig },
      allowed_operations: srAllowedOperations(info),
    });
    db.create('PBD', {
      host: n.host,
      SR: ref,
      device_config: cfg.deviceConfig,
      currently_attached: true,
      other_config: {},
    });
    if (n.shared)
      for (const host of db.all('host').keys())
        if (host !== n.host)
          db.create('PBD', {
            host,
            SR: ref,
            device_config: { ...n.deviceConfig },
            currently_attached: false,
            other_config: {},
          });
    return ref;
  });
  await scanSr(svc, sr);
  if (n.shared) await plugOtherHosts(svc, sr, n.host);
  return sr;
}

/**
 * Plugs a new shared SR's PBDs on the other hosts, each through its own agent: those connected
 * now, the others at their agent's next connection (plug-later.ts). One that fails stays
 * unplugged (logged; PBD.plug).
 */
async function plugOtherHosts(svc: Services, sr: string, creator: string) {
  for (const pbd of svc.db.mustGet('SR', sr).PBDs as string[]) {
    const host = String(svc.db.get('PBD', pbd)?.host);
    if (host === creator) continue;
    await plugWhenConnected(svc, host, [pbd], plugPbd);
  }
}

/** Hosts that see an SR now: those with its PBD plugged (every member, for a shared SR). */
export function hostsSeeingSr(svc: Services, sr: string): string[] {
  return (svc.db.mustGet('SR', sr).PBDs as string[])
    .map((p) => svc.db.get('PBD', p))
    .filter((p) => p?.currently_attached)
    .map((p) => String(p?.host));
}

/** SR.introduce: only the database record (PBD.create + PBD.plug connect it). */
export function introduceSr(
  svc: Services,
  n: {
    uuid: string;
    nameLabel: string;
    nameDescription: string;
    type: string;
    contentType: string;
    shared: boolean;
    smConfig: Record<string, string>;
  },
): string {
  assertKnownType(svc, n.type);
  const uuid = n.uuid || randomUUID();
  const existing = svc.db.refByUuid('SR', uuid);
  if (existing) return existing;
  return svc.db.create('SR', {
    uuid,
    name_label: n.nameLabel,
    name_description: n.nameDescription,
    type: n.type,
    content_type: n.contentType,
    shared: n.shared,
    physical_size: 0,
    other_config: {},
    sm_config: { ...n.smConfig },
    allowed_operations: srAllowedOperations(driverInfoOf(svc, n.type)),
  });
}

function assertNoPluggedPbd(svc: Services, sr: string) {
  const pbds = svc.db.mustGet('SR', sr).PBDs as string[];
  if (pbds.some((p) => svc.db.get('PBD', p)?.currently_attached)) throw new XenApiError('SR_HAS_PBD', [sr]);
}

function forgetRecords(svc: Services, sr: string) {
  const { db } = svc;
  const row = db.mustGet('SR', sr);
  db.transaction(() => {
    for (const v of [...(row.VDIs as string[])]) {
      for (const b of [...((db.get('VDI', v)?.VBDs as string[]) ?? [])])
        if (db.has('VBD', b)) db.destroy('VBD', b);
      db.destroy('VDI', v);
    }
    for (const p of [...(row.PBDs as string[])]) db.destroy('PBD', p);
    const pool = db.get('pool', svc.poolRef());
    if (pool) {
      const upd: Row = {};
      for (const k of ['default_SR', 'suspend_image_SR', 'crash_dump_SR'])
        if (pool[k] === sr) upd[k] = 'OpaqueRef:NULL';
      if (Object.keys(upd).length) db.update('pool', svc.poolRef(), upd);
    }
    db.destroy('SR', sr);
  });
}

/** SR.forget: drops the records; the storage keeps its data. */
export function forgetSr(svc: Services, sr: string) {
  assertNoPluggedPbd(svc, sr);
  forgetRecords(svc, sr);
}

/** SR.destroy: deletes the storage itself; every PBD unplugged, no VDI left in use. */
export async function destroySr(svc: Services, sr: string) {
  const { db } = svc;
  const row = db.mustGet('SR', sr);
  assertNoPluggedPbd(svc, sr);
  // This host's PBD, else (an SR of another member, or shared) one whose host's agent is connected.
  const pbds = row.PBDs as string[];
  const pbd =
    localPbd(svc, sr) ?? pbds.find((p) => svc.hosts.live(String(db.get('PBD', p)?.host))) ?? pbds[0];
  if (!pbd) throw new XenApiError('SR_HAS_NO_PBDS', [sr]);
  const vdis = (row.VDIs as string[]).filter((v) => db.get('VDI', v)?.managed);
  if (row.type !== 'iso' && vdis.length) throw new XenApiError('SR_NOT_EMPTY', []);
  const prow = db.mustGet('PBD', pbd);
  const cfg = srConfig(row, prow);
  const agent = hostStorage(svc, String(prow.host));
  await agent.sr_attach(cfg);
  await agent.sr_destroy(cfg);
  forgetRecords(svc, sr);
}

export async function probeSr(svc: Services, type: string, dc: Record<string, string>): Promise<string> {
  assertKnownType(svc, type);
  const found = await hostStorage(svc, svc.hostRef()).sr_probe(type, dc);
  return probeXml(found);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** SR.probe's answer: the XML SM backends print (`<SRlist><SR><UUID>…`). */
export function probeXml(found: { uuid: string; where: string; size?: number; free?: number }[]): string {
  const items = found.map((f) => {
    let s = `<SR><UUID>${esc(f.uuid)}</UUID><Location>${esc(f.where)}</Location>`;
    if (f.size !== undefined) s += `<Size>${f.size}</Size>`;
    if (f.free !== undefined) s += `<FreeSpace>${f.free}</FreeSpace>`;
    return `${s}</SR>`;
  });
  return `<?xml version="1.0" ?><SRlist>${items.join('')}</SRlist>`;
}

export async function createPbd(
  svc: Services,
  host: string,
  sr: string,
  dc: Record<string, string>,
  other: Record<string, string> = {},
): Promise<string> {
  const { db } = svc;
  db.mustGet('host', host);
  const srRow = db.mustGet('SR', sr);
  assertKnownType(svc, String(srRow.type));
  const dup = (srRow.PBDs as string[]).find((p) => db.get('PBD', p)?.host === host);
  if (dup) throw new XenApiError('PBD_EXISTS', [sr, host, dup]);
  // Paths are confined again by the agent on every call; this rejects bad ones early.
  await hostStorage(svc, host).storage_validate(String(srRow.type), dc);
  return db.create('PBD', {
    host,
    SR: sr,
    device_config: { ...dc },
    currently_attached: false,
    other_config: other,
  });
}

export async function plugPbd(svc: Services, pbd: string): Promise<string[]> {
  const { db } = svc;
  const row = db.mustGet('PBD', pbd);
  if (row.currently_attached) return [];
  const sr = String(row.SR);
  const srRow = db.mustGet('SR', sr);
  assertKnownType(svc, String(srRow.type));
  // Marks the attach when another host has the SR: its leftovers are not this attach's.
  const cfg = srAttachConfig(db, srRow, pbd);
  // The PBD's own host attaches (HOST_OFFLINE when its agent is not connected).
  const agent = hostStorage(svc, String(row.host));
  await agent.storage_validate(cfg.type, cfg.deviceConfig);
  const { fixed } = await agent.sr_attach(cfg);
  db.update('PBD', pbd, { currently_attached: true });
  await scanSr(svc, sr);
  return fixed;
}

export async function unplugPbd(svc: Services, pbd: string): Promise<void> {
  const { db } = svc;
  const row = db.mustGet('PBD', pbd);
  if (!row.currently_attached) return;
  const sr = String(row.SR);
  const srRow = db.mustGet('SR', sr);
  // Only disks in use on this PBD's host hold it (a shared SR's others are other hosts' business).
  for (const v of srRow.VDIs as string[])
    if (attachedVbds(db, v).some((b) => db.get('VM', String(db.get('VBD', b)?.VM))?.resident_on === row.host))
      throw new XenApiError('VDI_IN_USE', [v, 'unplug']);
  await hostStorage(svc, String(row.host)).sr_detach(srConfig(srRow, row));
  db.update('PBD', pbd, { currently_attached: false });
}
