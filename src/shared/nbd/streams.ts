// Whole-export helpers over an NbdClient: extents of a meta context, an in-order stream of the
// export's bytes with a bounded number of reads in flight, and the reverse (write a stream).
import type { NbdClient } from './client.js';
import {
  BASE_ALLOCATION,
  NbdError,
  NbdProtocolError,
  STATE_DIRTY,
  STATE_HOLE,
  STATE_ZERO,
} from './protocol.js';

export interface MappedExtent {
  offset: number;
  length: number;
  /** The raw status flags of the context. */
  flags: number;
  /** base:allocation: reads as zeroes (NBD_STATE_ZERO). */
  zero: boolean;
  /** base:allocation: not allocated (NBD_STATE_HOLE). */
  hole: boolean;
  /** qemu:dirty-bitmap:<name>: changed since the bitmap was created or cleared. */
  dirty: boolean;
}

export interface RangeOptions {
  offset?: number;
  /** Bytes from `offset` (default: to the end of the export). */
  length?: number;
}

/** Largest range asked per BLOCK_STATUS request (below the 32-bit length field). */
const STATUS_SPAN = 2 ** 30;

/**
 * The extents of `context` over a range, in order and contiguous, adjacent extents with equal
 * flags merged. Extents the server reports past the range are cut to it.
 */
export async function* extents(
  client: NbdClient,
  context: string = BASE_ALLOCATION,
  range: RangeOptions = {},
): AsyncGenerator<MappedExtent> {
  const start = range.offset ?? 0;
  const end = range.length === undefined ? client.size : start + range.length;
  const isBase = context === BASE_ALLOCATION;
  let held: MappedExtent | undefined;
  let pos = start;
  while (pos < end) {
    const got = await client.blockStatus(context, pos, Math.min(STATUS_SPAN, end - pos));
    for (const e of got) {
      if (pos >= end) break;
      const length = Math.min(e.length, end - pos);
      const x: MappedExtent = {
        offset: pos,
        length,
        flags: e.flags,
        zero: isBase && (e.flags & STATE_ZERO) !== 0,
        hole: isBase && (e.flags & STATE_HOLE) !== 0,
        dirty: !isBase && (e.flags & STATE_DIRTY) !== 0,
      };
      pos += length;
      if (held && held.flags === x.flags) held.length += x.length;
      else {
        if (held) yield held;
        held = x;
      }
    }
    if (!got.length) throw new NbdProtocolError(`no extents for ${context} at ${pos}`);
  }
  if (held) yield held;
}

export interface StreamOptions extends RangeOptions {
  /** Bytes per chunk yielded (default 1 MiB; the last may be shorter). */
  chunkSize?: number;
  /** Bytes per READ request (default 256 KiB, capped at the server's maximum). */
  requestSize?: number;
  /** READs in flight at most (default 32). */
  maxInFlight?: number;
}

/**
 * The export's bytes over a range as chunks of `chunkSize`, in order. Each chunk is filled by
 * READs of `requestSize` straight into its buffer; at most `maxInFlight` READs are outstanding and
 * none is issued beyond what the consumer has taken plus that window: a slow consumer slows the
 * reads (backpressure). Many moderate requests in flight beat a few large ones with QEMU's server.
 */
export async function* readStream(client: NbdClient, opts: StreamOptions = {}): AsyncGenerator<Buffer> {
  const start = opts.offset ?? 0;
  const end = opts.length === undefined ? client.size : start + opts.length;
  const chunk = Math.max(1, opts.chunkSize ?? 1024 * 1024);
  const request = Math.max(1, Math.min(opts.requestSize ?? 256 * 1024, client.maxBlock, chunk));
  const window = Math.max(1, opts.maxInFlight ?? 32);
  if (start < 0 || end > client.size || start > end)
    throw new NbdError('EINVAL', `range ${start}..${end} outside the export's ${client.size} bytes`);
  /** Chunks being filled, in order: their buffer and the READs filling them. */
  const queue: { buf: Buffer; reads: Promise<Buffer>[] }[] = [];
  let inFlight = 0;
  let next = start; // next byte to request
  let chunkEnd = start; // end of the last chunk allocated
  const issue = () => {
    while (inFlight < window && next < end) {
      if (next === chunkEnd) {
        const len = Math.min(chunk, end - next);
        queue.push({ buf: Buffer.allocUnsafe(len), reads: [] });
        chunkEnd += len;
      }
      const c = queue[queue.length - 1];
      const at = next - (chunkEnd - c.buf.length);
      const len = Math.min(request, chunkEnd - next);
      const p = client.readInto(next, c.buf.subarray(at, at + len));
      inFlight++;
      const settled = () => {
        inFlight--;
      };
      p.then(settled, settled);
      p.catch(() => undefined); // awaited in order below; no unhandled rejection meanwhile
      c.reads.push(p);
      next += len;
    }
  };
  try {
    issue();
    while (queue.length) {
      const c = queue[0];
      // Reads of later chunks are issued as earlier ones complete.
      for (let i = 0; i < c.reads.length; i++) {
        await c.reads[i];
        issue();
      }
      if (next < chunkEnd && queue.length === 1) {
        issue(); // the window was full when this chunk started: finish it
        continue;
      }
      queue.shift();
      yield c.buf;
    }
  } finally {
    // Consumer stopped early: let the reads in flight settle (their errors are moot).
    await Promise.allSettled(queue.flatMap((c) => c.reads));
  }
}

export interface WriteStreamOptions {
  /** Where the first byte goes (default 0). */
  offset?: number;
  /** WRITEs in flight at most (default 8). */
  maxInFlight?: number;
  /** Send all-zero pieces as WRITE_ZEROES (when offered) instead of data (default true). */
  detectZeroes?: boolean;
  /** FLUSH at the end (default true). */
  flush?: boolean;
}

const isZero = (b: Buffer) => {
  let i = 0;
  // Fast path: 8 bytes at a time where aligned.
  for (; i + 8 <= b.length; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  for (; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
};

/**
 * Writes a stream of chunks to consecutive offsets, splitting chunks larger than the server's
 * maximum, at most `maxInFlight` requests outstanding. Resolves with the bytes written.
 */
export async function writeStream(
  client: NbdClient,
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: WriteStreamOptions = {},
): Promise<number> {
  const window = Math.max(1, opts.maxInFlight ?? 8);
  const zeroes = (opts.detectZeroes ?? true) && client.canWriteZeroes;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let pos = opts.offset ?? 0;
  const send = async (offset: number, piece: Buffer) => {
    while (inFlight.size >= window) await Promise.race(inFlight);
    if (failure) throw failure;
    const p = (
      zeroes && isZero(piece) ? client.writeZeroes(offset, piece.length) : client.write(offset, piece)
    ).catch((e) => {
      failure ??= e;
    });
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  for await (const c of source) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    for (let o = 0; o < b.length; o += client.maxBlock) {
      const piece = b.subarray(o, Math.min(b.length, o + client.maxBlock));
      await send(pos, piece);
      pos += piece.length;
    }
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  if (opts.flush !== false) await client.flush();
  return pos - (opts.offset ?? 0);
}
