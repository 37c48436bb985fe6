// Storage at manager start: the SM objects, the in-process storage agent, the intent journal,
// and the start-up scan that reconciles every plugged SR with the database.
import { join } from 'node:path';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Row } from '../db/database.js';
import { ensureDefaultSr } from './default-sr.js';
import { StorageIntents, intentsOf } from './intents.js';
import { srAttachConfig, type srConfig } from './records.js';
import { scanSr } from './sr-ops.js';
import { InProcessStorageAgent, type StorageAgent, storageOf } from './storage-agent.js';
import { scheduleGc } from './vdi-ops.js';
import { provisionDisks } from './vm-disks.js';

const log = logger('storage');

/** One SM object per driver type, kept in step with the drivers (idempotent). */
export function registerSmObjects(svc: Services): void {
  const { db } = svc;
  const infos = storageOf(svc).drivers();
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
  const agent = storageOf(svc);
  const report: StartupReport = { fixed: [], failed: [] };
  const attached: { sr: string; cfg: ReturnType<typeof srConfig> }[] = [];
  for (const [pbd, prow] of db.all('PBD')) {
    if (prow.host !== svc.hostRef() || !prow.currently_attached) continue;
    const sr = String(prow.SR);
    const srow = db.get('SR', sr);
    if (!srow) continue;
    const cfg = srAttachConfig(db, srow, pbd);
    try {
      const { fixed } = await agent.srAttach(cfg);
      report.fixed.push(...fixed.map((f) => `SR ${cfg.uuid}: ${f}`));
      attached.push({ sr, cfg });
    } catch (e) {
      db.update('PBD', pbd, { currently_attached: false });
      report.failed.push({ sr: cfg.uuid, error: String((e as Error).message ?? e) });
    }
  }
  const journal = intentsOf(svc);
  for (const intent of journal?.pending() ?? []) {
    const target = attached.find((a) => a.cfg.uuid === intent.srUuid);
    if (!target) continue; // SR not here: keep the intent for when it comes back
    const vdi = db.refByUuid('VDI', intent.vdiUuid);
    if (intent.kind === 'create' && !vdi) {
      await agent.vdiDestroy(target.cfg, intent.location);
      report.fixed.push(`SR ${intent.srUuid}: removed volume ${intent.location} of an unfinished create`);
    } else if (intent.kind === 'destroy') {
      await agent.vdiDestroy(target.cfg, intent.location);
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
  /** The manager's data directory (intents under DATA/storage, default SR under DATA/sr/default). */
  dataDir: string;
  /** Roots SR paths must lie under (default: DATA/sr). */
  allowedRoots?: string[];
  /** A different storage agent (tests, remote hosts). */
  agent?: StorageAgent;
  /** Path of the default `file` SR; false: do not create one. */
  defaultSrPath?: string | false;
}

/**
 * Everything storage needs at manager start, in order; the lead calls this once from
 * Manager.open after the dispatcher is attached:
 *   svc.ext.storage (StorageAgent), svc.ext.storageIntents, svc.ext.provisionDisks,
 *   SM objects, the start-up scan, and the default SR.
 */
export async function openStorage(svc: Services, opts: StorageOptions): Promise<StartupReport> {
  const roots = opts.allowedRoots ?? [join(opts.dataDir, 'sr')];
  svc.ext.storage =
    opts.agent ??
    new InProcessStorageAgent({
      allowedRoots: roots,
      stateDir: join(opts.dataDir, 'storage'),
      // Suspend images pass through DATA/suspend on their way into and out of VDIs.
      fileRoots: [join(opts.dataDir, 'suspend')],
    });
  svc.ext.storageIntents = new StorageIntents(join(opts.dataDir, 'storage', 'intents'));
  svc.ext.provisionDisks = provisionDisks;
  registerSmObjects(svc);
  const report = await startupScan(svc);
  if (opts.defaultSrPath !== false)
    await ensureDefaultSr(svc, opts.defaultSrPath ?? join(opts.dataDir, 'sr', 'default'));
  return report;
}
