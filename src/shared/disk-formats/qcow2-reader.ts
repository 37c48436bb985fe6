// Reads a qcow2 image from a stream front to back and yields its data clusters. A stream cannot
// seek back, so tables must come before what they point to (the L1 table before the L2 tables,
// each L2 table before its data clusters), with a tolerance: a cluster may lie up to LOOK_BEHIND
// bytes before the table naming it (kept in memory). That covers what `qemu-img convert -O qcow2`
// (with or without -c) and `qemu-img create` write, Berth's own writer and xapi's qcow2-to-stdout.
// An image pointing further back (e.g. one a running VM grew, tables allocated after data) is
// refused with IMPORT_ERROR naming the offset: convert it with `qemu-img convert -O qcow2` first.
// Compressed clusters (`qemu-img convert -c`, most cloud images) are inflated (zlib; each bounded
// to one cluster of output, so a decompression bomb fails). Refused: backing files, encryption,
// zstd-compressed clusters, external data files, extended L2 entries, unknown incompatible
// features, the corrupt bit, a size above the limit (VDI_TOO_LARGE).
import { inflateRawSync } from 'node:zlib';
import { isXenApiError } from '../errors.js';
import { type DiskPiece, importError, StreamCursor, vdiTooLarge } from './stream.js';

export interface Qcow2ReadOptions {
  /** Largest virtual size accepted (default 64 TiB). */
  maxVirtualSize?: number;
  /** VDI reference named in VDI_TOO_LARGE. */
  vdi?: string;
  /** How far back a cluster may lie behind its table (default LOOK_BEHIND). */
  lookBehind?: number;
}

export interface Qcow2Image {
  virtualSize: number;
  clusterSize: number;
  version: number;
  pieces: AsyncGenerator<DiskPiece>;
}

const MAGIC = 0x514649fb;
const OFFSET_MASK = 0x00fffffffffffe00n;
const COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;
const INCOMPAT_DIRTY = 1n;
const INCOMPAT_COMPRESSION_TYPE = 8n; // byte 104 names the compression type (0 zlib, 1 zstd)
const DEFAULT_MAX = 64 * 1024 ** 4;
/** QEMU's own bound on the L1 table (QCOW_MAX_L1_SIZE). */
const MAX_L1_BYTES = 32 * 1024 * 1024;
/**
 * How far back in the stream a cluster may lie behind the table that names it. `qemu-img convert
 * -c` writes compressed clusters from several coroutines into a shared partly filled cluster, so a
 * region's compressed data can land before its L2 table (measured: ~400 KiB back with 64 KiB
 * clusters); 64 MiB covers its 8 in-flight requests with a wide margin. The memory is held as
 * references to the stream's buffers.
 */
const LOOK_BEHIND = 64 * 1024 * 1024;
/** Largest piece yielded: consecutive clusters are read and handed over together. */
const MAX_PIECE = 2 * 1024 * 1024;

/** What lies at a host offset we still have to reach: an L2 table or a data cluster. */
interface Pending {
  host: number;
  /** L1 index for an L2 table; guest offset for a data cluster. */
  at: number;
  l2: boolean;
  /** For a compressed cluster: the most bytes its descriptor says the compressed data spans. */
  compressed?: number;
}

/** Parses the header and L1 table; the returned `pieces` streams the data clusters. */
export async function readQcow2(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: Qcow2ReadOptions = {},
): Promise<Qcow2Image> {
  const cur = new StreamCursor(source);
  try {
    return await parseQcow2(cur, opts);
  } catch (e) {
    await cur.close(); // release the body: nobody will consume `pieces`
    throw e;
  }
}

