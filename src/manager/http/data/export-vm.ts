// GET /export (a VM, template or snapshot as an XVA) and GET /export_metadata (ova.xml alone in a
// tar), as xapi's Export.handler / Export.metadata_handler:
//
//   mountExportHandlers(manager.frontend, svc)
//
// /export?ref=|uuid=&use_compression=false|true|gzip|zstd&preserve_power_state=true|false
//   → 302 to the member serving the VM's disks when that is not this host (NBD sockets are
//     local); the VM locked with operation `export` (a running VM: VM_BAD_POWER_STATE, export
//     its snapshot instead); ova.xml (vmToOvaObjects) then each disk read over NBD (only the
//     extents holding data; zero chunks omitted), compressed as asked, streamed with
//     backpressure; task progress = disk bytes accounted / total virtual size. task.cancel or a
//     client that goes away stops the stream, closes the NBD exports and releases the VM.
// /export_metadata?ref=|uuid=|all=true&export_snapshots&include_vhd_parents&excluded_device_types
//   → each VM locked with `metadata_export`; a tar holding ova.xml only, with Content-Length.
import { Readable } from 'node:stream';
import {
  compressionOfParam,
  compressStream,
  xvaTarStream,
  type XvaDiskSource,
} from '../../../shared/xva/index.js';
import type { Services } from '../../api/context.js';
import {
  allMetadataVms,
  metadataExportQuery,
  ovaXml,
  type Query,
  vmToOvaObjects,
} from '../../dataplane/index.js';
import type { HttpFrontend } from '../server.js';
import { type DataContext, mountDataHandler } from './handler.js';
import { hostForVmData } from './placement.js';
import { objectOf } from './resolve.js';
import { openVdiReader, vdiChunks } from './vdi-nbd.js';

/** Response headers of both handlers (xapi: octet-stream, attachment export.xva). */
const XVA_HEADERS = {
  'content-type': 'application/octet-stream',
  'content-disposition': 'attachment; filename="export.xva"',
};

/** The request's parameters as xapi reads them (`query @ cookie`: the query wins). */
function paramsOf(ctx: DataContext): Query {
  const out: Record<string, string> = {};
  for (const [k, v] of ctx.query.cookies) out[k] = v;
  for (const [k, v] of [...ctx.query.query].reverse()) out[k] = v; // first occurrence wins
  return out;
}

export async function exportVm(ctx: DataContext): Promise<undefined> {
  const { svc } = ctx;
  const { db } = svc;
  const vm = objectOf(db, ctx.query, 'VM');
  const compression = compressionOfParam(ctx.query.get('use_compression'));
  const preservePowerState = ctx.query.strictBool('preserve_power_state', false);
  const host = hostForVmData(svc, vm);
  if (host !== svc.hostRef()) return ctx.redirect(host);
  await ctx.lockVm(vm, 'export');
  const { doc, disks } = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState });
  const xml = ovaXml(db.model, doc);
  // Every export is opened before the 200, so that a disk that cannot be read is a clean 500.
  const sources: XvaDiskSource[] = [];
  for (const d of disks) {
    const reader = await openVdiReader(svc, d.vdi);
    ctx.onEnd(() => reader.close());
    sources.push({ ref: d.id, virtualSize: d.virtualSize, chunks: vdiChunks(reader.client, d.virtualSize) });
  }
  ctx.start(XVA_HEADERS);
  const tar = xvaTarStream(xml, sources, {
    signal: ctx.signal,
    onProgress: (done, total) => ctx.progress(total ? done / total : 1),
  });
  await ctx.send(compressStream(tar, compression, ctx.signal));
  ctx.progress(1);
  return undefined;
}

export async function exportMetadata(ctx: DataContext): Promise<undefined> {
  const { db } = ctx.svc;
  const q = metadataExportQuery(paramsOf(ctx));
  const vms = q.all ? allMetadataVms(db, q.includeDom0) : [objectOf(db, ctx.query, 'VM')];
  for (const vm of vms) await ctx.lockVm(vm, 'metadata_export');
  const { doc } = vmToOvaObjects(db, {
    vms,
    withSnapshotMetadata: q.withSnapshotMetadata,
    preservePowerState: true,
    includeVhdParents: q.includeVhdParents,
    excludedDevices: q.excludedDevices,
  });
  const parts: Buffer[] = [];
  for await (const b of xvaTarStream(ovaXml(db.model, doc), [], { signal: ctx.signal })) parts.push(b);
  const body = Buffer.concat(parts);
  ctx.start({ ...XVA_HEADERS, 'Content-Length': body.length });
  await ctx.send(Readable.from([body]), body.length);
  return undefined;
}

/** Mounts /export and /export_metadata (one line in the Manager). */
export function mountExportHandlers(frontend: HttpFrontend, svc: Services): void {
  mountDataHandler(frontend, svc, {
    path: '/export',
    methods: ['GET'],
    action: 'http/get_export',
    label: 'VM.export',
    handle: exportVm,
  });
  mountDataHandler(frontend, svc, {
    path: '/export_metadata',
    methods: ['GET'],
    action: 'http/get_export_metadata',
    label: 'VM.export_metadata',
    handle: exportMetadata,
  });
}
