// GET /export_raw_vdi and PUT /import_raw_vdi (xapi's export_raw_vdi.ml / import_raw_vdi.ml):
// one VDI's bytes as `format=raw|vhd|qcow2|tar` (default raw, case-insensitive), read or written
// over the agent's NBD export of the volume (vdi-nbd.ts) with the disk-format writers and
// readers of src/shared/disk-formats/ and the XVA chunk code of src/shared/xva/ (tar).
//
//   mountRawVdiHandlers(frontend, svc)   // from the Manager
//
// Export: `vdi=` (ref or uuid), `base=` (ref or uuid: differential, vhd and qcow2 only, see
// raw-vdi-extents.ts); Content-Length for raw, vhd and qcow2; a disk a running VM holds is read
// live (xapi attaches it read-only to dom0). Import: into `vdi=` (zeros where the image has no
// data), or into a new VDI "Imported VDI" in `sr_id`/`sr_uuid` (raw with Content-Length as xapi;
// vhd and qcow2 too, sized by their header); `chunked` raw uploads; task result the VDI ref.
// docs/data-plane.md "Raw VDI export and import" has the rules and errors.
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import {
  contentType,
  type DiskFormat,
  type DiskPiece,
  type Extent,
  exportLength,
  parseDiskFormat,
  readChunked,
  readDisk,
  subtractExtents,
  writeDisk,
  writeRawTar,
} from '../../shared/disk-formats/index.js';
import { ReadPool } from '../../shared/disk-formats/recycle.js';
import { NbdError, type NbdClient } from '../../shared/nbd/index.js';
import { readVdiTar } from '../../shared/xva/index.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import {
  badRequest,
  type DataContext,
  mountDataHandler,
  notFound,
  optionalRefOrUuid,
  refOrUuid,
  srOf,
} from '../http/data/index.js';
import type { HttpFrontend } from '../http/server.js';
import { assertHasData } from '../storage/cbt.js';
import { attachedSr, attachedVbds } from '../storage/records.js';
import { hostForSr, storageOf } from '../storage/sr-host.js';
import { createVdi, destroyVdi } from '../storage/vdi-ops.js';
import { deltaExtents, dataExtents } from './raw-vdi-extents.js';
import { openVdiNbd, type OpenVdi, vdiDataHost } from './vdi-nbd.js';

const log = logger('raw-vdi');
/** NBD connections an export reads over (the writers keep 4 reads in flight). */
const READ_CONNECTIONS = 4;
/** Recycled read buffer size: the writers' largest usual read (a 2 MiB VHD block, raw's 2 MiB). */
const READ_SLAB = 2 * 1024 * 1024;

/** xapi's 404 for a format it does not know (the task fails with INTERNAL_ERROR). */
function formatOf(ctx: DataContext): DiskFormat {
  const raw = ctx.query.get('format');
  const f = parseDiskFormat(raw);
  if (!f) throw notFound(new XenApiError('INTERNAL_ERROR', [`Unknown format ${raw}`]));
  return f;
}

const uuidBytes = (uuid: string) => Buffer.from(uuid.replace(/-/g, ''), 'hex');

