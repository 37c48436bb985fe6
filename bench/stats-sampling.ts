// bench:stats part B: the agent's sampling cost per 5 s cycle, as a fraction of one core, with N
// real QEMUs (paused with -S, 16 MiB, one virtio disk on QEMU's null block driver, a balloon,
// TCG): the agent's real sampler (src/agent/stats/sample-all.ts: /proc, each QEMU's vCPU
// threads, QMP query-blockstats and query-balloon per VM) and its real store
// (src/agent/stats/store.ts, feeding Berth's RRDs). CPU time: this process's (process.cpuUsage) and the QEMUs' (their monitors
// answer the queries: /proc/<pid>/stat), over cycles 5 s apart as the agent runs them.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../src/agent/qemu/qmp.js';
import { createSampler } from '../src/agent/stats/sample-all.js';
import type { VmView } from '../src/agent/stats/sample-vm.js';
import { StatsStore } from '../src/agent/stats/store.js';

const CLK_TCK = 100;

interface Guest {
  uuid: string;
  proc: ChildProcess;
  qmp?: QmpClient;
}

/** utime + stime of a process, in seconds (0 if gone). */
function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

async function startGuest(dir: string, k: number): Promise<Guest> {
  const sock = join(dir, `qmp-${k}.sock`);
  const uuid = `00000000-0000-4000-8000-${String(k + 1).padStart(12, '0')}`;
  const proc = spawn(
    'qemu-system-x86_64',
    [
      '-S',
      '-machine',
      'pc,accel=tcg',
      '-m',
      '16',
      '-smp',
      '1',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-blockdev',
      'driver=null-co,node-name=d0,size=16777216',
      '-device',
      'virtio-blk-pci,drive=d0,id=vbd-xvda',
      '-device',
      'virtio-balloon-pci,id=balloon0',
      '-qmp',
      `unix:${sock},server=on,wait=off`,
    ],
    { stdio: 'ignore' },
  );
  const g: Guest = { uuid, proc };
  for (let i = 0; i < 600 && !existsSync(sock); i++) {
    if (proc.exitCode !== null) throw new Error(`QEMU ${k} exited with ${proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The socket file appears a moment before QEMU listens on it: retry a refused connection.
  for (let i = 0; ; i++) {
    try {
      g.qmp = await QmpClient.connect(sock, 60_000);
      return g;
    } catch (e) {
      if (i >= 100 || proc.exitCode !== null) {
        if (proc.pid) process.kill(proc.pid, 'SIGKILL');
        throw e;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function partB(opts: { qemus: number; cycles: number }): Promise<void> {
  console.log(
    `\n## Part B: sampling cost per 5 s cycle, ${opts.qemus} paused QEMUs (real), ${opts.cycles} cycles`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-stats-qemu-'));
  const guests: Guest[] = [];
  const killAll = () => {
    for (const g of guests) {
      if (g.proc.exitCode === null && g.proc.pid) {
        try {
          process.kill(g.proc.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  };
  process.once('exit', killAll);
  try {
    const t0 = performance.now();
    let failed = 0;
    for (let k = 0; k < opts.qemus; k += 10) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(10, opts.qemus - k) }, (_, j) => startGuest(dir, k + j)),
      );
      for (const r of batch) {
        if (r.status === 'fulfilled') guests.push(r.value);
        else {
          failed++;
          console.log(`a QEMU did not start: ${r.reason}`);
        }
      }
      if (failed > 0) break;
    }
    console.log(`${guests.length} QEMUs started in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (guests.length < opts.qemus)
      console.log(`NOTE: only ${guests.length} of ${opts.qemus} QEMUs fit: figures are for ${guests.length}`);

    const views: VmView[] = guests.map((g) => ({
      uuid: g.uuid,
      pid: g.proc.pid as number,
      paused: true,
      memoryBytes: 16 << 20,
      balloon: true,
      disks: [{ device: 'xvda', path: join(dir, `disk-${g.uuid}`) }],
      nics: [],
      qmp: (command, timeoutMs) => (g.qmp as QmpClient).command(command, undefined, timeoutMs),
    }));
    const sampler = createSampler({
      vms: () => views,
      classifyPifs: async () => ({ pifs: new Set(), bonds: new Set() }),
    });
    const store = new StatsStore();
    // Two cycles 5 s apart first, not counted: the first creates the RRDs, the second adds the
    // data sources that need a previous reading (disk rates): once per VM start, not per cycle.
    for (let c = 0; c < 2; c++) {
      if (c > 0) await new Promise((r) => setTimeout(r, 5000));
      store.ingest(await sampler.sample());
    }
    // The QEMUs' own cost while nobody asks them anything (a paused QEMU still runs its main
    // loop), over two idle 5 s steps: subtracted from their cost during the sampling cycles.
    const qemuTotal = () => guests.reduce((s, g) => s + cpuSeconds(g.proc.pid as number), 0);
    const idle0 = qemuTotal();
    await new Promise((r) => setTimeout(r, 10_000));
    const qemuIdleS = (qemuTotal() - idle0) / 2;
    const qemuCpu0 = qemuTotal();
    const cpu0 = process.cpuUsage();
    const wall: number[] = [];
    let sampledVms = 0;
    for (let c = 0; c < opts.cycles; c++) {
      await new Promise((r) => setTimeout(r, 5000));
      const t = performance.now();
      const sample = await sampler.sample();
      store.ingest(sample);
      wall.push(performance.now() - t);
      sampledVms = sample.vms.size;
    }
    const cpu = process.cpuUsage(cpu0);
    const agentS = (cpu.user + cpu.system) / 1e6 / opts.cycles;
    const qemuS = Math.max(0, (qemuTotal() - qemuCpu0) / opts.cycles - qemuIdleS);
    wall.sort((a, b) => a - b);
    console.log(
      `VMs in the last sample: ${sampledVms}; data sources per VM: ${store.vms.values().next().value?.rrd.ds.length ?? 0}`,
    );
    console.log('\n| measure | per 5 s cycle | fraction of one core | target |');
    console.log('|---|---|---|---|');
    console.log(
      `| agent process CPU (sampler + store) | ${(agentS * 1000).toFixed(1)} ms | ${((agentS / 5) * 100).toFixed(2)} % | < 2 % |`,
    );
    console.log(
      `| QEMUs' CPU answering QMP (beyond idle) | ${(qemuS * 1000).toFixed(1)} ms | ${((qemuS / 5) * 100).toFixed(2)} % | — |`,
    );
    console.log(
      `| (QEMUs' CPU per 5 s when not asked) | ${(qemuIdleS * 1000).toFixed(1)} ms | ${((qemuIdleS / 5) * 100).toFixed(2)} % | — |`,
    );
    console.log(
      `| both | ${((agentS + qemuS) * 1000).toFixed(1)} ms | ${(((agentS + qemuS) / 5) * 100).toFixed(2)} % | — |`,
    );
    console.log(
      `cycle wall time: median ${wall[Math.floor(wall.length / 2)].toFixed(0)} ms, max ${wall[wall.length - 1].toFixed(0)} ms`,
    );
  } finally {
    for (const g of guests) g.qmp?.close();
    killAll();
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  }
}
