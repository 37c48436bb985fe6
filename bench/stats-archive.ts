// What archiving the agent's RRDs costs (slice agent-store, issue 16): a host RRD and N VM RRDs
// of 14 data sources each, filled by CYCLES 5 s updates of random values (so the 5 s and 1 min
// archives hold numbers, not NaN, which would compress to nothing), written by RrdArchive.save()
// as the agent does (internal XML dump, gzip, temp file + fsync + rename). Prints the wall and
// CPU time of one archive pass, the bytes written, and the share of one core that pass costs at
// a few intervals.   node --import tsx bench/stats-archive.ts [vms=100] [cycles=1500]
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RrdArchive } from '../src/agent/stats/archive.js';
import { StatsStore } from '../src/agent/stats/store.js';
import type { DataSourceSpec, DsType, SampledValue } from '../src/shared/rrd/types.js';

const vms = Number(process.argv[2] ?? 100);
const cycles = Number(process.argv[3] ?? 1500);

const spec = (name: string, type: DsType, max = Number.POSITIVE_INFINITY): DataSourceSpec => ({
  name,
  type,
  min: 0,
  max,
  description: name,
  units: '',
  standard: true,
});
const VM_SPECS = [
  spec('cpu0', 'DERIVE', 1),
  spec('cpu1', 'DERIVE', 1),
  spec('memory', 'GAUGE'),
  spec('memory_target', 'GAUGE'),
  spec('memory_internal_free', 'GAUGE'),
  ...['xvda', 'xvdb'].flatMap((d) => [
    spec(`vbd_${d}_read`, 'DERIVE'),
    spec(`vbd_${d}_write`, 'DERIVE'),
    spec(`vbd_${d}_iops_total`, 'DERIVE'),
  ]),
  spec('vif_0_rx', 'DERIVE'),
  spec('vif_0_tx', 'DERIVE'),
  spec('vif_1_rx', 'DERIVE'),
];
const HOST_SPECS = [
  ...Array.from({ length: 8 }, (_, i) => spec(`cpu${i}`, 'DERIVE', 1)),
  spec('memory_total_kib', 'GAUGE'),
  spec('memory_free_kib', 'GAUGE'),
  spec('loadavg', 'GAUGE'),
];

const uuids = Array.from({ length: vms }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const counters = new Map<string, number>();
const read = (key: string, s: DataSourceSpec): SampledValue => {
  // Counters grow by a random step (DERIVE), gauges wander: every row a distinct float.
  const step = s.max === 1 ? Math.random() * 5 : Math.random() * 1e6;
  const v = s.type === 'DERIVE' ? (counters.get(key) ?? 0) + step : Math.random() * 1e9;
  counters.set(key, v);
  return { spec: s, value: v };
};

const store = new StatsStore();
const t0 = Math.floor(Date.now() / 1000 / 5) * 5 - cycles * 5;
const fill0 = performance.now();
for (let c = 0; c < cycles; c++)
  store.ingest({
    time: t0 + c * 5,
    host: HOST_SPECS.map((s) => read(`h:${s.name}`, s)),
    vms: new Map(uuids.map((u) => [u, VM_SPECS.map((s) => read(`${u}:${s.name}`, s))])),
    srs: new Map(),
  });
const fillMs = performance.now() - fill0;

const dir = mkdtempSync(join(tmpdir(), 'berth-stats-archive-bench-'));
try {
  const archive = new RrdArchive(join(dir, 'rrd'), store);
  await archive.save(); // warm-up (folders, JIT)
  const runs: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await archive.save();
    const wall = performance.now() - w0;
    const c = process.cpuUsage(c0);
    runs.push({ wall, cpu: (c.user + c.system) / 1000 });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const wall = median(runs.map((r) => r.wall));
  const cpu = median(runs.map((r) => r.cpu));
  let bytes = 0;
  for (const sub of ['.', 'vm'])
    for (const n of readdirSync(join(dir, 'rrd', sub)))
      if (n.endsWith('.xml.gz')) bytes += statSync(join(dir, 'rrd', sub, n)).size;
  console.log(
    `${vms} VM RRDs x ${VM_SPECS.length} DS + host (${HOST_SPECS.length} DS), ${cycles} updates each (fill ${(fillMs / 1000).toFixed(1)} s)`,
  );
  console.log(
    `one archive pass: wall ${wall.toFixed(0)} ms, CPU ${cpu.toFixed(0)} ms (main thread + zlib pool), ${(bytes / 1024).toFixed(0)} KiB on disk`,
  );
  for (const s of [10, 30, 60, 300])
    console.log(`  every ${s} s: ${((cpu / (s * 1000)) * 100).toFixed(2)} % of one core`);
  // What a start-up pays to reload them all.
  const l0 = performance.now();
  const back = await new RrdArchive(join(dir, 'rrd'), new StatsStore()).load();
  console.log(`reload at agent start: ${back.loaded} RRDs in ${(performance.now() - l0).toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
