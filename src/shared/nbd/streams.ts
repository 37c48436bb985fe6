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

interface Filling {
  buf: Buffer;
  /** Bytes of the chunk not yet read. */
  left: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * The export's bytes over a range as chunks of `chunkSize`, in order. Each chunk is filled by
 * READs of `requestSize` straight into its buffer. A new READ goes out as soon as any completes
 * (replies come in any order: waiting for the oldest would drain the server's queue), but at most
 * `maxInFlight` are outstanding and at most that window's bytes are read ahead of what the
 * consumer has taken: a slow consumer slows the reads (backpressure).
 */
export async function* readStream(client: NbdClient, opts: StreamOptions = {}): AsyncGenerator<Buffer> {
  const start = opts.offset ?? 0;
  const end = opts.length === undefined ? client.size : start + opts.length;
  const chunk = Math.max(1, opts.chunkSize ?? 1024 * 1024);
  const request = Math.max(1, Math.min(opts.requestSize ?? 256 * 1024, client.maxBlock, chunk));
  const window = Math.max(1, opts.maxInFlight ?? 32);
  if (start < 0 || end > client.size || start > end)
    throw new NbdError('EINVAL', `range ${start}..${end} outside the export's ${client.size} bytes`);
  const ahead = window * request + chunk;
  const queue: Filling[] = [];
  const reads = new Set<Promise<unknown>>();
  let inFlight = 0;
  let next = start; // next byte to request
  let chunkEnd = start; // end of the last chunk allocated
  let taken = start; // bytes before this were yielded
  let stopped = false;
  const issue = () => {
    while (!stopped && inFlight < window && next < end && next - taken < ahead) {
      if (next === chunkEnd) {
        const len = Math.min(chunk, end - next);
        let resolve!: () => void;
        let reject!: (e: unknown) => void;
        const done = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        done.catch(() => undefined); // awaited in order below; no unhandled rejection meanwhile
        queue.push({ buf: Buffer.allocUnsafe(len), left: len, done, resolve, reject });
        chunkEnd += len;
      }
      const c = queue[queue.length - 1];
      const at = next - (chunkEnd - c.buf.length);
      const len = Math.min(request, chunkEnd - next);
      inFlight++;
      const p = client.readInto(next, c.buf.subarray(at, at + len)).then(
        () => {
          inFlight--;
          c.left -= len;
          if (c.left === 0) c.resolve();
          issue();
        },
        (e) => {
          inFlight--;
          c.reject(e);
        },
      );
      reads.add(p);
      void p.then(() => reads.delete(p));
      next += len;
    }
  };
  try {
    issue();
    while (queue.length) {
      const c = queue[0];
      await c.done;
      queue.shift();
      taken += c.buf.length;
      issue();
      yield c.buf;
    }
  } finally {
    // Consumer stopped early: no more reads; let those in flight settle (their errors are moot).
    stopped = true;
    await Promise.allSettled(reads);
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
