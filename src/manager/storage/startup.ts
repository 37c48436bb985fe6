// Storage at manager start: the intent journal, then (once the local host's agent is connected)
// the SM objects from the agent's drivers, the start-up scan that reconciles every plugged SR
// with the database, and the default SR.
import { join } from 'node:path';
import type { DriverInfo, SrConfig } from '../../shared/host/storage.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Row } from '../db/database.js';
import type { HostAgent } from '../vm/host-agent.js';
import { ensureDefaultSr } from './default-sr.js';
import { StorageIntents } from './intents.js';
import { srAttachConfig } from './records.js';
import { scanSr } from './sr-ops.js';
import { scheduleGc } from './vdi-ops.js';
import { provisionDisks } from './vm-disks.js';

const log = logger('storage');

/** One SM object per driver type, kept in step with the drivers (idempotent). */
export function registerSmObjects(svc: Services, infos: DriverInfo[]): void {
  const { db } = svc;
  db.transaction(() => {
    for (const info of infos) {
      const fields: Row = {
        name_label: info.name,
        name_description: info.description,
        type: info.type,
        vendor: 'Berth',
        copyright: '',
        version: '1.0',
        required_api_version: '1.0',
        configuration: info.configuration,
        capabilities: info.capabilities,
        features: Object.fromEntries(info.capabilities.map((c) => [c, 1])),
        driver_filename: `berth:${info.type}`,
        supported_image_formats: info.formats,
      };
      const existing = [...db.all('SM')].find(([, r]) => r.type === info.type)?.[0];
      if (!existing) db.create('SM', { ...fields, other_config: {} });
      else if (
        Object.entries(fields).some(
          ([k, v]) => JSON.stringify(db.get('SM', existing)?.[k]) !== JSON.stringify(v),
        )
      )
        db.update('SM', existing, fields);
    }
  });
}

export interface StartupReport {
  /** Human-readable lines: what was repaired, introduced, forgotten. */
  fixed: string[];
  /** SRs that could not be attached (their PBDs are now unplugged). */
  failed: { sr: string; error: string }[];
}

/**
 * Reconciles storage with the database after a (possibly unclean) stop: finishes or rolls back
 * interrupted operations, repairs each SR, re-scans it, and garbage-collects.
 */
export async function startupScan(svc: Services): Promise<StartupReport> {
  const { db } = svc;
  const agent = svc.hosts.local();
  const report: StartupReport = { fixed: [], failed: [] };
  const attached: { sr: string; cfg: SrConfig }[] = [];
  for (const [pbd, prow] of db.all('PBD')) {
    if (prow.host !== svc.hostRef() || !prow.currently_attached) continue;
    const sr = String(prow.SR);
    const srow = db.get('SR', sr);
    if (!srow) continue;
    const cfg = srAttachConfig(db, srow, pbd);
    try {
      const { fixed } = await agent.sr_attach(cfg);
      report.fixed.push(...fixed.map((f) => `SR ${cfg.uuid}: ${f}`));
      attached.push({ sr, cfg });
    } catch (e) {
      db.update('PBD', pbd, { currently_attached: false });
      report.failed.push({ sr: cfg.uuid, error: String((e as Error).message ?? e) });
    }
  }
  const journal = svc.storageIntents;
  for (const intent of journal?.pending() ?? []) {
    const target = attached.find((a) => a.cfg.uuid === intent.srUuid);
    if (!target) continue; // SR not here: keep the intent for when it comes back
    const vdi = db.refByUuid('VDI', intent.vdiUuid);
    if (intent.kind === 'create' && !vdi) {
      await agent.blockdev_remove(target.cfg, intent.location);
      report.fixed.push(`SR ${intent.srUuid}: removed volume ${intent.location} of an unfinished create`);
    } else if (intent.kind === 'destroy') {
      await agent.blockdev_remove(target.cfg, intent.location);
      if (vdi) {
        db.transaction(() => {
          for (const b of [...(db.get('VDI', vdi)!.VBDs as string[])]) db.destroy('VBD', b);
          db.destroy('VDI', vdi);
        });
      }
      report.fixed.push(`SR ${intent.srUuid}: finished destroying VDI ${intent.vdiUuid}`);
    }
    journal!.drop(intent);
  }
  for (const { sr, cfg } of attached) {
    // Operations in flight when we stopped are over: their bookkeeping goes.
    for (const v of db.get('SR', sr)!.VDIs as string[]) {
      if (Object.keys(db.get('VDI', v)!.current_operations as object).length)
        db.update('VDI', v, { current_operations: {} });
    }
    const ch = await scanSr(svc, sr);
    for (const l of ch.introduced) report.fixed.push(`SR ${cfg.uuid}: introduced VDI for ${l}`);
    for (const u of ch.forgotten) report.fixed.push(`SR ${cfg.uuid}: forgot VDI ${u} (volume gone)`);
    for (const u of ch.missing) report.fixed.push(`SR ${cfg.uuid}: VDI ${u} is missing`);
    for (const g of await scheduleGc(svc, sr)) report.fixed.push(`SR ${cfg.uuid}: ${g}`);
  }
  if (report.fixed.length || report.failed.length) log.info('storage start-up scan', { ...report });
  return report;
}

export interface StorageOptions {
  /** The manager's data directory (intents under DATA/storage/intents, default SR under DATA/sr/default). */
  dataDir: string;
  /** Path of the default `file` SR; false: do not create one. (SR roots are the agent's: --sr-root.) */
  defaultSrPath?: string | false;
  /** How long Manager.open waits for the local agent before serving with storage not started yet. */
  waitMs?: number;
}

/** What needs no host: the manager's intent journal and VM.provision's disk hook. */
export function prepareStorage(svc: Services, opts: StorageOptions): void {
  svc.storageIntents = new StorageIntents(join(opts.dataDir, 'storage', 'intents'));
  svc.provisionDisks = provisionDisks;
}

/**
 * Storage start, through the local host's agent (connected): its drivers as SM objects, the
 * start-up scan, and the default SR.
 */
export async function openStorage(svc: Services, opts: StorageOptions): Promise<StartupReport> {
  const drivers = await svc.hosts.local().storage_drivers();
  registerSmObjects(svc, drivers);
  svc.storageDrivers = drivers;
  const report = await startupScan(svc);
  if (opts.defaultSrPath !== false)
    await ensureDefaultSr(svc, opts.defaultSrPath ?? join(opts.dataDir, 'sr', 'default'));
  return report;
}

/**
 * Runs `start` once `agent` is connected: now if it is, else at its next connection; a failed
 * start is tried again at the connection after. Resolves with its result, or undefined when it
 * failed or did not run within `waitMs` (the manager then serves meanwhile; it runs later).
 */
export function startWhenConnected<T>(
  agent: HostAgent,
  start: () => Promise<T>,
  waitMs: number,
): Promise<T | undefined> {
  let done = false;
  let running = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (!done) log.warn('the host agent is not connected: storage starts when it is');
      resolve(undefined);
    }, waitMs);
    const attempt = () => {
      if (done || running || !agent.connected) return;
      running = true;
      start().then(
        (r) => {
          done = true;
          clearTimeout(timer);
          resolve(r);
        },
        (e) => {
          running = false;
          log.warn('storage start failed; tried again at the next agent connection', { error: String(e) });
          clearTimeout(timer);
          resolve(undefined);
        },
      );
    };
    agent.onReconnect(attempt);
    attempt();
  });
}
