// PUT /import (XVA upload) and PUT /import_metadata (ova.xml only), as xapi's import.ml handler
// and metadata_handler:
//   mountImportHandlers(manager.frontend, svc)
// /import?sr_id=|sr_uuid=&restore=&force=: the upload (plain tar, gzip or zstd: detected from its
// first bytes) is read by readXva (src/shared/xva/). When ova.xml has been read, the dataplane
// plans the records (parseOvaXml → ovaObjectsToPlan), the space is checked (VDI_TOO_LARGE,
// SR_FULL), applyImportPlan creates the volumes and every record, the task gets
// other_config:object_creation=complete (xapi's signal to clients), and the disks' chunks are
// verified and written into the new volumes through the agent's NBD export of each (only data
// chunks: new volumes read as zeros). Any failure or task.cancel: the NBD exports are closed and
// every volume and record made is removed again (unless force, as xapi). Task result: the new VM
// refs (an XML-RPC array).
// /import_metadata?restore=&force=&dry_run=&vdi:<src>=<dst>: the same with mode 'metadata'
// (existing disks, vdi remapping); dry_run plans (so every refusal is raised) and creates nothing.
import { XenApiError } from '../../../shared/errors.js';
import { logger } from '../../../shared/log.js';
import { readXva } from '../../../shared/xva/index.js';
import type { Services } from '../../api/context.js';
import {
  applyImportPlan,
  assertCompatible,
  type ImportPlan,
  importQuery,
  importTargetSr,
  ovaObjectsToPlan,
  type PlannedDisk,
  parseOvaXml,
} from '../../dataplane/index.js';
import { attachedSr } from '../../storage/records.js';
import { storageOf } from '../../storage/sr-host.js';
import type { HttpFrontend } from '../server.js';
import { badRequest } from './errors.js';
import { type DataContext, mountDataHandler } from './handler.js';
import { hostForSrData } from './placement.js';
import { srOf } from './resolve.js';
import { VolumeWriters } from './volume-writer.js';

const log = logger('import');

/**
 * Largest virtual size of an imported VDI: qcow2's practical limit for Berth's file SRs with
 * 64 KiB clusters and QEMU's 32 MiB L1 table cap (xapi asks the SM backend; VHD's is 2 TiB).
 */
export const MAX_IMPORT_VDI_SIZE = 64 * 2 ** 40;

export function mountImportHandlers(frontend: HttpFrontend, svc: Services): void {
  mountDataHandler(frontend, svc, {
    path: '/import',
    methods: ['PUT'],
    action: 'http/put_import',
    label: 'VM.import',
    handle: handleImport,
  });
  mountDataHandler(frontend, svc, {
    path: '/import_metadata',
    methods: ['PUT'],
    action: 'http/put_import_metadata',
    label: 'VM.metadata_import',
    handle: handleImportMetadata,
  });
}

/** The query as a plain record (the query's first value of each key, then cookies). */
function queryRecord(ctx: DataContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of ctx.query.cookies) out[k] = v;
  for (const k of new Set(ctx.query.query.keys())) out[k] = ctx.query.query.get(k) ?? '';
  return out;
}

/** VDI_TOO_LARGE for a disk above the limit; SR_FULL [requested; free] when an SR cannot hold its new volumes. */
export async function checkSpace(svc: Services, plan: ImportPlan): Promise<void> {
  for (const v of plan.volumes)
    if (v.virtualSize > MAX_IMPORT_VDI_SIZE)
      throw new XenApiError('VDI_TOO_LARGE', [v.ref, String(MAX_IMPORT_VDI_SIZE)]);
  const perSr = new Map<string, number>();
  for (const v of plan.volumes) perSr.set(v.sr, (perSr.get(v.sr) ?? 0) + v.virtualSize);
  for (const [sr, requested] of perSr) {
    const stats = await storageOf(svc, sr).sr_stats(attachedSr(svc, sr));
    if (requested > stats.free) throw new XenApiError('SR_FULL', [String(requested), String(stats.free)]);
  }
}

/** Marks the task as xapi does once the import's objects exist (clients remap networks then). */
function objectsCreated(svc: Services, task: string) {
  const row = svc.db.get('task', task);
  if (!row) return;
  const other = (row.other_config ?? {}) as Record<string, string>;
  svc.db.update('task', task, { other_config: { ...other, object_creation: 'complete' } });
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a rejection nobody awaits is not an unhandled one
  return { promise, resolve, reject };
}

/**
 * The 200 goes out before the upload is read when the caller named a task (xe waits for the
 * status line before it sends; xapi always answers 200 first and reports through the task). A
 * request without task_id has no task to read afterwards: its answer waits for the outcome (200,
 * or xapi's 500 with the error).
 */
function startEarly(ctx: DataContext) {
  if (ctx.query.credential('task_id') !== undefined)
    ctx.start({ 'content-type': 'application/octet-stream' });
}

