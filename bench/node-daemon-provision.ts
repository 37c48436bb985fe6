// npm run bench:node-daemon-provision — VM.provision through an OS definition (issue 18) against
// doing the same by hand, medians over BENCH_RUNS runs (default 5):
//   berth:    XenAPI VM.provision of a VM cloned from a template naming os/berth-guest (agent and
//             manager as processes): os_validate (the definition's verify), the 64 MiB qcow2 VDI
//             created, attached as a loop device through a raw copy, `create` run, the copy
//             written back, detached;
//   baseline: the same `create` script run directly on a loop device over a sparse 64 MiB raw
//             file with the same environment, then `qemu-img convert -O qcow2` of that image
//             (what an operator would do to get the same volume without Berth).
// Target (issue 18): berth within 1.2x of the baseline.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureGuest, GUEST_DIR, startStack } from '../test/helpers/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZE = 64 * 1024 * 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const DISKS = `<provision><disk device="0" size="${SIZE}" sr="" bootable="true" type="system"/></provision>`;

/** The create script run by hand: loop device, script, detach, convert to qcow2. */
function baselineRun(osDir: string, work: string, i: number): { scriptMs: number; convertMs: number } {
  const raw = join(work, `by-hand-${i}.raw`);
  const out = join(work, `by-hand-${i}.qcow2`);
  writeFileSync(raw, '');
  truncateSync(raw, SIZE);
  const t0 = performance.now();
  const loop = execFileSync('losetup', ['--find', '--show', raw], { encoding: 'utf8' }).trim();
  try {
    execFileSync(join(osDir, 'create'), [], {
      cwd: osDir,
      stdio: 'ignore',
      env: {
        PATH: '/sbin:/bin:/usr/sbin:/usr/bin',
        OS_API_VERSION: '20',
        OS_NAME: 'berth-guest',
        OS_VARIANT: 'default',
        INSTANCE_NAME: `bench-${i}`,
        DISK_COUNT: '1',
        DISK_0_PATH: loop,
        DISK_0_ACCESS: 'rw',
        DISK_0_SIZE: String(SIZE / 1024 / 1024),
      },
    });
  } finally {
    execFileSync('losetup', ['--detach', loop]);
  }
  const t1 = performance.now();
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, out]);
  const t2 = performance.now();
  rmSync(raw);
  rmSync(out);
  return { scriptMs: t1 - t0, convertMs: t2 - t1 };
}

async function main() {
  await ensureGuest();
  const cleanups: (() => unknown)[] = [];
  // Node's order for after-hooks: first registered first, including ones added while they run.
  const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-osdef-'));
  try {
    const osPath = join(work, 'os');
    const osDir = join(osPath, 'berth-guest');
    cpSync(join(ROOT, 'os/berth-guest'), osDir, { recursive: true });
    symlinkSync(GUEST_DIR, join(osDir, 'guest'));
    process.env.BERTH_OS_PATH = osPath;
    process.env.BERTH_LOG_LEVEL = 'warn';
    const stack = await startStack(t, 19600 + Math.floor(Math.random() * 100));
    await stack.startAgent();
    await stack.startManager();
    const c = await stack.client();
    const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;
    const [base] = await call('VM.get_by_name_label', 'Berth test guest');
    const tmpl = await call('VM.clone', base, 'bench-os-template');
    const oc = await call('VM.get_other_config', tmpl);
    await call('VM.set_other_config', tmpl, { ...oc, disks: DISKS, 'berth-os': 'berth-guest' });

    const berth: number[] = [];
    const script: number[] = [];
    const convert: number[] = [];
    const baseline: number[] = [];
    // One warm-up of each (page cache, first spawn of the tools), then alternate.
    baselineRun(osDir, work, -1);
    await call('VM.provision', await call('VM.clone', tmpl, 'bench-os-warm'));
    for (let i = 0; i < RUNS; i++) {
      const b = baselineRun(osDir, work, i);
      script.push(b.scriptMs);
      convert.push(b.convertMs);
      baseline.push(b.scriptMs + b.convertMs);
      const vm = await call('VM.clone', tmpl, `bench-os-${i}`);
      const t0 = performance.now();
      await call('VM.provision', vm);
      berth.push(performance.now() - t0);
    }
    const f = (x: number) => `${x.toFixed(0)} ms`;
    const ratio = median(berth) / median(baseline);
    console.log(`VM.provision through os/berth-guest (64 MiB qcow2 disk), medians of ${RUNS} runs:`);
    console.log(
      `  by hand: create script on a loop device ${f(median(script))} + qemu-img convert ${f(median(convert))} = ${f(median(baseline))}`,
    );
    console.log(
      `  Berth VM.provision (API call, VDI create, validate, attach, create, write back, detach): ${f(median(berth))}`,
    );
    console.log(`  ratio ${ratio.toFixed(2)}x (target <= 1.2x) ${ratio <= 1.2 ? 'OK' : 'ABOVE TARGET'}`);
    console.log(`  all runs: berth [${berth.map(f).join(', ')}]; by hand [${baseline.map(f).join(', ')}]`);
  } finally {
    while (cleanups.length) await cleanups.shift()?.();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
