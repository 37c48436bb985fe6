// Disk image formats of /export_raw_vdi and /import_raw_vdi (`format=raw|vhd|qcow2|tar`): pure,
// streaming code with no manager or agent imports and no temporary files.
//
// Export (wave 2: the handler opens an NBD export of the VDI, asks block status for `extents`):
//   const out = writeDisk('vhd', { virtualSize, extents, read: (o, n) => nbd.pread(o, n) }, { vdi });
//   res.setHeader('content-type', contentType('vhd'));
//   res.setHeader('content-disposition', `attachment; filename="${uuid}.vhd"`);
//   const length = exportLength('vhd', source);    // known in advance for raw, vhd and qcow2
//   await pipeline(Readable.from(out), res);        // pull-based: backpressure from the socket
// Differential (`base=`): `extents` = the changed extents (changedExtents / extentsFromBitmap of a
// CBT bitmap); for vhd also pass { parent: { uniqueId: <base uuid bytes>, name: '<base uuid>.vhd' } }
// to get a differencing VHD (xapi's behaviour); qcow2 carries only those clusters, no backing file.
// VDI_TOO_LARGE (vhd above 2040 GiB) is thrown synchronously by planVhd/exportLength; check first.
//
// Import (wave 2: the handler passes the request body and Content-Length):
//   const img = await readDisk('vhd', req, { length, vdi });  // validates headers, VDI_TOO_LARGE
//   if (img.virtualSize > vdi.virtual_size) ...               // caller's check / VDI.create size
//   for await (const { offset, data } of img.pieces) await nbd.pwrite(offset, data);
// `pieces` holds only data: the target must read as zeros elsewhere (a fresh VDI). An error thrown
// by `pieces` (bad trailing footer, truncated stream) means the import failed: discard the VDI.
// Errors are XenApiErrors: IMPORT_ERROR [msg], IMPORT_ERROR_PREMATURE_EOF, VDI_TOO_LARGE.
// format=tar import is the XVA disk reader's (src/shared/xva/); readDisk refuses it.
// `chunked` raw uploads (xapi's vhd-tool Chunked protocol): readChunked(body, virtualSize).
import { XenApiError } from '../errors.js';
import { planQcow2, writeQcow2 } from './qcow2-writer.js';
import { readQcow2 } from './qcow2-reader.js';
import { readRaw, writeRaw } from './raw.js';
import { writeRawTar } from './raw-tar.js';
import type { DiskPiece, DiskSource } from './stream.js';
import { planVhd, type VhdWriteOptions, writeVhd } from './vhd-writer.js';
import { readVhd } from './vhd-reader.js';

export type DiskFormat = 'raw' | 'vhd' | 'qcow2' | 'tar';

export {
  changedExtents,
  type Extent,
  extentsFromBitmap,
  normalizeExtents,
  subtractExtents,
  unionExtents,
} from './extents.js';
export type { DiskPiece, DiskSource } from './stream.js';
export { MAX_VHD_SIZE } from './vhd-layout.js';
export { readChunked } from './chunked.js';
export { writeRawTar } from './raw-tar.js';
export type { VhdParent, VhdWriteOptions } from './vhd-writer.js';

/** xapi's Importexport.Format.of_string: case-insensitive; undefined for an unknown format. */
export function parseDiskFormat(s: string | undefined): DiskFormat | undefined {
  const f = (s ?? 'raw').toLowerCase();
  return f === 'raw' || f === 'vhd' || f === 'qcow2' || f === 'tar' ? f : undefined;
}

/** xapi's Importexport.Format.content_type. */
export const contentType = (f: DiskFormat) =>
  ({
    raw: 'application/octet-stream',
    vhd: 'application/vhd',
    tar: 'application/x-tar',
    qcow2: 'application/x-qemu-disk',
  })[f];

/** The exported image as a pull-based stream of Buffers. */
export function writeDisk(
  format: DiskFormat,
  source: DiskSource,
  opts: VhdWriteOptions = {},
): AsyncGenerator<Buffer> {
  switch (format) {
    case 'raw':
      return writeRaw(source);
    case 'vhd':
      planVhd(source, opts); // throws VDI_TOO_LARGE before the caller sends a 200
      return writeVhd(source, opts);
    case 'qcow2':
      return writeQcow2(source);
    case 'tar':
      return writeRawTar(source);
  }
}

/** Bytes `writeDisk` will emit, when known in advance (not for tar, which omits zero chunks). */
export function exportLength(
  format: DiskFormat,
  source: Pick<DiskSource, 'virtualSize' | 'extents'>,
  opts: VhdWriteOptions = {},
): number | undefined {
  if (format === 'raw') return source.virtualSize;
  if (format === 'vhd') return planVhd(source, opts).size;
  if (format === 'qcow2') return planQcow2(source).fileSize;
  return undefined;
}

export interface ImportedImage {
  virtualSize: number;
  pieces: AsyncGenerator<DiskPiece>;
}

export interface ReadDiskOptions {
  /** The body's Content-Length (needed for raw and fixed VHD). */
  length?: number;
  maxVirtualSize?: number;
  vdi?: string;
}

/** Validates the image's header structures and returns its size and data stream. */
export async function readDisk(
  format: DiskFormat,
  body: AsyncIterable<Buffer | Uint8Array>,
  opts: ReadDiskOptions = {},
): Promise<ImportedImage> {
  switch (format) {
    case 'raw': {
      const refuse = async (e: XenApiError) => {
        await body[Symbol.asyncIterator]().return?.(); // release the body (destroys a Readable)
        throw e;
      };
      if (opts.length === undefined)
        return refuse(new XenApiError('IMPORT_ERROR', ['a raw import needs a Content-Length']));
      if (opts.maxVirtualSize !== undefined && opts.length > opts.maxVirtualSize)
        return refuse(new XenApiError('VDI_TOO_LARGE', [opts.vdi ?? '', String(opts.maxVirtualSize)]));
      return { virtualSize: opts.length, pieces: readRaw(body, opts.length) };
    }
    case 'vhd':
      return readVhd(body, opts);
    case 'qcow2':
      return readQcow2(body, opts);
    case 'tar':
      throw new XenApiError('IMPORT_ERROR', ['format=tar is read by the XVA disk reader']);
  }
}
