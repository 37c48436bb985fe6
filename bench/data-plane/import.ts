// npx tsx bench/data-plane/import.ts — PUT /import of a zstd XVA of a 4 GiB disk holding 1 GiB of
// incompressible data (the rest zeros), against `zstd -d` of the same disk's raw image followed by
// `qemu-img convert -O qcow2` into the SR's directory (qemu-img cannot read a pipe: the peer
// decompresses to a sparse file first). Issue 14's target: at least 0.9 of the peer's throughput.
// A real in-process manager and agent (file SR); the XVA is written by Python's tarfile + xxhash
// (test/manager/http/xva-build.py) and uploaded by curl; best of BENCH_ROUNDS runs each (default 2).
// BENCH_IMPORT_GIB / BENCH_IMPORT_DATA_GIB change the sizes.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ovaXml, vmToOvaObjects } from '../../src/manager/dataplane/index.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { runChecked } from '../../src/shared/exec.js';
import { startManager } from '../../test/helpers/manager.js';
import { spreadRandomRaw } from '../data-plane-disk.js';
import { type Row, runWhenMain } from '../data-plane-row.js';
import { vbdRecord, vdiRecord } from '../../test/helpers/records.js';

export type { Row };

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = Number(process.env.BENCH_IMPORT_GIB ?? 4) * GiB;
const DATA = Number(process.env.BENCH_IMPORT_DATA_GIB ?? 1) * GiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BUILD = join(import.meta.dirname, '../../test/manager/http/xva-build.py');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function run(): Promise<Row[]> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  try {
    const m = await startManager(t);
    const svc = m.manager.svc;
    const s = svc.sessions.validate(svc.sessions.localLogin('bench-import'));
    const call = (wire: string, ...args: unknown[]) => svc.call(s, wire, args) as Promise<any>;
    const pool = (await call('pool.get_all'))[0];
    const sr = await call('pool.get_default_SR', pool);
    const srRec = await call('SR.get_record', sr);
    const pbd = await call('PBD.get_record', srRec.PBDs[0]);
    const srDir = String(pbd.device_config.location ?? pbd.device_config.path);
    // The source VM's ova.xml (one 4 GiB disk), from the dataplane.
    const vm = await call('VM.create', baseVmRecord({ name_label: 'bench-import' }));
    const vdi = await call('VDI.create', vdiRecord(sr, SIZE, { name_label: 'bench' }));
    await call('VBD.create', vbdRecord(vm, vdi));
    const exp = vmToOvaObjects(svc.db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
    const ova = join(m.dataDir, 'ova.xml');
    writeFileSync(ova, ovaXml(svc.db.model, exp.doc));
    // DATA random bytes spread over the disk in 256 MiB runs; zeros elsewhere.
    const raw = join(m.dataDir, 'data.raw');
    await spreadRandomRaw(raw, SIZE, DATA);
    const xva = join(m.dataDir, 'bench.xva');
    const spec = join(m.dataDir, 'xva.json');
    writeFileSync(
      spec,
      JSON.stringify({
        ova,
        out: xva,
        compression: 'zstd',
        disks: [{ id: exp.disks[0].id, size: SIZE, data: raw }],
      }),
    );
    await runChecked('/usr/bin/python3', [BUILD, spec], { timeoutMs: 1_800_000 });
    const zst = join(m.dataDir, 'data.raw.zst');
    await runChecked('zstd', ['-q', '-T0', raw, '-o', zst]);
    await runChecked('rm', ['-f', raw]);

    const url = `${m.httpUrl}/import?${new URLSearchParams({ session_id: s.ref, sr_id: sr })}`;
    const peerRaw = join(m.dataDir, 'peer.raw');
    const peerOut = join(srDir, 'peer-import.qcow2');
    const peer = async () => {
      await runChecked('rm', ['-f', peerRaw, peerOut]);
      const secs = await timed(async () => {
        await runChecked('zstd', ['-q', '-d', '-f', zst, '-o', peerRaw]);
        await runChecked('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', peerRaw, peerOut]);
      });
      await runChecked('rm', ['-f', peerRaw, peerOut]);
      return secs;
    };
    const imported: string[] = [];
    const berth = async () => {
      const before = new Set(svc.db.all('VM').keys());
      const secs = await timed(() =>
        runChecked('curl', ['--fail', '--silent', '--show-error', '-H', 'Expect:', '-T', xva, url], {
          timeoutMs: 1_800_000,
        }),
      );
      for (const ref of svc.db.all('VM').keys()) if (!before.has(ref)) imported.push(ref);
      // Free the SR for the next round.
      for (const ref of imported.splice(0)) {
        const vbds = (await call('VM.get_VBDs', ref)) as string[];
        const vdis = await Promise.all(vbds.map((b) => call('VBD.get_VDI', b)));
        await call('VM.destroy', ref);
        for (const v of vdis) await call('VDI.destroy', v);
      }
      return secs;
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
    return [
      {
        name: `/import (zstd XVA, ${Math.round(statSync(xva).size / MiB)} MiB) vs zstd -d + qemu-img convert (${SIZE / GiB} GiB, ${DATA / GiB} GiB data)`,
        berth: Math.round(b),
        peer: Math.round(p),
        ratio: Number((b / p).toFixed(2)),
        target: 0.9,
        unit: 'MiB/s of virtual disk',
      },
    ];
  } finally {
    for (const fn of cleanups) await fn();
  }
}

runWhenMain(import.meta.url, run);
