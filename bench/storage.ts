// npm run bench:storage — storage speed on real qcow2 files, in a manager process with storage:
//   1. VM.clone's disk work (copyVmDisks 'clone' + the VM record) for a VM with a 20 GiB virtual /
//      1 GiB written disk, and for the same VM with a 1 GiB disk: target ≤ 100 ms, flat in size;
//   2. VDI.copy throughput against `qemu-img convert` of the same image: target ≥ 0.9 of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseVmRecord } from '../src/manager/bootstrap/vm-record.js';
import { parseConfig } from '../src/manager/config.js';
import { Manager } from '../src/manager/manager.js';
import { openStorage } from '../src/manager/storage/startup.js';
import { copyVmDisks, vmDisks } from '../src/manager/storage/vm-disks.js';
import { runChecked } from '../src/shared/exec.js';
import { vbdRecord, vdiRecord } from '../test/helpers/records.js';

const GiB = 1024 ** 3;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-storage-'));

async function main() {
  const config = parseConfig(
    ['--data-dir', dir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dir, 'x.sock')],
    {},
  );
  const m = await Manager.open(config, { timers: false, agent: false, networking: false });
  await openStorage(m.svc, { dataDir: dir });
  const s = m.svc.sessions.validate(m.svc.sessions.localLogin('bench'));
  const call = (wire: string, ...args: unknown[]) => m.svc.call(s, wire, args) as Promise<any>;
  const sr = String(m.db.get('pool', m.svc.poolRef())!.default_SR);

  async function vmWithDisk(name: string, virtual: number, written: number) {
    const vm = await call('VM.create', baseVmRecord({ name_label: name }));
    const vdi = await call('VDI.create', vdiRecord(sr, virtual, { type: 'system' }));
    await call('VBD.create', vbdRecord(vm, vdi));
    await runChecked('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      `write -P 0x5a 0 ${written}`,
      vmDisks(m.db, vm)[0].path,
    ]);
    return { vm, vdi };
  }

  async function cloneTimes(vm: string) {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const nvm = await call('VM.clone', vm, `clone ${i}`);
      await copyVmDisks(m.svc, vm, nvm, 'clone', { task: `bench-${i}` });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(times.length / 2)], max: times[times.length - 1] };
  }

  const big = await vmWithDisk('20 GiB disk', 20 * GiB, GiB);
  const small = await vmWithDisk('1 GiB disk', GiB, GiB);
  const cBig = await cloneTimes(big.vm);
  const cSmall = await cloneTimes(small.vm);

  // Copy: the 20 GiB / 1 GiB image (now a leaf over a chain of bases), VDI.copy vs qemu-img convert.
  const src = vmDisks(m.db, big.vm)[0].path;
  // Warm the page cache first so neither side is measured against a cold read.
  await runChecked('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', src, join(dir, 'ref.qcow2')]);
  rmSync(join(dir, 'ref.qcow2'));
  const t1 = performance.now();
  await runChecked('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', src, join(dir, 'ref.qcow2')]);
  const convertMs = performance.now() - t1;
  rmSync(join(dir, 'ref.qcow2'));
  const t2 = performance.now();
  await call('VDI.copy', big.vdi, sr, 'OpaqueRef:NULL', 'OpaqueRef:NULL');
  const copyMs = performance.now() - t2;

  const f = (x: number) => x.toFixed(1);
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, ${tmpdir()} filesystem`);
  console.log(
    `VM.clone (record + disks), 20 GiB virtual / 1 GiB written: median ${f(cBig.median)} ms, max ${f(cBig.max)} ms over ${ROUNDS}`,
  );
  console.log(
    `VM.clone (record + disks), 1 GiB virtual / 1 GiB written:  median ${f(cSmall.median)} ms, max ${f(cSmall.max)} ms over ${ROUNDS}`,
  );
  console.log(
    `VDI.copy of 1 GiB written: ${f(copyMs)} ms (${f(1024 / (copyMs / 1000))} MiB/s); qemu-img convert: ${f(convertMs)} ms; ratio ${(convertMs / copyMs).toFixed(2)}`,
  );
  await m.close();
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
