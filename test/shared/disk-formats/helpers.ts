// Test helpers for the disk-format tests: sparse raw files with random data, a DiskSource over a
// file, writing a generator to a file, applying imported pieces to a file, and qemu-img.
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DiskPiece, DiskSource } from '../../../src/shared/disk-formats/stream.js';
import type { Extent } from '../../../src/shared/disk-formats/extents.js';
import { isXenApiError } from '../../../src/shared/errors.js';
import { run } from '../../../src/shared/exec.js';

/** Creates a sparse `size`-byte file with random bytes in `extents`. */
export async function makeRaw(path: string, size: number, extents: Extent[]): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    for (const e of extents)
      for (let o = 0; o < e.length; o += 4 * 1024 * 1024) {
        const n = Math.min(4 * 1024 * 1024, e.length - o);
        await fh.write(randomBytes(n), 0, n, e.offset + o);
      }
  } finally {
    await fh.close();
  }
}

/** A DiskSource reading `path`; the caller closes it with `close()`. */
export async function fileSource(path: string, virtualSize: number, extents: Extent[]) {
  const fh = await open(path, 'r');
  const source: DiskSource & { close(): Promise<void>; reads: number } = {
    virtualSize,
    extents,
    reads: 0,
    async read(offset, length) {
      source.reads++;
      const b = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      b.fill(0, bytesRead);
      return b;
    },
    close: () => fh.close(),
  };
  return source;
}

export async function writeTo(gen: AsyncIterable<Buffer>, path: string): Promise<void> {
  await pipeline(Readable.from(gen), createWriteStream(path));
}

/**
 * Makes `<name>.raw` with random data in `written` (default: `extents`) and exports it through
 * `writer` into `<name>.<ext>`, announcing `extents` as the source's allocated ranges.
 */
export async function exportRaw(
  dir: string,
  name: string,
  ext: string,
  size: number,
  extents: Extent[],
  writer: (src: DiskSource) => AsyncIterable<Buffer>,
  written = extents,
): Promise<{ raw: string; img: string }> {
  const raw = join(dir, `${name}.raw`);
  const img = join(dir, `${name}.${ext}`);
  await makeRaw(raw, size, written);
  const src = await fileSource(raw, size, extents);
  try {
    await writeTo(writer(src), img);
  } finally {
    await src.close();
  }
  return { raw, img };
}

/** `b` as an async iterable of 100 000-byte chunks (what an HTTP body delivers). */
export async function* inChunks(b: Buffer) {
  for (let i = 0; i < b.length; i += 100_000) yield b.subarray(i, i + 100_000);
}

/** An assert.rejects predicate: a XenApiError `code` whose params match `msg` when given. */
export const rejectsWith = (code: string, msg?: RegExp) => (e: unknown) => {
  assert.ok(isXenApiError(e), `expected a XenApiError, got ${e}`);
  assert.equal(e.code, code, e.message);
  if (msg) assert.match(e.params.join(' '), msg);
  return true;
};

/** Writes imported pieces into a fresh sparse file of `size` bytes. */
export async function applyPieces(
  pieces: AsyncIterable<DiskPiece>,
  path: string,
  size: number,
  fresh = true,
) {
  if (fresh) {
    const fh0 = await open(path, 'w');
    await fh0.close();
    await truncate(path, size);
  }
  const fh = await open(path, 'r+');
  let count = 0;
  try {
    for await (const p of pieces) {
      await fh.write(p.data, 0, p.data.length, p.offset);
      count++;
    }
  } finally {
    await fh.close();
  }
  return count;
}

export const fileStream = (path: string) => createReadStream(path, { highWaterMark: 256 * 1024 });

export async function qemuImg(...args: string[]) {
  const r = await run('qemu-img', args, { timeoutMs: 120_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

export async function virtualSizeOf(path: string, format: string): Promise<number> {
  const r = await run('qemu-img', ['info', '--output=json', '-f', format, path]);
  return JSON.parse(r.stdout)['virtual-size'];
}

export const MiB = 1024 * 1024;