async function closeAll(opened: (OpenVdi | undefined)[]) {
  for (const o of opened) await o?.close().catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// Export

async function handleExport(ctx: DataContext): Promise<undefined> {
  const { svc } = ctx;
  const { db } = svc;
  const name = ctx.query.get('vdi');
  if (name === undefined)
    throw badRequest(new XenApiError('INTERNAL_ERROR', ['Missing vdi query parameter']));
  const vdi = refOrUuid(db, 'VDI', name);
  const base = optionalRefOrUuid(db, ctx.query, 'base', 'VDI');
  const host = vdiDataHost(svc, vdi);
  if (host !== svc.hostRef()) return ctx.redirect(host);
  const format = formatOf(ctx);
  const row = db.mustGet('VDI', vdi);
  assertHasData(vdi, row);
  if (base !== undefined) {
    assertHasData(base, db.mustGet('VDI', base));
    if (vdiDataHost(svc, base) !== host)
      throw new XenApiError('INTERNAL_ERROR', ['the base VDI is not served by the host serving the VDI']);
  }
  await ctx.lockVdi(vdi, 'copy');
  if (base !== undefined && base !== vdi) await ctx.lockVdi(base, 'copy');

  const opened: (OpenVdi | undefined)[] = [];
  ctx.onEnd(() => closeAll(opened));
  const src = await openVdiNbd(svc, vdi, { write: false, connections: READ_CONNECTIONS });
  opened.push(src);
  const c = src.client;
  const size = c.size;
  // xapi's differential export is a vhd-tool/qcow-tool feature: raw and tar are always whole.
  const delta = base !== undefined && (format === 'vhd' || format === 'qcow2');
  let extents: Extent[];
  if (delta) {
    const b = await openVdiNbd(svc, base, { write: false });
    opened.push(b);
    const d = await deltaExtents(svc, vdi, base, c, b.client, ctx.signal);
    log.info('differential export', { vdi: row.uuid, method: d.method, ranges: d.extents.length });
    extents = d.extents;
    await b.close();
    opened[1] = undefined;
  } else extents = await dataExtents(c);

  // Reads go into recycled buffers, handed back once the response has written them (recycle.ts).
  const read = new ReadPool(READ_SLAB).reader((offset, target) => src.readInto(offset, target));
  const vhdOpts = {
    vdi,
    parent:
      delta && format === 'vhd'
        ? {
            uniqueId: uuidBytes(String(db.mustGet('VDI', base!).uuid)),
            name: `${db.mustGet('VDI', base!).uuid}.vhd`,
          }
        : undefined,
  };
  const length = exportLength(format, { virtualSize: size, extents }, vhdOpts); // VDI_TOO_LARGE here
  const body =
    format === 'tar'
      ? writeRawTar({ virtualSize: size, extents, read }, 'vdi', {
          signal: ctx.signal,
          onProgress: (done, total) => ctx.progress(done / total),
        })
      : writeDisk(format, { virtualSize: size, extents, read }, vhdOpts);
  ctx.start({
    'content-type': contentType(format),
    'content-disposition': `attachment; filename="${row.uuid}.${format}"`,
    ...(length === undefined ? {} : { 'content-length': length }),
  });
  await ctx.send(body, length);
  ctx.progress(1);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Import

/** Writes pieces with a few NBD writes in flight; returns the ranges written. */
class PieceWriter {
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  readonly written: Extent[] = [];
  constructor(
    private readonly c: NbdClient,
    private readonly size: number,
    private readonly vdi: string,
    private readonly window = 8,
  ) {}

  async add(p: DiskPiece): Promise<void> {
    if (p.offset + p.data.length > this.size)
      throw new XenApiError('VDI_TOO_LARGE', [this.vdi, String(this.size)]);
    for (let o = 0; o < p.data.length; o += this.c.maxBlock) {
      while (this.inflight.size >= this.window) await Promise.race(this.inflight);
      if (this.failure) throw this.failure;
      const w = this.c
        .write(p.offset + o, p.data.subarray(o, Math.min(p.data.length, o + this.c.maxBlock)))
        .catch((e) => {
          this.failure ??= e;
        });
      const tracked = w.finally(() => this.inflight.delete(tracked));
      this.inflight.add(tracked);
    }
    this.written.push({ offset: p.offset, length: p.data.length });
  }

  /** Waits for the writes, zeroes every range no piece covered, flushes. */
  async finish(signal: AbortSignal): Promise<void> {
    await Promise.all(this.inflight);
    if (this.failure) throw this.failure;
    const ZERO_SPAN = 1024 * 1024 * 1024;
    const zeros = Buffer.alloc(1024 * 1024);
    for (const gap of subtractExtents([{ offset: 0, length: this.size }], this.written)) {
      for (let o = gap.offset; o < gap.offset + gap.length; ) {
        signal.throwIfAborted();
        if (this.c.canWriteZeroes) {
          const n = Math.min(ZERO_SPAN, gap.offset + gap.length - o);
          await this.c.writeZeroes(o, n);
          o += n;
        } else {
          const n = Math.min(zeros.length, gap.offset + gap.length - o);
          await this.c.write(o, zeros.subarray(0, n));
          o += n;
        }
      }
    }
    await this.c.flush();
  }
}

/** The request body, counted for the task's progress against Content-Length. */
async function* countedBody(ctx: DataContext, length: number | undefined): AsyncGenerator<Buffer> {
  let got = 0;
  for await (const b of ctx.body()) {
    got += b.length;
    if (length) ctx.progress(Math.min(0.99, got / length));
    yield b;
  }
}

function contentLength(ctx: DataContext): number | undefined {
  const v = ctx.req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** SR_FULL [needed, free] when the SR has less room than `size` (checked before creating). */
async function assertRoom(svc: Services, sr: string, size: number) {
  const stats = await storageOf(svc, sr).sr_stats(attachedSr(svc, sr));
  if (size > stats.free) throw new XenApiError('SR_FULL', [String(size), String(stats.free)]);
}

/** An NBD write that ran out of space is xapi's SR_FULL. */
function importFailure(e: unknown, size: number): unknown {
  if (e instanceof NbdError && e.code === 'ENOSPC') return new XenApiError('SR_FULL', [String(size), '0']);
  return e;
}

interface Target {
  vdi: string;
  size: number;
  /** Created by this request: destroyed again if the import fails. */
  created: boolean;
}

const NEW_VDI_LABEL = 'Imported VDI';

async function newVdi(ctx: DataContext, sr: string, size: number): Promise<Target> {
  await assertRoom(ctx.svc, sr, size);
  const vdi = await createVdi(ctx.svc, {
    SR: sr,
    virtual_size: size,
    name_label: NEW_VDI_LABEL,
    name_description: '',
    type: 'user',
  });
  return { vdi, size: Number(ctx.svc.db.mustGet('VDI', vdi).virtual_size), created: true };
}

const notEnoughInfo = () =>
  badRequest(new XenApiError('INTERNAL_ERROR', ['Not enough info supplied to import']));

async function handleImport(ctx: DataContext): Promise<string | undefined> {
  const { svc } = ctx;
  const { db } = svc;
  const vdi = optionalRefOrUuid(db, ctx.query, 'vdi', 'VDI');
  const sr = vdi !== undefined ? String(db.mustGet('VDI', vdi).SR) : srOf(db, ctx.query);
  if (sr === undefined) throw badRequest(new XenApiError('VDI_MISSING', []));
  const host = vdi !== undefined ? vdiDataHost(svc, vdi) : hostForSr(svc, sr);
  if (host !== svc.hostRef()) return ctx.redirect(host);
  const format = formatOf(ctx);
  const chunked = ctx.query.has('chunked');
  if (chunked && format !== 'raw')
    throw notFound(new XenApiError('INTERNAL_ERROR', ['Cannot handle chunked VHD']));
  const te = ctx.req.headers['transfer-encoding'];
  if (te !== undefined) throw notFound(new XenApiError('INTERNAL_ERROR', [`Cannot handle encoding: ${te}`]));
  const length = contentLength(ctx);
  if (vdi === undefined && (format === 'tar' || (format === 'raw' && (chunked || length === undefined))))
    throw notEnoughInfo();
  if (vdi !== undefined) {
    const row = db.mustGet('VDI', vdi);
    assertHasData(vdi, row);
    if (row.read_only) throw new XenApiError('VDI_READONLY', [vdi]);
    if (attachedVbds(db, vdi).length) throw new XenApiError('VDI_IN_USE', [vdi, 'import']);
  }
  if (ctx.isProbe) return undefined;
  if (vdi !== undefined) await ctx.lockVdi(vdi, 'update');

  let target: Target | undefined =
    vdi !== undefined
      ? { vdi, size: Number(db.mustGet('VDI', vdi).virtual_size), created: false }
      : undefined;
  if (target === undefined && format === 'raw') target = await newVdi(ctx, sr, length!);
  // Uploaders wait for the status line before they send the body (xapi answers 200 first too).
  ctx.start({ 'content-type': 'application/octet-stream' });
  const opened: (OpenVdi | undefined)[] = [];
  try {
    const body = countedBody(ctx, length);
    let pieces: AsyncIterable<DiskPiece> | undefined;
    let tarInto: ((w: PieceWriter) => Promise<unknown>) | undefined;
    if (format === 'tar') {
      const t = target!;
      tarInto = (w) =>
        readVdiTar(
          body,
          { virtualSize: t.size },
          { chunk: ({ offset, data }) => w.add({ offset, data }) },
          {
            signal: ctx.signal,
          },
        );
    } else if (format === 'raw' && chunked) pieces = readChunked(body, target!.size);
    else {
      // A VHD larger than the VDI is accepted when nothing beyond the VDI holds data (qemu-img
      // rounds a VHD's size up to its CHS geometry); data there is VDI_TOO_LARGE (PieceWriter).
      const img = await readDisk(format, body, {
        length,
        vdi: target?.vdi ?? '',
        maxVirtualSize: format === 'vhd' ? undefined : target?.size,
      });
      target ??= await newVdi(ctx, sr, img.virtualSize);
      pieces = img.pieces;
    }
    const t = target!;
    const out = await openVdiNbd(svc, t.vdi, { write: true });
    opened.push(out);
    const w = new PieceWriter(out.client, Math.min(t.size, out.client.size), t.vdi);
    try {
      if (tarInto) await tarInto(w);
      else
        for await (const p of pieces!) {
          ctx.signal.throwIfAborted();
          await w.add(p);
        }
      await w.finish(ctx.signal);
    } catch (e) {
      throw importFailure(e, t.size);
    }
    await closeAll(opened);
    opened.length = 0;
    ctx.progress(1);
    return t.vdi;
  } catch (e) {
    await closeAll(opened);
    if (target?.created)
      await destroyVdi(svc, target.vdi, ctx.task.ref).catch((err) =>
        log.warn('could not remove the VDI of a failed import', { vdi: target!.vdi, error: String(err) }),
      );
    if (!isXenApiError(e)) log.warn('raw VDI import failed', { error: String(e) });
    throw e;
  }
}

/** Mounts /export_raw_vdi and /import_raw_vdi on the front end. */
export function mountRawVdiHandlers(frontend: HttpFrontend, svc: Services): void {
  mountDataHandler(frontend, svc, {
    path: '/export_raw_vdi',
    methods: ['GET'],
    action: 'http/get_export_raw_vdi',
    label: 'VDI.export_raw',
    handle: handleExport,
  });
  mountDataHandler(frontend, svc, {
    path: '/import_raw_vdi',
    methods: ['PUT'],
    action: 'http/put_import_raw_vdi',
    label: 'VDI.import',
    handle: handleImport,
  });
}