async function parseQcow2(cur: StreamCursor, opts: Qcow2ReadOptions): Promise<Qcow2Image> {
  const h = await cur.read(104);
  if (h.readUInt32BE(0) !== MAGIC) throw importError('not a qcow2 image (bad magic)');
  const version = h.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw importError(`unsupported qcow2 version ${version}`);
  if (h.readBigUInt64BE(8) !== 0n) throw importError('qcow2 images with a backing file cannot be imported');
  const clusterBits = h.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21)
    throw importError(`qcow2 cluster_bits ${clusterBits} out of range`);
  const cluster = 2 ** clusterBits;
  cur.keepBehind = opts.lookBehind ?? LOOK_BEHIND; // see `clusters`
  const sizeBig = h.readBigUInt64BE(24);
  const max = opts.maxVirtualSize ?? DEFAULT_MAX;
  if (sizeBig > BigInt(max)) throw vdiTooLarge(opts.vdi ?? '', max);
  const size = Number(sizeBig);
  if (size <= 0) throw importError('qcow2 virtual size is zero');
  if (h.readUInt32BE(32) !== 0) throw importError('encrypted qcow2 images cannot be imported');
  const l1Size = h.readUInt32BE(36);
  const l2Entries = cluster / 8;
  const needed = Math.ceil(Math.ceil(size / cluster) / l2Entries);
  if (l1Size < needed) throw importError(`qcow2 L1 table of ${l1Size} entries cannot cover ${size} bytes`);
  if (l1Size * 8 > MAX_L1_BYTES) throw importError(`qcow2 L1 table of ${l1Size} entries is too large`);
  const l1Offset = Number(h.readBigUInt64BE(40));
  if (!Number.isSafeInteger(l1Offset) || l1Offset % cluster !== 0 || l1Offset < cluster)
    throw importError(`qcow2 L1 table offset ${h.readBigUInt64BE(40)} is not a cluster after the header`);
  let zstd = false;
  if (version === 3) {
    const incompat = h.readBigUInt64BE(72);
    const unknown = incompat & ~(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION_TYPE);
    if (unknown & 2n) throw importError('qcow2 image is marked corrupt');
    if (unknown & 4n) throw importError('qcow2 images with an external data file cannot be imported');
    if (unknown & 16n) throw importError('qcow2 images with extended L2 entries cannot be imported');
    if (unknown) throw importError(`qcow2 image has unknown incompatible features 0x${unknown.toString(16)}`);
    const headerLength = h.readUInt32BE(100);
    if (headerLength < 104 || headerLength > cluster)
      throw importError(`qcow2 header length ${headerLength} invalid`);
    if (incompat & INCOMPAT_COMPRESSION_TYPE) {
      if (headerLength < 105)
        throw importError('qcow2 compression type bit set in a header without the field');
      zstd = (await cur.read(1))[0] !== 0;
    }
  }
  await cur.seek(l1Offset, 'qcow2 L1 table');
  const l1 = await cur.read(l1Size * 8);
  const pending = new MinHeap();
  // Clusters holding metadata we know of: no data cluster may claim them.
  const metadata = new Set<number>([0]);
  for (let c = l1Offset / cluster; c < Math.ceil((l1Offset + l1Size * 8) / cluster); c++) metadata.add(c);
  const rtOffset = Number(h.readBigUInt64BE(48));
  if (rtOffset % cluster === 0)
    for (let c = 0; c < Math.min(h.readUInt32BE(56), 1024); c++) metadata.add(rtOffset / cluster + c);
  for (let i = 0; i < l1Size; i++) {
    const host = Number(l1.readBigUInt64BE(i * 8) & OFFSET_MASK);
    if (host === 0) continue;
    if (i >= needed) throw importError(`qcow2 L1 entry ${i} lies beyond the virtual size`);
    if (host % cluster !== 0) throw importError(`qcow2 L1 entry ${i} is not cluster aligned`);
    if (metadata.has(host / cluster)) throw importError(`qcow2 L2 table ${i} overlaps other metadata`);
    metadata.add(host / cluster);
    pending.push({ host, at: i, l2: true });
  }
  return {
    virtualSize: size,
    clusterSize: cluster,
    version,
    pieces: clusters(cur, pending, metadata, clusterBits, size, zstd),
  };
}

