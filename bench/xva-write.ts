// Throughput of the XVA writer with zstd against `zstd -T0` alone on the same bytes.
// Then reading the XVA back with readXva against `zstd -d` alone.
// Usage: npx tsx bench/xva-write.ts [GiB=1]. Incompressible data: a 64 MiB random pool cycled
// (zstd's window at level 3 is far smaller, so it cannot see the repeats).
// Baselines: `zstd -T0` reading the raw bytes from a file (page cache) to /dev/null, and the same
// bytes fed through Berth's zstd pipe without the tar/checksum layer.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { compressStream } from '../src/shared/xva/compress.js';
import { berthOvaVersion, encodeOvaXml } from '../src/shared/xva/ova-xml.js';
import { readXva } from '../src/shared/xva/reader.js';
import { type XvaChunk, xvaTarStream } from '../src/shared/xva/writer.js';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 1) * 1024 * MiB;
const pool = randomBytes(64 * MiB);
const piece = (off: number) => pool.subarray(off % pool.length, (off % pool.length) + MiB);

async function* chunks(): AsyncGenerator<XvaChunk> {
  for (let off = 0; off < size; off += MiB) yield { offset: off, data: piece(off) };
}
async function* raw(): AsyncGenerator<Buffer> {
  for (let off = 0; off < size; off += MiB) yield piece(off);
}
async function drain(src: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const b of src) n += b.byteLength;
  return n;
}
async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const dir = await mkdtemp(join(tmpdir(), 'berth-xva-bench-'));
try {
  const file = join(dir, 'raw');
  await pipeline(raw(), createWriteStream(file));
  const cli = await timed(
    () =>
      new Promise<void>((res, rej) => {
        const devnull = openSync('/dev/null', 'w');
        spawn('zstd', ['-q', '-c', '-T0', file], { stdio: ['ignore', devnull, 'inherit'] })
          .on('exit', (c) => (c === 0 ? res() : rej(new Error(`zstd ${c}`))))
          .on('error', rej);
      }),
  );
  let pipeOut = 0;
  const pipe = await timed(async () => (pipeOut = await drain(compressStream(raw(), 'zstd'))));
  let xvaOut = 0;
  const ova = encodeOvaXml(berthOvaVersion(), []);
  const xva = await timed(
    async () =>
      (xvaOut = await drain(
        compressStream(
          xvaTarStream(ova, [{ ref: 'Ref:1', virtualSize: size, chunks: chunks() }], {
            keepAliveMs: 0,
            hashInWorker: process.env.XVA_HASH_WORKER === '1',
          }),
          'zstd',
        ),
      )),
  );
  const mbps = (s: number) => `${(size / MiB / s).toFixed(0)} MiB/s (${s.toFixed(2)} s)`;
  console.log(`zstd -T0 file->/dev/null : ${mbps(cli)}`);
  console.log(`raw via Berth zstd pipe  : ${mbps(pipe)}, ${pipeOut} bytes`);
  console.log(`XVA + zstd (Berth)       : ${mbps(xva)}, ${xvaOut} bytes`);
  console.log(
    `XVA/zstd-CLI throughput  : ${(cli / xva).toFixed(3)}; output ${(xvaOut / pipeOut).toFixed(4)}x`,
  );

  // Reading it back: readXva (decompress, parse, verify every XXH64) against `zstd -d` alone.
  const packed = join(dir, 'x.xva.zst');
  await pipeline(
    compressStream(
      xvaTarStream(ova, [{ ref: 'Ref:1', virtualSize: size, chunks: chunks() }], { keepAliveMs: 0 }),
      'zstd',
    ),
    createWriteStream(packed),
  );
  const unzstd = await timed(
    () =>
      new Promise<void>((res, rej) => {
        const devnull = openSync('/dev/null', 'w');
        spawn('zstd', ['-q', '-d', '-c', packed], { stdio: ['ignore', devnull, 'inherit'] })
          .on('exit', (c) => (c === 0 ? res() : rej(new Error(`zstd ${c}`))))
          .on('error', rej);
      }),
  );
  let got = 0;
  const read = await timed(() =>
    readXva(createReadStream(packed, { highWaterMark: MiB }), {
      metadata: () => [{ ref: 'Ref:1', virtualSize: size }],
      chunk: (c) => void (got += c.data.length),
    }),
  );
  if (got !== size) throw new Error(`read ${got} of ${size}`);
  console.log(`zstd -d file->/dev/null  : ${mbps(unzstd)}`);
  console.log(`readXva (zstd, verified) : ${mbps(read)}; ${(unzstd / read).toFixed(3)} of zstd -d alone`);
  if (process.env.XVA_KEEP) console.log(packed);
} finally {
  if (!process.env.XVA_KEEP) await rm(dir, { recursive: true, force: true });
}
