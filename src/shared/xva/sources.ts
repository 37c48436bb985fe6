// Chunk sources for the writer: a random-access reader over the allocated extents (NBD block
// status) with a few reads in flight, or a sequential byte stream cut into 1 MiB chunks.
import { CHUNK_SIZE } from './constants.js';
import type { XvaChunk } from './writer.js';

export interface Extent {
  offset: number;
  length: number;
}

/** Indices of the 1 MiB chunks touched by `extents` (sorted, non-overlapping), in order, once each. */
export function* chunkIndices(virtualSize: number, extents?: readonly Extent[]): Generator<number> {
  const count = Math.ceil(virtualSize / CHUNK_SIZE);
  if (!extents) {
    for (let i = 0; i < count; i++) yield i;
    return;
  }
  let next = 0;
  for (const e of extents) {
    if (e.length <= 0) continue;
    const first = Math.max(next, Math.floor(e.offset / CHUNK_SIZE));
    const end = Math.min(count, Math.ceil((e.offset + e.length) / CHUNK_SIZE));
    for (let i = first; i < end; i++) yield i;
    next = Math.max(next, end);
  }
}

/**
 * Chunks read with `read(offset, length)` for every chunk touching a data extent (all chunks
 * when `extents` is absent), keeping up to `concurrency` reads in flight, yielded in order.
 */
export async function* chunksFromReader(
  read: (offset: number, length: number) => Promise<Uint8Array>,
  virtualSize: number,
  opts: { extents?: readonly Extent[]; concurrency?: number } = {},
): AsyncGenerator<XvaChunk> {
  const depth = Math.max(1, opts.concurrency ?? 4);
  const indices = chunkIndices(virtualSize, opts.extents);
  const inflight: Promise<XvaChunk>[] = [];
  const start = () => {
    const r = indices.next();
    if (r.done) return false;
    const offset = r.value * CHUNK_SIZE;
    const length = Math.min(CHUNK_SIZE, virtualSize - offset);
    const p = read(offset, length).then((data) => {
      if (data.byteLength !== length)
        throw new Error(`short read at ${offset}: ${data.byteLength}/${length}`);
      return { offset, data };
    });
    p.catch(() => {}); // rejections surface when awaited below
    inflight.push(p);
    return true;
  };
  while (inflight.length < depth && start());
  try {
    while (inflight.length) {
      const c = await inflight.shift()!;
      start();
      yield c;
    }
  } finally {
    inflight.length = 0;
  }
}

/** A sequential byte stream of the whole disk cut into 1 MiB chunks; fewer bytes read as zeros. */
export async function* chunksFromStream(
  source: AsyncIterable<Uint8Array>,
  virtualSize: number,
): AsyncGenerator<XvaChunk> {
  let offset = 0;
  let buf = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, virtualSize));
  let fill = 0;
  for await (const piece of source) {
    let p = 0;
    while (p < piece.byteLength) {
      if (offset >= virtualSize) throw new RangeError(`stream longer than virtual size ${virtualSize}`);
      const n = Math.min(buf.length - fill, piece.byteLength - p);
      buf.set(piece.subarray(p, p + n), fill);
      fill += n;
      p += n;
      if (fill === buf.length) {
        yield { offset, data: buf };
        offset += buf.length;
        fill = 0;
        if (offset < virtualSize) buf = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, virtualSize - offset));
      }
    }
  }
  if (fill > 0) {
    buf.fill(0, fill);
    yield { offset, data: buf };
  }
}
