// npx tsx bench/data-plane/raw-vdi.ts — GET /export_raw_vdi?format=vhd of a 4 GiB disk holding
// 1 GiB of incompressible data (the rest zeros) to a file, against `qemu-img convert -O vpc` of
// the same qcow2 image to a file (issue 14's target: at least 0.9 of its throughput). A real
// in-process manager and agent (file SR), downloaded by curl; best of BENCH_ROUNDS runs each
// (default 2).
// BENCH_RAW_VDI_GIB / BENCH_RAW_VDI_DATA_GIB change the sizes.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runChecked } from '../../src/shared/exec.js';
import { volumePath } from '../../src/shared/host/volume-path.js';
import { startManager } from '../../test/helpers/manager.js';
import { spreadRandomRaw } from '../data-plane-disk.js';
import { type Row, runWhenMain } from '../data-plane-row.js';
import { vdiRecord } from '../../test/helpers/records.js';

export type { Row };

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = Number(process.env.BENCH_RAW_VDI_GIB ?? 4) * GiB;
const DATA = Number(process.env.BENCH_RAW_VDI_DATA_GIB ?? 1) * GiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The download as a user makes it: curl in its own process, to a file. */
const download = (url: string, file: string) =>
  runChecked('curl', ['--fail', '--silent', '--show-error', '-o', file, url]);

export async function run(): Promise<Row[]> {
  // startManager's cleanups (and its temp dir) run at the end, as a test's after-hooks would.
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  try {
    const m = await startManager(t);
    const svc = m.manager.svc;
    const s = svc.sessions.validate(svc.sessions.localLogin('bench-raw-vdi'));
    const call = (wire: string, ...args: unknown[]) => svc.call(s, wire, args) as Promise<any>;
    const pool = (await call('pool.get_all'))[0];
    const sr = await call('pool.get_default_SR', pool);
    const vdi = await call('VDI.create', vdiRecord(sr, SIZE, { name_label: 'bench' }));
    const rec = await call('VDI.get_record', vdi);
    const srRec = await call('SR.get_record', sr);
    const pbd = await call('PBD.get_record', srRec.PBDs[0]);
    const image = volumePath(srRec.type, srRec.uuid, pbd.device_config, rec.location)!.path;
    // DATA random bytes spread over the disk in 256 MiB runs; zeros elsewhere.
    const raw = join(m.dataDir, 'data.raw');
    await spreadRandomRaw(raw, SIZE, DATA);
    await runChecked('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', raw, image]);
    await runChecked('rm', ['-f', raw]);

    const url = `${m.httpUrl}/export_raw_vdi?${new URLSearchParams({ session_id: s.ref, vdi, format: 'vhd' })}`;
    const peerOut = join(m.dataDir, 'peer.vhd');
    const berthOut = join(m.dataDir, 'berth.vhd');
    const peer = async () => {
      await runChecked('rm', ['-f', peerOut]);
      return timed(() =>
        runChecked('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'vpc', image, peerOut]),
      );
    };
    const berth = async () => {
      await runChecked('rm', ['-f', berthOut]);
      return timed(() => download(url, berthOut));
    };
    await peer(); // warm the page cache for both
    const times = { peer: [] as number[], berth: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      times.berth.push(await berth());
      times.peer.push(await peer());
    }
    const rate = (secs: number) => SIZE / MiB / secs;
    const b = rate(Math.min(...times.berth));
    const p = rate(Math.min(...times.peer));
    const sizeB = statSync(berthOut).size;
    const sizeP = statSync(peerOut).size;
    return [
      {
        name: `/export_raw_vdi?format=vhd vs qemu-img convert -O vpc (${SIZE / GiB} GiB, ${DATA / GiB} GiB data)`,
        berth: Math.round(b),
        peer: Math.round(p),
        ratio: Number((b / p).toFixed(2)),
        target: 0.9,
        unit: 'MiB/s of virtual disk',
      },
      {
        name: 'vhd output size, Berth vs qemu-img (lower is better)',
        berth: Math.round(sizeB / MiB),
        peer: Math.round(sizeP / MiB),
        ratio: Number((sizeB / sizeP).toFixed(3)),
        target: 1.05,
        unit: 'MiB',
      },
    ];
  } finally {
    for (const fn of cleanups) await fn();
  }
}

runWhenMain(import.meta.url, run);
