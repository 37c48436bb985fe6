// `format=tar` of /export_raw_vdi: the XVA disk encoding of one VDI under the prefix `vdi`
// (xapi's Stream_vdi.send_all with Xapi_globs.vdi_tar_export_dir, then the tar end blocks):
// members `vdi/%08d` of 1 MiB (the last one shorter), each followed by `vdi/%08d.xxhash`; zero
// chunks omitted except the first and the last. A thin wrapper over the XVA writer
// (src/shared/xva/writer.ts), which owns the chunk encoding. Import: the XVA reader's readVdiTar.
import { chunksFromReader, xvaTarStream } from '../xva/index.js';
import { normalizeExtents } from './extents.js';
import { type DiskSource, MiB } from './stream.js';

export const TAR_CHUNK = MiB;
export const TAR_PREFIX = 'vdi';

/** The single-VDI tar of `source` (pull-based stream of Buffers). */
export function writeRawTar(
  source: DiskSource,
  prefix = TAR_PREFIX,
  opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): AsyncGenerator<Buffer> {
  const extents = normalizeExtents(source.extents, source.virtualSize);
  const chunks = chunksFromReader((o, n) => source.read(o, n), source.virtualSize, { extents });
  return xvaTarStream(null, [{ ref: prefix, virtualSize: source.virtualSize, chunks }], opts);
}
