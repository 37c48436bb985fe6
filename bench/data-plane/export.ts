// npx tsx bench/data-plane/export.ts — GET /export?use_compression=zstd of a halted VM whose one
// disk is 4 GiB (qcow2 on a file SR) holding 1 GiB of random data and zeros elsewhere, written to
// a file, against what an administrator would run without Berth: `qemu-img convert -O raw` of the
// same image then `zstd -T0` of the result (qemu-img refuses a pipe or FIFO as its output: "Could
// not resize file"; its raw output is sparse, so the zeros cost no disk writes). Also reported,
// for information: `nbdcopy <the agent's NBD export> - | zstd -T0`, a streaming peer.
// Throughput = virtual size / wall time; Berth's client is curl (another process, as real clients
// are). BENCH_EXPORT_GIB / BENCH_EXPORT_DATA_GIB set the sizes; BENCH_EXPORT_PLAIN=1 also times
// use_compression=false.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { TestContext } from 'node:test';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { runChecked } from '../../src/shared/exec.js';
import { attachedSr } from '../../src/manager/storage/records.js';
import { imageOf } from '../../test/manager/http/export-harness.js';
import { startStorageManager } from '../../test/manager/storage/harness.js';
import type { Row } from '../data-plane-row.js';
import { vbdRecord, vdiRecord } from '../../test/helpers/records.js';

export type { Row };

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = Number(process.env.BENCH_EXPORT_GIB ?? 4) * GiB;
const DATA = Number(process.env.BENCH_EXPORT_DATA_GIB ?? 1) * GiB;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** `a args | b args > file`, argument arrays only; rejects unless both exit 0. */
function pipeToFile(a: [string, string[]], b: [string, string[]], file: string): Promise<void> {
  const out = createWriteStream(file);
  const pa = spawn(a[0], a[1], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pb = spawn(b[0], b[1], { stdio: ['pipe', 'pipe', 'inherit'] });
  pa.stdout.pipe(pb.stdin);
  const exit = (p: ReturnType<typeof spawn>, name: string) =>
    new Promise<void>((res, rej) =>
      p.on('close', (code) => (code === 0 ? res() : rej(new Error(`${name} exited ${code}`)))),
    );
  return Promise.all([exit(pa, a[0]), exit(pb, b[0]), pipeline(pb.stdout!, out)]).then(() => undefined);
}

export async function run(): Promise<Row[]> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-export-'));
  try {
    const m = await startStorageManager(t);
    const pool = (await m.call<string[]>('pool.get_all'))[0];
    const sr = await m.call<string>('pool.get_default_SR', pool);
    const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'bench-export' }));
    const vdi = await m.call<string>('VDI.create', vdiRecord(sr, SIZE, { name_label: 'bench disk' }));
    await m.call('VBD.create', vbdRecord(vm, vdi));
    const image = await imageOf(m, vdi);
    const random = join(dir, 'random.raw');
    await runChecked('dd', [
      'if=/dev/urandom',
      `of=${random}`,
      'bs=1M',
      `count=${DATA / MiB}`,
      'status=none',
    ]);
    // Into the first DATA bytes of the 4 GiB image (-n: the existing, larger image is the target).
    await runChecked('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', random, image]);
    rmSync(random);

    const berthFile = join(dir, 'berth.xva.zst');
    const url = `${m.httpUrl}/export?session_id=${m.session.ref}&ref=${vm}&use_compression=zstd`;
    // curl as the client: a separate process, as a real client is (not this one's event loop).
    const berthS = await timed(() => runChecked('curl', ['-sSf', '-o', berthFile, url]));
    if (process.env.BENCH_EXPORT_PLAIN) {
      const s = await timed(() =>
        runChecked('curl', ['-sSf', '-o', `${berthFile}.tar`, url.replace('zstd', 'false')]),
      );
      console.log(`uncompressed /export: ${(SIZE / MiB / s).toFixed(1)} MiB/s`);
      rmSync(`${berthFile}.tar`);
    }
    const berthBytes = statSync(berthFile).size;
    rmSync(berthFile);

    const rawFile = join(dir, 'peer.raw');
    const peerFile = join(dir, 'peer.raw.zst');
    const peerS = await timed(async () => {
      await runChecked('qemu-img', ['convert', '-U', '-O', 'raw', image, rawFile]);
      await runChecked('zstd', ['-q', '-T0', '-f', rawFile, '-o', peerFile]);
    });
    const peerBytes = statSync(peerFile).size;
    rmSync(rawFile);
    rmSync(peerFile);

    const x = await m.manager.svc.hosts
      .local()
      .blockdev_nbd_open(attachedSr(m.manager.svc, sr), String(await m.call('VDI.get_location', vdi)), {
        readOnly: true,
      });
    const nbdFile = join(dir, 'nbdcopy.raw.zst');
    const uri = `nbd+unix:///${x.exportName}?socket=${x.socket}`;
    const streamS = await timed(() =>
      pipeToFile(['nbdcopy', [uri, '-']], ['zstd', ['-q', '-T0', '-c']], nbdFile),
    );
    rmSync(nbdFile);
    await m.manager.svc.hosts.local().blockdev_nbd_close(x.id);
    const rate = (s: number) => SIZE / MiB / s;
    const rows: Row[] = [
      {
        name: 'export zstd: /export vs qemu-img convert -O raw + zstd -T0',
        berth: rate(berthS),
        peer: rate(peerS),
        ratio: rate(berthS) / rate(peerS),
        target: '>= 0.9',
        unit: 'MiB/s',
      },
      {
        name: 'export zstd: output size, /export vs qemu-img + zstd',
        berth: berthBytes / MiB,
        peer: peerBytes / MiB,
        ratio: berthBytes / peerBytes,
        target: '<= 1.05',
        unit: 'MiB',
      },
    ];
    rows.push({
      name: 'export zstd: /export vs nbdcopy | zstd -T0 (information)',
      berth: rate(berthS),
      peer: rate(streamS),
      ratio: rate(berthS) / rate(streamS),
      target: '-',
      unit: 'MiB/s',
    });
    return rows;
  } finally {
    for (const fn of cleanups) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run())
    console.log(
      `${r.name.padEnd(62)} berth ${r.berth.toFixed(1)} ${r.unit}  peer ${r.peer?.toFixed(1)} ${r.unit}  ratio ${r.ratio?.toFixed(3)} (target ${r.target})`,
    );
}