/** The import target SR: sr_id / sr_uuid, else the pool's default; ISO SRs are refused (400). */
function targetSr(ctx: DataContext): string {
  const { db } = ctx.svc;
  const sr = importTargetSr(db, ctx.svc.poolRef(), srOf(db, ctx.query));
  if (db.get('SR', sr)?.content_type === 'iso')
    throw badRequest(new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]));
  return sr;
}

async function handleImport(ctx: DataContext) {
  const { svc } = ctx;
  const { db } = svc;
  const q = importQuery(queryRecord(ctx));
  const sr = targetSr(ctx);
  const host = hostForSrData(svc, sr);
  if (host !== svc.hostRef()) return ctx.redirect(host);
  if (ctx.isProbe) {
    ctx.req.resume();
    return undefined;
  }
  startEarly(ctx);
  log.info('VM.import', { sr, restore: q.restore, force: q.force });
  const writers = new VolumeWriters(svc);
  const t0 = Date.now();
  let tMeta = 0;
  let tRead = 0;
  const data = deferred<void>();
  let applying: Promise<string[]> | undefined;
  // Progress: bytes of the disks accounted for over their total size.
  let total = 0;
  const reached = new Map<string, number>();
  const progressed = (ref: string, end: number) => {
    reached.set(ref, end);
    let sum = 0;
    for (const v of reached.values()) sum += v;
    if (total > 0) ctx.progress(Math.min(0.99, sum / total));
  };
  try {
    const res = await readXva(
      ctx.body(),
      {
        metadata: async ({ xml }) => {
          const doc = parseOvaXml(db.model, xml);
          assertCompatible(doc);
          const plan = ovaObjectsToPlan(db, doc, {
            mode: 'full',
            sr,
            restore: q.restore,
            force: q.force,
            task: ctx.task.ref,
          });
          await checkSpace(svc, plan);
          const ready = deferred<PlannedDisk[]>();
          applying = applyImportPlan(svc, plan, {
            writeDisks: async (disks) => {
              ready.resolve(disks);
              try {
                await data.promise;
              } catch (e) {
                await writers.close(false).catch(() => undefined);
                throw e;
              }
              await writers.close(true);
            },
          });
          applying.catch(() => undefined);
          const noDisks = applying.then(() => [] as PlannedDisk[]);
          noDisks.catch(() => undefined);
          const disks = await Promise.race([ready.promise, noDisks]);
          objectsCreated(svc, ctx.task.ref);
          for (const d of disks) await writers.add(d.id, d.ref);
          total = disks.reduce((s, d) => s + d.virtualSize, 0);
          tMeta = Date.now() - t0;
          return disks.map((d) => ({ ref: d.id, virtualSize: d.virtualSize }));
        },
        chunk: async ({ ref, offset, data: bytes, hold }) => {
          await writers.write(ref, offset, bytes, hold?.());
          progressed(ref, offset + bytes.length);
        },
        diskDone: async (ref) => {
          await writers.finish(ref);
        },
      },
      { force: q.force, signal: ctx.signal, reuseBuffers: true },
    );
    if (res.checksumFailures.length)
      log.warn('import: checksums failed, ignored since force was given', {
        members: res.checksumFailures.slice(0, 10),
      });
    ctx.task.checkCancelled();
  } catch (e) {
    log.info('import failed', { error: String(e) });
    const err = ctx.task.signal.aborted ? new XenApiError('TASK_CANCELLED', [ctx.task.ref]) : e;
    data.reject(err);
    if (applying) await applying.catch(() => undefined);
    else await writers.close(false).catch(() => undefined);
    log.info('import undone');
    throw err;
  }
  tRead = Date.now() - t0;
  data.resolve();
  // No ova.xml VM at all (readXva ends without metadata only by failing): applying is set.
  const vms = await applying!;
  log.info('VM.import done', {
    vms,
    bytes: writers.written,
    ms: { objects: tMeta, data: tRead, total: Date.now() - t0 },
  });
  return vms;
}

async function handleImportMetadata(ctx: DataContext) {
  const { svc } = ctx;
  const { db } = svc;
  const q = importQuery(queryRecord(ctx));
  if (ctx.isProbe) {
    ctx.req.resume();
    return undefined;
  }
  startEarly(ctx);
  let result: string[] = [];
  await readXva(
    ctx.body(),
    {
      metadata: async ({ xml }) => {
        const doc = parseOvaXml(db.model, xml);
        assertCompatible(doc);
        const plan = ovaObjectsToPlan(db, doc, {
          mode: 'metadata',
          restore: q.restore,
          force: q.force,
          vdiMap: q.vdiMap,
          task: ctx.task.ref,
        });
        // A dry run only checks: no VM exists to name (xe prints xxxxxxxx-… for it).
        result = q.dryRun ? [] : await applyImportPlan(svc, plan);
        return [];
      },
      chunk: () => {
        throw new XenApiError('IMPORT_ERROR', ['a metadata import carries no disk data']);
      },
    },
    { force: q.force, signal: ctx.signal },
  );
  return result;
}
