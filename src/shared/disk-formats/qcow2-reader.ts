// Reads a qcow2 image from a stream front to back and yields its data clusters. A stream cannot
// seek back, so this works when every table precedes what it points to: the L1 table before the
// L2 tables, each L2 table before its data clusters. That holds for what `qemu-img convert -O
// qcow2` and `qemu-img create` write (header, refcount table, refcount block, L1, then each L2
// allocated just before its first data cluster), for Berth's own writer and for xapi's
// qcow2-to-stdout. An image that points backwards (e.g. one a running VM grew, with tables
// allocated after data) is refused with IMPORT_ERROR naming the offset; it must be converted with
// `qemu-img convert -O qcow2` first (see docs/decisions.md, diskfmt).
// Refused too: backing files, encryption, compressed clusters, external data files, extended L2
// entries, unknown incompatible features, the corrupt bit, a size above the limit (VDI_TOO_LARGE).
import { type DiskPiece, importError, StreamCursor, vdiTooLarge } from './stream.js';

export interface Qcow2ReadOptions {
  /** Largest virtual size accepted (default 64 TiB). */
  maxVirtualSize?: number;
  /** VDI reference named in VDI_TOO_LARGE. */
  vdi?: string;
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
const INCOMPAT_COMPRESSION_TYPE = 8n; // only matters for compressed clusters, which are refused
const DEFAULT_MAX = 64 * 1024 ** 4;
/** QEMU's own bound on the L1 table (QCOW_MAX_L1_SIZE). */
const MAX_L1_BYTES = 32 * 1024 * 1024;
/** Largest piece yielded: consecutive clusters are read and handed over together. */
const MAX_PIECE = 2 * 1024 * 1024;

/** What lies at a host offset we still have to reach: an L2 table or a data cluster. */
interface Pending {
  host: number;
  /** L1 index for an L2 table; guest offset for a data cluster. */
  at: number;
  l2: boolean;
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
  }
  await cur.seek(l1Offset, 'qcow2 L1 table');
  const l1 = await cur.read(l1Size * 8);
  const pending = new MinHeap();
  for (let i = 0; i < l1Size; i++) {
    const host = Number(l1.readBigUInt64BE(i * 8) & OFFSET_MASK);
    if (host === 0) continue;
    if (i >= needed) throw importError(`qcow2 L1 entry ${i} lies beyond the virtual size`);
    if (host % cluster !== 0) throw importError(`qcow2 L1 entry ${i} is not cluster aligned`);
    pending.push({ host, at: i, l2: true });
  }
  return { virtualSize: size, clusterSize: cluster, version, pieces: clusters(cur, pending, cluster, size) };
}

async function* clusters(
  cur: StreamCursor,
  pending: MinHeap,
  cluster: number,
  size: number,
): AsyncGenerator<DiskPiece> {
  const l2Entries = cluster / 8;
  try {
    for (let p = pending.pop(); p; p = pending.pop()) {
      if (p.host < cur.position)
        throw importError(
          `qcow2 ${p.l2 ? 'L2 table' : 'data cluster'} at ${p.host} lies before the stream position ${cur.position}: the image is not laid out for streaming (convert it with qemu-img convert -O qcow2) or its tables overlap`,
        );
      await cur.seek(p.host, 'qcow2 cluster');
      if (p.l2) {
        const l2 = await cur.read(cluster);
        for (let j = 0; j < l2Entries; j++) {
          const e = l2.readBigUInt64BE(j * 8);
          if (e === 0n) continue;
          const guest = (p.at * l2Entries + j) * cluster;
          if (e & COMPRESSED)
            throw importError(`qcow2 compressed cluster at guest offset ${guest} is not supported`);
          if (e & ZERO_FLAG) continue; // reads as zeros
          const host = Number(e & OFFSET_MASK);
          if (host === 0) continue;
          if (host % cluster !== 0)
            throw importError(`qcow2 data cluster for ${guest} is not cluster aligned`);
          if (guest >= size) throw importError(`qcow2 L2 entry maps ${guest}, beyond the virtual size`);
          pending.push({ host, at: guest, l2: false });
        }
        continue;
      }
      // Extend over clusters that follow both in the file and on the disk.
      let length = Math.min(cluster, size - p.at);
      while (length % cluster === 0 && length + cluster <= MAX_PIECE) {
        const q = pending.peek();
        if (!q || q.l2 || q.host !== p.host + length || q.at !== p.at + length) break;
        pending.pop();
        length += Math.min(cluster, size - q.at);
      }
      yield { offset: p.at, data: await cur.read(length) };
    }
    await cur.drain(0); // snapshot tables, refcount blocks, padding: not needed for the data
  } finally {
    await cur.close();
  }
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
