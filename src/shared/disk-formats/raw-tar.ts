// `format=tar` of /export_raw_vdi: the XVA disk encoding of one VDI under the prefix `vdi`
// (xapi's Stream_vdi.send_all with Xapi_globs.vdi_tar_export_dir, then the tar end blocks):
// members `vdi/%08d` of 1 MiB (the last one shorter), each followed by `vdi/%08d.xxhash` holding
// the 16 uppercase hex digits of its XXH64; chunks that are all zeros are omitted (their counter
// is skipped) except the first and the last, which are always sent.
// NOTE for the lead: this duplicates the chunk writer of the `xva` slice (src/shared/xva/); when
// both are merged, `writeRawTar` should become a call to that writer with prefix `vdi` plus the
// end blocks. Import of format=tar is the XVA disk reader's job (not here).
import xxhash from 'xxhash-wasm';
import { touchedBlocks } from './extents.js';
import { type DiskSource, isZero, MiB, readAhead } from './stream.js';

export const TAR_CHUNK = MiB;
export const TAR_PREFIX = 'vdi';

/** A ustar header for a regular file (mode 0644, mtime 0, owner 0:0, as xapi's chunk members). */
export function tarHeader(name: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  if (Buffer.byteLength(name) > 100) throw new RangeError(`tar member name too long: ${name}`);
  b.write(name, 0, 'utf8');
  const octal = (v: number, at: number, len: number) =>
    b.write(v.toString(8).padStart(len - 1, '0') + '\0', at, 'latin1');
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  b.fill(' ', 148, 156); // checksum field counts as spaces while summing
  b.write('0', 156, 'latin1');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

const padding = (size: number) => Buffer.alloc((512 - (size % 512)) % 512);

/** The single-VDI tar of `source` (pull-based stream of Buffers). */
export async function* writeRawTar(source: DiskSource, prefix = TAR_PREFIX): AsyncGenerator<Buffer> {
  const { h64Raw } = await xxhash();
  const size = source.virtualSize;
  const last = Math.max(0, Math.ceil(size / TAR_CHUNK) - 1);
  const chunks = [...new Set([0, ...touchedBlocks(source.extents, TAR_CHUNK, size), last])].sort(
    (a, b) => a - b,
  );
  const ranges = chunks.map((c) => ({
    offset: c * TAR_CHUNK,
    length: Math.min(TAR_CHUNK, size - c * TAR_CHUNK),
  }));
  for await (const { range, data } of readAhead(source, ranges)) {
    const n = range.offset / TAR_CHUNK;
    if (n !== 0 && n !== last && isZero(data)) continue;
    const name = `${prefix}/${String(n).padStart(8, '0')}`;
    const sum = Buffer.from(h64Raw(data).toString(16).toUpperCase().padStart(16, '0'), 'latin1');
    yield tarHeader(name, data.length);
    yield data;
    yield padding(data.length);
    yield tarHeader(`${name}.xxhash`, sum.length);
    yield sum;
    yield padding(sum.length);
  }
  yield Buffer.alloc(1024); // end of archive
}
