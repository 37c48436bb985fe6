// Streams a sparse virtual disk as raw bytes (`format=raw`): the extents' data read from the
// source, zeros for the holes, exactly `virtualSize` bytes.
import { normalizeExtents } from './extents.js';
import {
  type DiskPiece,
  type DiskSource,
  importError,
  isZero,
  MiB,
  readAhead,
  StreamCursor,
} from './stream.js';

const ZEROS = Buffer.alloc(MiB);
const READ = 2 * MiB;

/** Ranges to read (at most 2 MiB each) and zero gaps, in disk order. */
function* plan(source: Pick<DiskSource, 'virtualSize' | 'extents'>) {
  let pos = 0;
  for (const e of normalizeExtents(source.extents, source.virtualSize)) {
    if (e.offset > pos) yield { zero: true, offset: pos, length: e.offset - pos };
    for (let o = e.offset; o < e.offset + e.length; o += READ)
      yield { zero: false, offset: o, length: Math.min(READ, e.offset + e.length - o) };
    pos = e.offset + e.length;
  }
  if (pos < source.virtualSize) yield { zero: true, offset: pos, length: source.virtualSize - pos };
}

export async function* writeRaw(source: DiskSource): AsyncGenerator<Buffer> {
  const steps = [...plan(source)];
  const reads = readAhead(
    source,
    steps.filter((s) => !s.zero),
  );
  for (const s of steps) {
    if (s.zero) {
      for (let left = s.length; left > 0; left -= ZEROS.length)
        yield ZEROS.subarray(0, Math.min(left, ZEROS.length));
    } else {
      const r = await reads.next();
      if (r.done) throw new Error('raw writer: read plan exhausted');
      yield r.value.data;
    }
  }
}

/**
 * Reads a raw image of `length` bytes from a stream, yielding its non-zero 1 MiB pieces (a fresh
 * VDI already reads as zeros). Fails with IMPORT_ERROR_PREMATURE_EOF if the stream is shorter and
 * IMPORT_ERROR if it is longer.
 */
export async function* readRaw(
  source: AsyncIterable<Buffer | Uint8Array>,
  length: number,
): AsyncGenerator<DiskPiece> {
  const cur = new StreamCursor(source);
  try {
    for (let pos = 0; pos < length; pos += MiB) {
      const data = await cur.read(Math.min(MiB, length - pos));
      if (!isZero(data)) yield { offset: pos, data };
    }
    const extra = await cur.drain(0);
    if (extra.count) throw importError(`${extra.count} bytes beyond the declared length ${length}`);
  } finally {
    await cur.close();
  }
}