async function* clusters(
  cur: StreamCursor,
  pending: MinHeap,
  metadata: Set<number>,
  clusterBits: number,
  size: number,
  zstd: boolean,
): AsyncGenerator<DiskPiece> {
  const cluster = 2 ** clusterBits;
  const l2Entries = cluster / 8;
  // Compressed descriptor: host byte offset in bits 0..x-1, extra 512-byte sectors above.
  const x = BigInt(62 - (clusterBits - 8));
  const cOffsetMask = (1n << x) - 1n;
  const cSectorsMask = (1n << (62n - x)) - 1n;
  try {
    for (let p = pending.pop(); p; p = pending.pop()) {
      // A cluster may lie up to LOOK_BEHIND before the position (qemu-img -c): served from memory.
      const at = (n: number) =>
        cur.readFrom(p!.host, n, `qcow2 ${p!.l2 ? 'L2 table' : 'data cluster'}`).catch((e) => {
          throw isXenApiError(e) && e.code === 'IMPORT_ERROR'
            ? importError(
                `${e.params[0]}: the image is not laid out for streaming (convert it with qemu-img convert -O qcow2) or its tables overlap`,
              )
            : e;
        });
      if (p.l2) {
        const l2 = await at(cluster);
        for (let j = 0; j < l2Entries; j++) {
          const e = l2.readBigUInt64BE(j * 8);
          if (e === 0n) continue;
          const guest = (p.at * l2Entries + j) * cluster;
          if (e & COMPRESSED) {
            if (zstd)
              throw importError(`qcow2 zstd-compressed cluster at guest offset ${guest} is not supported`);
            if (guest >= size) throw importError(`qcow2 L2 entry maps ${guest}, beyond the virtual size`);
            const host = Number(e & cOffsetMask);
            const span = (Number((e >> x) & cSectorsMask) + 1) * 512 - (host % 512);
            if (metadata.has(Math.floor(host / cluster)))
              throw importError(`qcow2 compressed cluster for ${guest} overlaps qcow2 metadata`);
            pending.push({ host, at: guest, l2: false, compressed: span });
            continue;
          }
          if (e & ZERO_FLAG) continue; // reads as zeros
          const host = Number(e & OFFSET_MASK);
          if (host === 0) continue;
          if (host % cluster !== 0)
            throw importError(`qcow2 data cluster for ${guest} is not cluster aligned`);
          if (guest >= size) throw importError(`qcow2 L2 entry maps ${guest}, beyond the virtual size`);
          if (metadata.has(host / cluster))
            throw importError(`qcow2 data cluster for ${guest} overlaps qcow2 metadata`);
          pending.push({ host, at: guest, l2: false });
        }
        continue;
      }
      if (p.compressed !== undefined) {
        // The descriptor's span may run into the next compressed cluster (they share sectors).
        const next = pending.peek();
        const span = next && next.host > p.host ? Math.min(p.compressed, next.host - p.host) : p.compressed;
        yield {
          offset: p.at,
          data: inflateCluster(await at(span), cluster, Math.min(cluster, size - p.at), p.at),
        };
        continue;
      }
      // Extend over clusters that follow both in the file and on the disk.
      let length = Math.min(cluster, size - p.at);
      while (length % cluster === 0 && length + cluster <= MAX_PIECE) {
        const q = pending.peek();
        if (!q || q.l2 || q.compressed !== undefined || q.host !== p.host + length || q.at !== p.at + length)
          break;
        pending.pop();
        length += Math.min(cluster, size - q.at);
      }
      yield { offset: p.at, data: await at(length) };
    }
    await cur.drain(0); // snapshot tables, refcount blocks, padding: not needed for the data
  } finally {
    await cur.close();
  }
}

/** Inflates one compressed cluster; output beyond one cluster (a bomb) or short output fails. */
function inflateCluster(data: Buffer, cluster: number, want: number, guest: number): Buffer {
  let out: Buffer;
  try {
    // Sync flush: the span read may stop inside the stream's final bytes or run past its end.
    out = inflateRawSync(data, { maxOutputLength: cluster, finishFlush: 2 /* Z_SYNC_FLUSH */ });
  } catch (e) {
    throw importError(
      `qcow2 compressed cluster at guest offset ${guest} does not inflate: ${(e as Error).message}`,
    );
  }
  if (out.length < want)
    throw importError(
      `qcow2 compressed cluster at guest offset ${guest} inflates to ${out.length} bytes, not ${want}`,
    );
  return out.subarray(0, want);
}

/** A binary min-heap of pending clusters by host offset. */
class MinHeap {
  private readonly a: Pending[] = [];
  push(x: Pending): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent].host <= a[i].host) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }
  peek(): Pending | undefined {
    return this.a[0];
  }
  pop(): Pending | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].host < a[m].host) m = l;
        if (r < a.length && a[r].host < a[m].host) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}
