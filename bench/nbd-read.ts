// npx tsx bench/nbd-read.ts — read throughput of Berth's NBD client against nbdcopy, both reading
// the same export (a real agent's blockdev_nbd_open of a 1 GiB qcow2 volume full of random data)
// to nowhere. BENCH_NBD_MIB sets the size; BENCH_ROUNDS the runs of each (best is reported).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked } from '../src/shared/exec.js';
import { connectNbd, readStream } from '../src/shared/nbd/index.js';
import { startAgentIn } from '../test/helpers/test-agent.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_NBD_MIB ?? 1024) * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-nbd-'));

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main() {
  const a = await startAgentIn(dir);
  try {
    const sr = {
      uuid: randomUUID(),
      type: 'file',
      deviceConfig: { location: join(dir, 'state', 'sr', 'a') },
    };
    await a.client.sr_create(sr);
    const location = randomUUID();
    const v = await a.client.blockdev_create(sr, location, SIZE);
    const raw = join(dir, 'random.raw');
    await runChecked('dd', ['if=/dev/urandom', `of=${raw}`, 'bs=1M', `count=${SIZE / MiB}`, 'status=none']);
    await runChecked('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', raw, v.path]);
    rmSync(raw);
    const x = await a.client.blockdev_nbd_open(sr, location, { readOnly: true });
    const uri = `nbd+unix:///${x.exportName}?socket=${x.socket}`;
    const rate = (s: number) => `${(SIZE / MiB / s).toFixed(0)} MiB/s`;
    const results: Record<string, number[]> = {};
    const variants: [string, () => Promise<unknown>][] = [
      ['nbdcopy (defaults)', () => runChecked('nbdcopy', [uri, 'null:'])],
      ['nbdcopy --connections=1', () => runChecked('nbdcopy', ['--connections=1', uri, 'null:'])],
      ...[
        [256 * 1024, 32],
        [128 * 1024, 64],
        [MiB, 8],
      ].map(([request, inflight]): [string, () => Promise<unknown>] => [
        `berth readStream ${request / 1024} KiB x ${inflight}`,
        async () => {
          const c = await connectNbd({ socket: x.socket }, { exportName: x.exportName });
          let n = 0;
          for await (const d of readStream(c, {
            chunkSize: MiB,
            requestSize: request,
            maxInFlight: inflight,
          }))
            n += d.length;
          await c.disconnect();
          if (n !== SIZE) throw new Error(`read ${n} of ${SIZE}`);
        },
      ]),
    ];
    for (let r = 0; r < ROUNDS; r++)
      for (const [name, fn] of variants) (results[name] ??= []).push(await timed(fn));
    for (const [name, times] of Object.entries(results))
      console.log(
        `${name.padEnd(34)} best ${rate(Math.min(...times))}  (runs: ${times.map(rate).join(', ')})`,
      );
    await a.client.blockdev_nbd_close(x.id);
  } finally {
    a.client.close();
    await a.agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
