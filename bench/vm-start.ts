// VM start latency: raw `qemu-system-x86_64` exec → boot marker, versus the agent's instance_start
// (time until the call returns, and until the marker). Medians over BENCH_RUNS runs (default 3).
// Usage: tsx bench/vm-start.ts   (builds the test guest into .cache/guest if needed)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { qemuArgs, runtimePaths } from '../src/agent/qemu/command-line.js';
import { detectAccel } from '../src/agent/qemu/accel.js';
import { AgentClient } from '../src/shared/noded/client.js';
import type { InstanceSpec } from '../src/shared/noded/instance.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GUEST = process.env.BERTH_TEST_GUEST_DIR ?? join(ROOT, '.cache/guest');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const accel = detectAccel();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function waitMarker(log: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(log) && readFileSync(log, 'utf8').includes('BERTH-GUEST-READY'))) {
    if (Date.now() > deadline) throw new Error(`no boot marker in ${log}`);
    await sleep(5);
  }
}

function spec(i: number): InstanceSpec {
  return {
    uuid: `be000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name: `bench-${i}`,
    vcpus: 1,
    vcpusMax: 1,
    memoryBytes: 256 << 20,
    memoryMaxBytes: 256 << 20,
    kernel: join(GUEST, 'vmlinuz'),
    initrd: join(GUEST, 'initrd.img'),
    cmdline: 'console=ttyS0 quiet',
    disks: [],
    nics: [],
    balloon: false,
    startPaused: false,
  };
}

async function rawRun(dir: string, i: number): Promise<number> {
  const p = runtimePaths(join(dir, 'raw'), join(dir, 'raw-log'), spec(i).uuid);
  spawnSync('mkdir', ['-p', p.dir, join(dir, 'raw-log')]);
  const args = qemuArgs(spec(i), p, { accel }).filter((a) => a !== '-S');
  const t0 = performance.now();
  const q = spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
  await waitMarker(p.consoleLog);
  const ms = performance.now() - t0;
  q.kill('SIGKILL');
  return ms;
}

/** SIGKILLs QEMUs the agent left under its runtime dir (by their pid files) after a failure. */
function killLeftovers(runDir: string) {
  if (!existsSync(runDir)) return;
  for (const d of readdirSync(runDir)) {
    try {
      const pid = Number(readFileSync(join(runDir, d, 'qemu.pid'), 'utf8'));
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(d)) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function main() {
  spawnSync(join(ROOT, 'tools/build-guest.sh'), [GUEST], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const socket = join(dir, 'agent.sock');
  let agent: ChildProcess | undefined;
  try {
    const raw: number[] = [];
    for (let i = 0; i < RUNS; i++) raw.push(await rawRun(dir, i));
    agent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/agent/main.ts'),
        '--socket',
        socket,
        '--run-dir',
        join(dir, 'run'),
        '--log-dir',
        join(dir, 'log'),
        '--state-root',
        dir,
        '--run-as',
        'root',
      ],
      { stdio: 'ignore', env: { ...process.env, BERTH_LOG_LEVEL: 'warn' } },
    );
    while (!existsSync(socket)) await sleep(20);
    const client = new AgentClient(socket);
    const ret: number[] = [];
    const marker: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const s = spec(100 + i);
      const t0 = performance.now();
      const info = await client.start(s);
      ret.push(performance.now() - t0);
      await waitMarker(info.consoleLog!);
      marker.push(performance.now() - t0);
      await client.shutdown(s.uuid, false, 10_000);
    }
    client.close();
    const f = (n: number) => `${(n / 1000).toFixed(2)} s`;
    console.log(`accel=${accel}, ${RUNS} runs, medians:`);
    console.log(`  raw qemu exec -> boot marker        ${f(median(raw))}`);
    console.log(`  agent instance_start returns        ${f(median(ret))}`);
    console.log(`  agent instance_start -> boot marker ${f(median(marker))}`);
  } finally {
    agent?.kill('SIGTERM');
    killLeftovers(join(dir, 'run'));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
