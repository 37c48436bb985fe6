// Shared pieces of the XVA tests: temp dirs, the independent Python tool, a known disk set.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { XenApiError } from '../../../src/shared/errors.js';
import type { XvaConsumer } from '../../../src/shared/xva/reader.js';

export const MiB = 1024 * 1024;
export const PY = '/usr/bin/python3';
export const TOOL = fileURLToPath(new URL('./xva_tool.py', import.meta.url));
export const run = promisify(execFile);

export async function tempDir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'berth-xva-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

export async function py(...args: string[]): Promise<string> {
  const { stdout } = await run(PY, [TOOL, ...args], { maxBuffer: 64 * MiB });
  return stdout;
}

export async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of src) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

export async function* inPieces(buf: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Disks with known data: random chunks, zero chunks, a short zero last chunk, an all-zero disk. */
export function knownDisks() {
  const a = Buffer.alloc(5 * MiB + 12345);
  randomBytes(MiB).copy(a, 0); // chunk 0 data
  randomBytes(MiB).copy(a, 2 * MiB); // chunk 2 data; 1 and 3 zero
  randomBytes(1000).copy(a, 4 * MiB + 300_000); // chunk 4 partly data; chunk 5 (short) zero
  const b = Buffer.alloc(3 * MiB); // all zero: only chunks 0 and 2 are written
  const c = randomBytes(512 * 1024); // one short chunk
  return { 'Ref:1': a, 'Ref:10': b, 'Ref:2': c } as Record<string, Buffer>;
}

/** The members xapi's layout gives knownDisks(), in order. */
export const KNOWN_MEMBERS = [
  'ova.xml',
  ...['Ref:1/00000000', 'Ref:1/00000002', 'Ref:1/00000004', 'Ref:1/00000005'],
  ...['Ref:10/00000000', 'Ref:10/00000002'],
  'Ref:2/00000000',
].flatMap((n) => (n === 'ova.xml' ? [n] : [n, `${n}.xxhash`]));

/** A consumer that rebuilds each disk in memory. */
export function rebuild(sizes: Record<string, number>) {
  const disks: Record<string, Buffer> = {};
  for (const [ref, size] of Object.entries(sizes)) disks[ref] = Buffer.alloc(size);
  let delivered = 0;
  const consumer: XvaConsumer = {
    metadata: () => Object.entries(sizes).map(([ref, virtualSize]) => ({ ref, virtualSize })),
    chunk: async ({ ref, offset, data }) => {
      data.copy(disks[ref], offset);
      delivered += data.length;
      await new Promise((r) => setImmediate(r)); // a consumer that takes its time
    },
  };
  return { disks, consumer, delivered: () => delivered };
}

export const xenError = (code: string, re?: RegExp) => (e: unknown) => {
  if (!(e instanceof XenApiError)) throw e;
  if (e.code !== code) throw new Error(`expected ${code}, got ${e.code} ${e.params.join(' ')}`);
  if (re && !re.test(e.params.join(' '))) throw new Error(`message ${e.params.join(' ')} !~ ${re}`);
  return true;
};
