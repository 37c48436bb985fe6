// Whole-stream compression of an XVA: gzip through node:zlib, zstd through the `zstd` CLI (Node 20's
// zlib has none) spawned with an argument array. Both directions are streams with backpressure;
// an abort signal, a consumer that goes away or a failing source kills the child.
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

export type XvaCompression = 'none' | 'gzip' | 'zstd';

/** xapi's export handler: use_compression=true|gzip → gzip, zstd → zstd, anything else → none. */
export function compressionOfParam(v: string | undefined): XvaCompression {
  return v === 'true' || v === 'gzip' ? 'gzip' : v === 'zstd' ? 'zstd' : 'none';
}

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC = [0x1f, 0x8b];

/** Compression of a stream from its first bytes (zstd and gzip magic numbers; else plain tar). */
export function detectCompression(head: Uint8Array): XvaCompression {
  const starts = (m: number[]) => head.length >= m.length && m.every((b, i) => head[i] === b);
  return starts(ZSTD_MAGIC) ? 'zstd' : starts(GZIP_MAGIC) ? 'gzip' : 'none';
}

/** zstd at its default level 3 (as xapi's Zstd.Default) but using every core. */
export const ZSTD_COMPRESS_ARGS = ['-q', '-c', '-T0'];
export const ZSTD_DECOMPRESS_ARGS = ['-q', '-d', '-c'];

const asReadable = (src: AsyncIterable<Uint8Array>): Readable =>
  src instanceof Readable ? src : Readable.from(src, { objectMode: false, highWaterMark: 1 << 20 });

/**
 * Runs `cmd args` with `source` on stdin and returns its stdout. The result ends only after the
 * child exited 0; a non-zero exit, a source error or an abort destroys it with an error; destroying
 * it (the consumer went away) kills the child.
 */
export function spawnFilter(
  cmd: string,
  args: readonly string[],
  source: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
  let stderr = '';
  let failed: Error | undefined;
  const fail = (e: Error) => {
    if (failed) return;
    failed = e;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    out.destroy(e);
  };
  child.on('error', (e) => fail(e));
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  child.stdout.pipe(out, { end: false });
  let stdoutEnded = false;
  let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
  const settle = () => {
    if (failed || !stdoutEnded || !exit) return;
    if (exit.code === 0) out.end();
    else fail(new Error(`${cmd} failed (${exit.code ?? exit.sig}): ${stderr.trim()}`));
  };
  child.stdout.on('end', () => {
    stdoutEnded = true;
    settle();
  });
  child.on('close', (code, sig) => {
    exit = { code, sig };
    settle();
  });
  pipeline(asReadable(source), child.stdin).catch((e: NodeJS.ErrnoException) => {
    // EPIPE: the child stopped reading (it failed or was killed); its exit status tells why.
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE') fail(e);
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (signal) {
    const onAbort = () => fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    out.on('close', () => signal.removeEventListener('abort', onAbort));
  }
  return out;
}

/** Pipes a zlib transform behind `source`, destroying it on source error or abort. */
function zlibFilter(
  t: ReturnType<typeof createGzip>,
  source: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
) {
  pipeline(asReadable(source), t, { signal }).catch((e) => t.destroy(e));
  return t;
}

/** The stream compressed as `kind` ('none' passes it through as a Readable). */
export function compressStream(
  source: AsyncIterable<Uint8Array>,
  kind: XvaCompression,
  signal?: AbortSignal,
): Readable {
  if (kind === 'gzip') return zlibFilter(createGzip(), source, signal);
  if (kind === 'zstd') return spawnFilter('zstd', ZSTD_COMPRESS_ARGS, source, signal);
  const r = asReadable(source);
  if (signal) signal.addEventListener('abort', () => r.destroy(signal.reason), { once: true });
  return r;
}

/** The stream decompressed from `kind`. */
export function decompressStream(
  source: AsyncIterable<Uint8Array>,
  kind: XvaCompression,
  signal?: AbortSignal,
): Readable {
  if (kind === 'gzip') return zlibFilter(createGunzip(), source, signal);
  if (kind === 'zstd') return spawnFilter('zstd', ZSTD_DECOMPRESS_ARGS, source, signal);
  return asReadable(source);
}
