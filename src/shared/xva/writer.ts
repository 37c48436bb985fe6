// The XVA tar stream as xapi's export writes it (export.ml + stream_vdi.ml send_one): ova.xml
// first (mtime = export time), then each disk in lexicographic order of its id, as members
// `<id>/<NNNNNNNN>` of 1 MiB (the last one shorter), each followed by `<name>.xxhash`; all-zero
// chunks are left out except the first and the last, which are always written; after 5 s without
// output an empty keep-alive member is written and later counters shift by one; two zero blocks end it.
import { CHUNK_SIZE, KEEPALIVE_MS, OVA_XML, XXHASH_EXT } from './constants.js';
import { loadXxhash, xxh64Hex } from './checksum.js';
import { type ChunkHasher, startHashWorker } from './hash-worker.js';
import { END_OF_ARCHIVE, paddingLength, tarHeader } from './tar-header.js';

/** Disk bytes at a 1 MiB-aligned offset; length = min(1 MiB, virtual size − offset). */
export interface XvaChunk {
  offset: number;
  data: Uint8Array;
}

export interface XvaDiskSource {
  /** Member-name prefix: the VDI's `Ref:<n>` in ova.xml (or `vdi` in a single-VDI tar). */
  ref: string;
  virtualSize: number;
  /** Chunks in increasing offset order; a chunk not produced reads as zeros. */
  chunks: AsyncIterable<XvaChunk>;
}

export interface XvaWriteOptions {
  /** ova.xml's mtime in seconds since the epoch (default: now). */
  mtime?: number;
  /** Keep-alive interval; 0 disables (default 5000 ms, as xapi). */
  keepAliveMs?: number;
  /** Called after each chunk with the disk bytes accounted so far and the total virtual size. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Milliseconds clock (tests). */
  now?: () => number;
  /** Hash chunks on a worker thread, overlapping with output (default false: on this 2-core host the
   * copy and the extra thread cost more than they overlap; see docs/decisions.md). */
  hashInWorker?: boolean;
}

const ZEROS = Buffer.alloc(CHUNK_SIZE);
const XXHASH_LEN = 16;

export function isAllZero(b: Uint8Array): boolean {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return buf.equals(ZEROS.subarray(0, buf.length));
}

const counterName = (ref: string, n: number) => {
  if (n > 99_999_999) throw new RangeError(`XVA chunk counter overflow in ${ref}`);
  return `${ref}/${String(n).padStart(8, '0')}`;
};

type Hash = (data: Uint8Array) => string | Promise<string>;

async function* member(name: string, data: Uint8Array, hash: Hash): AsyncGenerator<Buffer> {
  const summing = hash(data); // on a worker: runs while the data below is written
  yield tarHeader(name, data.byteLength);
  if (data.byteLength) yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const sum = await summing;
  // data padding + checksum header + checksum text + its padding, in one write
  const tail = Buffer.alloc(paddingLength(data.byteLength) + 512 + XXHASH_LEN + paddingLength(XXHASH_LEN));
  const p = paddingLength(data.byteLength);
  tarHeader(name + XXHASH_EXT, XXHASH_LEN).copy(tail, p);
  tail.write(sum, p + 512, 'latin1');
  yield tail;
}

function checkChunk(d: XvaDiskSource, c: XvaChunk, next: number): number {
  if (!Number.isSafeInteger(c.offset) || c.offset % CHUNK_SIZE !== 0 || c.offset < 0)
    throw new RangeError(`${d.ref}: chunk offset ${c.offset} is not 1 MiB-aligned`);
  const idx = c.offset / CHUNK_SIZE;
  if (idx < next) throw new RangeError(`${d.ref}: chunk at ${c.offset} out of order`);
  const want = Math.min(CHUNK_SIZE, d.virtualSize - c.offset);
  if (want <= 0) throw new RangeError(`${d.ref}: chunk at ${c.offset} beyond virtual size ${d.virtualSize}`);
  if (c.data.byteLength !== want)
    throw new RangeError(`${d.ref}: chunk at ${c.offset} has ${c.data.byteLength} bytes, expected ${want}`);
  return idx;
}

/** The members of one disk (no ova.xml, no end blocks). */
async function* diskMembers(
  d: XvaDiskSource,
  opts: XvaWriteOptions,
  progress: (n: number) => void,
  hash: Hash,
): AsyncGenerator<Buffer> {
  const size = d.virtualSize;
  if (size <= 0) return;
  const last = Math.floor((size - 1) / CHUNK_SIZE);
  const keepAlive = opts.keepAliveMs ?? KEEPALIVE_MS;
  const now = opts.now ?? Date.now;
  let lastWrite = now();
  let shift = 0; // keep-alive members written so far
  let next = 0; // next chunk index not yet accounted for
  const zeroChunk = (idx: number) => ZEROS.subarray(0, Math.min(CHUNK_SIZE, size - idx * CHUNK_SIZE));

  async function* emit(idx: number, data: Uint8Array): AsyncGenerator<Buffer> {
    const firstOrLast = idx === 0 || idx === last;
    if (keepAlive > 0 && !firstOrLast && now() - lastWrite > keepAlive) {
      yield* member(counterName(d.ref, idx + shift), new Uint8Array(0), hash);
      shift++;
      lastWrite = now();
    }
    if (firstOrLast || !isAllZero(data)) {
      yield* member(counterName(d.ref, idx + shift), data, hash);
      lastWrite = now();
    }
    progress(data.byteLength);
  }
  /** Accounts for the implicit zero chunks [from, to): only chunk 0 and the last are written. */
  async function* gap(from: number, to: number): AsyncGenerator<Buffer> {
    if (from >= to) return;
    if (from === 0) yield* emit(0, zeroChunk(0));
    const skipped = Math.max(0, Math.min(to, last) - Math.max(from, 1));
    if (skipped > 0) progress(skipped * CHUNK_SIZE);
    if (to > last && last > 0) yield* emit(last, zeroChunk(last));
  }

  for await (const c of d.chunks) {
    opts.signal?.throwIfAborted();
    const idx = checkChunk(d, c, next);
    yield* gap(next, idx);
    yield* emit(idx, c.data);
    next = idx + 1;
  }
  yield* gap(next, last + 1);
}

/**
 * The uncompressed XVA as a stream of Buffers, produced as it is consumed (backpressure is the
 * consumer's pace). `ovaXml` null writes the single-VDI tar of /export_raw_vdi?format=tar.
 */
export async function* xvaTarStream(
  ovaXml: string | null,
  disks: readonly XvaDiskSource[],
  opts: XvaWriteOptions = {},
): AsyncGenerator<Buffer> {
  await loadXxhash();
  if (ovaXml !== null) {
    const body = Buffer.from(ovaXml, 'utf8');
    yield tarHeader(OVA_XML, body.length, opts.mtime ?? Math.floor(Date.now() / 1000));
    yield Buffer.concat([body, Buffer.alloc(paddingLength(body.length))]);
  }
  const total = disks.reduce((s, d) => s + Math.max(0, d.virtualSize), 0);
  let done = 0;
  const progress = (n: number) => {
    done += n;
    opts.onProgress?.(done, total);
  };
  const sorted = [...disks].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  const worker: ChunkHasher | undefined = opts.hashInWorker ? startHashWorker() : undefined;
  const hash: Hash = worker ? (b) => (b.byteLength ? worker.hash(b) : xxh64Hex(b)) : xxh64Hex;
  try {
    for (const d of sorted) yield* diskMembers(d, opts, progress, hash);
  } finally {
    await worker?.close();
  }
  yield END_OF_ARCHIVE;
}
