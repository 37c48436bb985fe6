// Streams a sparse virtual disk as a qcow2 image (version 3, 64 KiB clusters, 16-bit refcounts,
// no backing file), emitting only the clusters that the source's extents touch. The whole layout
// is computed before the first byte, so everything is written in one forward pass and the output
// size is known in advance:
//   cluster 0           header (+ end-of-extensions marker)
//   L1 table            one entry per 512 MiB of virtual disk
//   refcount table      one entry per refcount block
//   refcount blocks     every cluster of the image has refcount 1
//   L2 tables           one per 512 MiB region holding data, ascending
//   data clusters       ascending guest order
// Every L1/L2 entry carries QCOW_OFLAG_COPIED (refcount is exactly 1), as `qemu-img check` expects.
// For a differential export (`base=`), pass the changed extents: unchanged clusters stay
// unallocated and the image has no backing file, as xapi's qcow2-to-stdout `--diff` writes it.
import { touchedBlocks } from './extents.js';
import { type DiskSource, readAhead, roundUp, SECTOR } from './stream.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const CLUSTER_BITS = 16;
export const CLUSTER = 1 << CLUSTER_BITS;
const L2_ENTRIES = CLUSTER / 8;
const REFCOUNT_ORDER = 4; // 16-bit refcounts
const REFCOUNTS_PER_BLOCK = (CLUSTER * 8) >> REFCOUNT_ORDER;
const HEADER_LENGTH = 112;
const COPIED = 1n << 63n;
/** Largest read the writer issues: consecutive data clusters are fetched together. */
const MAX_READ = 2 * 1024 * 1024;

export interface Qcow2Plan {
  size: number; // virtual size in the header (rounded up to 512)
  dataClusters: number[]; // guest cluster indexes, ascending
  l2Tables: number[]; // L1 indexes that get an L2 table, ascending
  l1Entries: number;
  l1Offset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountBlocksOffset: number;
  refcountBlocks: number;
  l2Offset: number;
  dataOffset: number;
  totalClusters: number;
  /** Total bytes the writer will emit. */
  fileSize: number;
}

/** Computes where every structure and cluster of the image goes. */
export function planQcow2(source: Pick<DiskSource, 'virtualSize' | 'extents'>): Qcow2Plan {
  if (!Number.isSafeInteger(source.virtualSize) || source.virtualSize <= 0)
    throw new RangeError(`virtual size ${source.virtualSize} is not a positive integer`);
  const size = roundUp(source.virtualSize, SECTOR);
  const dataClusters = touchedBlocks(source.extents, CLUSTER, source.virtualSize);
  const l2Tables = [...new Set(dataClusters.map((c) => Math.floor(c / L2_ENTRIES)))];
  const l1Entries = Math.ceil(Math.ceil(size / CLUSTER) / L2_ENTRIES);
  const l1Clusters = Math.ceil((l1Entries * 8) / CLUSTER);
  const fixed = 1 + l1Clusters + l2Tables.length + dataClusters.length;
  // Refcount structures count themselves: iterate to the fixed point.
  let refcountBlocks = 0;
  let refcountTableClusters = 0;
  for (;;) {
    const total = fixed + refcountBlocks + refcountTableClusters;
    const rb = Math.ceil(total / REFCOUNTS_PER_BLOCK);
    const rt = Math.ceil((rb * 8) / CLUSTER);
    if (rb === refcountBlocks && rt === refcountTableClusters) break;
    refcountBlocks = rb;
    refcountTableClusters = rt;
  }
  const l1Offset = CLUSTER;
  const refcountTableOffset = l1Offset + l1Clusters * CLUSTER;
  const refcountBlocksOffset = refcountTableOffset + refcountTableClusters * CLUSTER;
  const l2Offset = refcountBlocksOffset + refcountBlocks * CLUSTER;
  const dataOffset = l2Offset + l2Tables.length * CLUSTER;
  const totalClusters = fixed + refcountBlocks + refcountTableClusters;
  return {
    size,
    dataClusters,
    l2Tables,
    l1Entries,
    l1Offset,
    refcountTableOffset,
    refcountTableClusters,
    refcountBlocksOffset,
    refcountBlocks,
    l2Offset,
    dataOffset,
    totalClusters,
    fileSize: totalClusters * CLUSTER,
  };
}

