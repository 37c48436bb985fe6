// xapi's `chunked` raw upload (/import_raw_vdi?chunked=…, vhd-tool's Chunked): a sequence of
// 12-byte headers {offset: u64 LE, length: u32 LE}, each followed by `length` bytes for that
// byte offset of the disk, ended by the header {0, 0}. Yields the non-zero pieces (at most 1 MiB).
import { type DiskPiece, importError, isZero, MiB, StreamCursor } from './stream.js';

export const CHUNK_HEADER = 12;

export async function* readChunked(
  body: AsyncIterable<Buffer | Uint8Array>,
  virtualSize: number,
): AsyncGenerator<DiskPiece> {
  const cur = new StreamCursor(body);
  try {
    for (;;) {
      const h = await cur.read(CHUNK_HEADER);
      const offset = Number(h.readBigUInt64LE(0));
      const length = h.readUInt32LE(8);
      if (offset === 0 && length === 0) break;
      if (!Number.isSafeInteger(offset) || offset + length > virtualSize)
        throw importError(
          `chunk of ${length} bytes at ${offset} lies beyond the disk's ${virtualSize} bytes`,
        );
      for (let done = 0; done < length; done += MiB) {
        const data = await cur.read(Math.min(MiB, length - done));
        if (!isZero(data)) yield { offset: offset + done, data };
      }
    }
    const extra = await cur.drain(0);
    if (extra.count) throw importError(`${extra.count} bytes after the end-of-stream chunk`);
  } finally {
    await cur.close();
  }
}
