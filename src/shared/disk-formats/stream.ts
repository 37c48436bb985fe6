// Shared plumbing of the disk-format writers and readers: the input model of a writer (a sparse
// virtual disk read on demand), the xapi errors a reader raises, and a cursor that reads exact
// byte counts from a stream of Buffers (an HTTP request body, a file) without buffering it whole.
import { XenApiError } from '../errors.js';
import type { Extent } from './extents.js';

/** A virtual disk as the writers see it: only `extents` hold data, the rest reads as zeros. */
export interface DiskSource {
  virtualSize: number;
  /** Allocated (or, for a differential export, changed) ranges; need not be sorted or aligned. */
  extents: readonly Extent[];
  /** Reads `length` bytes at `offset` (within virtualSize); in wave 2 an NBD client's pread. */
  read(offset: number, length: number): Promise<Buffer>;
}

/** A piece of data an import reader found: `data` belongs at `offset` of the virtual disk. */
export interface DiskPiece {
  offset: number;
  data: Buffer;
}

export const SECTOR = 512;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** `IMPORT_ERROR [msg]`: the image is malformed or unsupported. */
export const importError = (msg: string) => new XenApiError('IMPORT_ERROR', [msg]);
/** `IMPORT_ERROR_PREMATURE_EOF`: the stream ended inside the image. */
export const prematureEof = () => new XenApiError('IMPORT_ERROR_PREMATURE_EOF', []);
/** `VDI_TOO_LARGE [vdi, maximum size]`. */
export const vdiTooLarge = (vdi: string, max: number) => new XenApiError('VDI_TOO_LARGE', [vdi, String(max)]);

export const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * Reads a byte stream front to back in exact amounts. `read(n)` resolves with n bytes (a slice of
 * the incoming buffer when it can, so large reads copy nothing) or fails with
 * IMPORT_ERROR_PREMATURE_EOF; `skip(n)` discards; `position` counts bytes consumed.
 */
export class StreamCursor {
  position = 0;
  private readonly it: AsyncIterator<Buffer | Uint8Array>;
  private head: Buffer = Buffer.alloc(0);
  private done = false;
  /** At least the last `keepBehind` bytes consumed (references, not copies), for `readFrom`. */
  private behind: Buffer[] = [];
  private behindLength = 0;
  /** How far before the position `readFrom` may reach (0: not at all). */
  keepBehind = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private remember(b: Buffer): void {
    if (!this.keepBehind || !b.length) return;
    this.behind.push(b);
    this.behindLength += b.length;
    while (this.behindLength - this.behind[0].length >= this.keepBehind)
      this.behindLength -= this.behind.shift()!.length;
  }

  /**
   * Reads `n` bytes at absolute `offset`, which may lie up to `keepBehind` bytes before the
   * position (served from memory); further back is impossible in a stream.
   */
  async readFrom(offset: number, n: number, what: string): Promise<Buffer> {
    if (offset >= this.position) {
      await this.skip(offset - this.position);
      return this.read(n);
    }
    const start = this.position - this.behindLength;
    if (offset < start || offset < this.position - this.keepBehind)
      throw importError(`${what} at byte ${offset} lies before the stream position ${this.position}`);
    // Collect the remembered slices covering [offset, min(offset + n, position)).
    const slices: Buffer[] = [];
    let partStart = start;
    const end = Math.min(offset + n, this.position);
    for (const part of this.behind) {
      const partEnd = partStart + part.length;
      if (partEnd > offset && partStart < end)
        slices.push(part.subarray(Math.max(0, offset - partStart), Math.min(part.length, end - partStart)));
      partStart = partEnd;
    }
    const have = Buffer.concat(slices);
    return have.length === n ? Buffer.from(have) : Buffer.concat([have, await this.read(n - have.length)]);
  }

  /** Pulls until at least `n` bytes are buffered or the stream ends; returns the buffered count. */
  private async fill(n: number): Promise<number> {
    if (this.head.length >= n || this.done) return this.head.length;
    const parts: Buffer[] = [this.head];
    let have = this.head.length;
    while (have < n) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      parts.push(b);
      have += b.length;
    }
    this.head = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
    return have;
  }

  async read(n: number): Promise<Buffer> {
    if ((await this.fill(n)) < n) throw prematureEof();
    const out = this.head.subarray(0, n);
    this.head = this.head.subarray(n);
    this.position += n;
    this.remember(out);
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.head.length === 0 && (await this.fill(1)) === 0) throw prematureEof();
      const k = Math.min(n, this.head.length);
      this.remember(this.head.subarray(0, k));
      this.head = this.head.subarray(k);
      this.position += k;
      n -= k;
    }
  }

  /** Advances to absolute `offset`; moving backwards is impossible in a stream. */
  async seek(offset: number, what: string): Promise<void> {
    if (offset < this.position)
      throw importError(`${what} at byte ${offset} lies before the stream position ${this.position}`);
    await this.skip(offset - this.position);
  }

  /** Reads everything left, keeping only the last `keep` bytes; returns them and the count read. */
  async drain(keep: number): Promise<{ tail: Buffer; count: number }> {
    let tail = this.head;
    let count = this.head.length;
    this.head = Buffer.alloc(0);
    for (;;) {
      const r = await this.it.next();
      if (r.done) break;
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      count += b.length;
      tail =
        tail.length + b.length > keep ? Buffer.concat([tail, b]).subarray(-keep) : Buffer.concat([tail, b]);
    }
    this.done = true;
    this.position += count;
    return { tail: Buffer.from(tail.subarray(-keep)), count };
  }

  /** Stops the underlying iterator (e.g. to release a socket) after a failure. */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * Reads the ranges `ranges` of a source in order with up to `depth` reads in flight: the next
 * reads proceed while the caller writes the current one out, so source latency (an NBD round
 * trip) and output overlap. Memory held: `depth` ranges.
 */
export async function* readAhead(
  source: Pick<DiskSource, 'read'>,
  ranges: Iterable<Extent>,
  depth = 4,
): AsyncGenerator<{ range: Extent; data: Buffer }> {
  const it = ranges[Symbol.iterator]();
  const queue: { range: Extent; data: Promise<Buffer> }[] = [];
  const refill = () => {
    while (queue.length < depth) {
      const r = it.next();
      if (r.done) return;
      const data = source.read(r.value.offset, r.value.length);
      // A rejected prefetch must not become an unhandled rejection if we stop early.
      data.catch(() => {});
      queue.push({ range: r.value, data });
    }
  };
  refill();
  while (queue.length) {
    const cur = queue.shift()!;
    refill();
    const data = await cur.data;
    if (data.length !== cur.range.length)
      throw new Error(`short read at ${cur.range.offset}: ${data.length} of ${cur.range.length} bytes`);
    yield { range: cur.range, data };
  }
}

const ZERO = Buffer.alloc(64 * 1024);
/** True when every byte of `b` is zero. */
export function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - i);
    if (!b.subarray(i, i + n).equals(n === ZERO.length ? ZERO : ZERO.subarray(0, n))) return false;
  }
  return true;
}