function encodeHeader(p: Qcow2Plan): Buffer {
  const b = Buffer.alloc(CLUSTER);
  b.writeUInt32BE(QCOW2_MAGIC, 0);
  b.writeUInt32BE(3, 4); // version
  // 8: backing file offset, 16: backing file size: none
  b.writeUInt32BE(CLUSTER_BITS, 20);
  b.writeBigUInt64BE(BigInt(p.size), 24);
  // 32: crypt method none
  b.writeUInt32BE(p.l1Entries, 36);
  b.writeBigUInt64BE(BigInt(p.l1Offset), 40);
  b.writeBigUInt64BE(BigInt(p.refcountTableOffset), 48);
  b.writeUInt32BE(p.refcountTableClusters, 56);
  // 60: no snapshots; 72..95: no incompatible/compatible/autoclear features
  b.writeUInt32BE(REFCOUNT_ORDER, 96);
  b.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: compression type zlib (0), padding; then the end-of-extensions marker (8 zero bytes).
  return b;
}

/** The qcow2 image of `source`, as a stream of Buffers (pull-based: wrap in Readable.from). */
export async function* writeQcow2(source: DiskSource): AsyncGenerator<Buffer> {
  const p = planQcow2(source);
  yield encodeHeader(p);

  const l1 = Buffer.alloc(p.refcountTableOffset - p.l1Offset);
  p.l2Tables.forEach((t, i) => {
    l1.writeBigUInt64BE(BigInt(p.l2Offset + i * CLUSTER) | COPIED, t * 8);
  });
  yield l1;

  const rt = Buffer.alloc(p.refcountTableClusters * CLUSTER);
  for (let i = 0; i < p.refcountBlocks; i++)
    rt.writeBigUInt64BE(BigInt(p.refcountBlocksOffset + i * CLUSTER), i * 8);
  yield rt;

  for (let i = 0; i < p.refcountBlocks; i++) {
    const rb = Buffer.alloc(CLUSTER);
    const first = i * REFCOUNTS_PER_BLOCK;
    const n = Math.min(REFCOUNTS_PER_BLOCK, p.totalClusters - first);
    for (let k = 0; k < n; k++) rb.writeUInt16BE(1, k * 2);
    yield rb;
  }

  // L2 tables: data cluster k (in ascending guest order) lives at dataOffset + k·CLUSTER.
  let k = 0;
  for (const t of p.l2Tables) {
    const l2 = Buffer.alloc(CLUSTER);
    while (k < p.dataClusters.length && Math.floor(p.dataClusters[k] / L2_ENTRIES) === t) {
      l2.writeBigUInt64BE(BigInt(p.dataOffset + k * CLUSTER) | COPIED, (p.dataClusters[k] % L2_ENTRIES) * 8);
      k++;
    }
    yield l2;
  }

  for await (const { range, data } of readAhead(source, dataRuns(p.dataClusters, source.virtualSize))) {
    yield data;
    const pad = roundUp(range.length, CLUSTER) - range.length;
    if (pad) yield Buffer.alloc(pad);
  }
}

/** Consecutive data clusters merged into reads of at most MAX_READ bytes, clipped to the disk. */
function* dataRuns(clusters: number[], virtualSize: number): Generator<{ offset: number; length: number }> {
  let i = 0;
  while (i < clusters.length) {
    let j = i + 1;
    while (j < clusters.length && clusters[j] === clusters[j - 1] + 1 && (j - i + 1) * CLUSTER <= MAX_READ)
      j++;
    const offset = clusters[i] * CLUSTER;
    yield { offset, length: Math.min((j - i) * CLUSTER, virtualSize - offset) };
    i = j;
  }
}
