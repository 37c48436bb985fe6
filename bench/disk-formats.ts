// npx tsx bench/disk-formats.ts — the disk-format writers against qemu-img on the same input:
// a 1 GiB raw file holding 256 MiB of random data (64 runs of 4 MiB, one every 16 MiB), the rest
// holes. Berth's writers read the file through a DiskSource (the known data extents, as NBD block
// status would report them) and write a file; qemu-img converts the same file (it finds the holes
// itself with SEEK_DATA). Both read from the page cache after the first round. Each output is
// checked once with qemu-img compare. Rounds alternate; the median is reported.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeQcow2 } from '../src/shared/disk-formats/qcow2-writer.js';
import type { DiskSource } from '../src/shared/disk-formats/stream.js';
import { writeVhd } from '../src/shared/disk-formats/vhd-writer.js';
import { run, runChecked } from '../src/shared/exec.js';

const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-diskfmt-'));
const raw = join(dir, 'disk.raw');
const extents = Array.from({ length: 64 }, (_, i) => ({ offset: i * 16 * MiB, length: 4 * MiB }));

async function makeInput() {
  const fh = await open(raw, 'w');
  await fh.truncate(SIZE);
  for (const e of extents) await fh.write(randomBytes(e.length), 0, e.length, e.offset);
  await fh.close();
}

async function berth(format: 'vhd' | 'qcow2', out: string) {
  const fh = await open(raw, 'r');
  const source: DiskSource = {
    virtualSize: SIZE,
    extents,
    async read(offset, length) {
      const b = Buffer.allocUnsafe(length);
      await fh.read(b, 0, length, offset);
      return b;
    },
  };
  try {
    const gen = format === 'vhd' ? writeVhd(source) : writeQcow2(source);
    await pipeline(Readable.from(gen), createWriteStream(out, { highWaterMark: 4 * 1024 * 1024 }));
  } finally {
    await fh.close();
  }
}

/** qemu-img convert under /usr/bin/time: wall and CPU (user + system) seconds. */
async function qemu(format: 'vhd' | 'qcow2', out: string): Promise<{ wall: number; cpu: number }> {
  const fmt = format === 'vhd' ? ['vpc', '-o', 'subformat=dynamic'] : ['qcow2'];
  const r = await run('/usr/bin/time', [
    '-f',
    '%e %U %S',
    'qemu-img',
    'convert',
    '-f',
    'raw',
    '-O',
    ...fmt,
    raw,
    out,
  ]);
  if (r.code !== 0) throw new Error(`qemu-img convert failed: ${r.stderr}`);
  const [wall, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wall, cpu: user + sys };
}

async function ours(format: 'vhd' | 'qcow2', out: string): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await berth(format, out);
  const c = process.cpuUsage(c0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs: number[]) => Math.min(...xs);
const rate = (s: number) => `${(256 / s).toFixed(0)} MiB/s`;

async function main() {
  await makeInput();
  console.log(
    `load average at start: ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`,
  );
  for (const format of ['vhd', 'qcow2'] as const) {
    const b: { wall: number; cpu: number }[] = [];
    const q: { wall: number; cpu: number }[] = [];
    const outB = join(dir, `berth.${format}`);
    const outQ = join(dir, `qemu.${format}`);
    for (let r = 0; r < ROUNDS; r++) {
      b.push(await ours(format, outB));
      q.push(await qemu(format, outQ));
    }
    await runChecked('qemu-img', [
      'compare',
      '-f',
      'raw',
      '-F',
      format === 'vhd' ? 'vpc' : 'qcow2',
      raw,
      outB,
    ]);
    const bw = b.map((x) => x.wall);
    const qw = q.map((x) => x.wall);
    console.log(
      `${format} (256 MiB of data in a 1 GiB disk, ${ROUNDS} rounds):\n` +
        `  Berth    wall median ${median(bw).toFixed(3)} s (${rate(median(bw))}), best ${min(bw).toFixed(3)} s (${rate(min(bw))}), CPU median ${median(b.map((x) => x.cpu)).toFixed(3)} s\n` +
        `  qemu-img wall median ${median(qw).toFixed(3)} s (${rate(median(qw))}), best ${min(qw).toFixed(3)} s (${rate(min(qw))}), CPU median ${median(q.map((x) => x.cpu)).toFixed(3)} s\n` +
        `  throughput ratio Berth/qemu-img: median ${(median(qw) / median(bw)).toFixed(2)}, best ${(min(qw) / min(bw)).toFixed(2)} (target >= 0.9)`,
    );
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
