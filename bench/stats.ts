// npm run bench:stats — issue 16's statistics figures.
//
// Part A: `/rrd_updates` for 100 VMs × 25 data sources (+ the host's RRD) over the last hour,
// rendered by Berth's engine from memory, against `rrdtool xport` over equivalent .rrd files (same
// data sources and archives, fed the same readings with `rrdtool update`) in the same run. The
// readings are synthetic (a seeded generator): the engine's cost does not depend on where they
// come from. Also the reload of every RRD from its internal dump (fast and SAX readers) and
// `/rrd_updates` straight after it. BENCH_STATS_VMS sets the VM count, BENCH_STATS_RUNS the timed runs.
//
// Part B: sampling cost per 5 s cycle as a fraction of one core, with real paused QEMUs (see
// bench/stats-sampling.ts). BENCH_STATS_QEMUS (default 100), BENCH_STATS_CYCLES (6);
// BENCH_STATS_PARTS=A or B runs one part.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpXml, parseDumpXml } from '../src/shared/rrd/dump.js';
import { createRrd, type Rrd, updateRrd } from '../src/shared/rrd/rrd.js';
import type { DsDef } from '../src/shared/rrd/types.js';
import { rrdUpdates, type XportSource } from '../src/shared/rrd/xport.js';
import { partB } from './stats-sampling.js';

const VMS = Number(process.env.BENCH_STATS_VMS ?? 100);
const RUNS = Number(process.env.BENCH_STATS_RUNS ?? 15);
const UNBOUNDED = Number.POSITIVE_INFINITY;

const d = (name: string, type: DsDef['type'], max = UNBOUNDED): DsDef => ({ name, type, min: 0, max });

/** A VM's 25 data sources, named as xcp-rrdd's (§7.2). */
const VM_DS: DsDef[] = [
  d('cpu0', 'DERIVE', 1),
  d('cpu1', 'DERIVE', 1),
  d('cpu_usage', 'GAUGE', 1),
  d('memory', 'GAUGE'),
  d('memory_target', 'GAUGE'),
  d('memory_internal_free', 'GAUGE'),
  d('vbd_xvda_read', 'DERIVE'),
  d('vbd_xvda_write', 'DERIVE'),
  d('vbd_xvda_read_latency', 'GAUGE'),
  d('vbd_xvda_write_latency', 'GAUGE'),
  d('vbd_xvda_iops_read', 'DERIVE'),
  d('vbd_xvda_iops_write', 'DERIVE'),
  d('vbd_xvda_iops_total', 'DERIVE'),
  d('vbd_xvda_io_throughput_read', 'DERIVE'),
  d('vbd_xvda_io_throughput_write', 'DERIVE'),
  d('vbd_xvda_io_throughput_total', 'DERIVE'),
  d('vbd_xvdb_read', 'DERIVE'),
  d('vbd_xvdb_write', 'DERIVE'),
  d('vif_0_rx', 'DERIVE'),
  d('vif_0_tx', 'DERIVE'),
  d('vif_0_rx_errors', 'DERIVE'),
  d('vif_0_tx_errors', 'DERIVE'),
  d('vif_1_rx', 'DERIVE'),
  d('vif_1_tx', 'DERIVE'),
  d('runstate_fullrun', 'GAUGE', 1),
];

/** The host's: 2 CPUs and the usual others (§7.1); min/max archives as xapi's host RRDs. */
const HOST_DS: DsDef[] = [
  { ...d('cpu0', 'DERIVE', 1), transform: 'inverse' },
  { ...d('cpu1', 'DERIVE', 1), transform: 'inverse' },
  d('cpu_avg', 'GAUGE', 1),
  d('memory_total_kib', 'GAUGE'),
  d('memory_free_kib', 'GAUGE'),
  d('loadavg', 'GAUGE'),
  d('pif_eth0_rx', 'DERIVE'),
  d('pif_eth0_tx', 'DERIVE'),
  d('pif_eth0_rx_errors', 'DERIVE'),
  d('pif_eth0_tx_errors', 'DERIVE'),
  d('pif_aggr_rx', 'DERIVE'),
  d('pif_aggr_tx', 'DERIVE'),
];

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Synthetic readings for one RRD: DERIVE counters as integers (rrdtool takes only integer
 * counters), so CPU time is counted in nanoseconds; Berth gets seconds (xapi's form, max 1).
 */
function readings(ds: DsDef[], seed: number, times: number[]) {
  const rnd = lcg(seed);
  const counters = ds.map(() => 0);
  return times.map((t, k) =>
    ds.map((def, i) => {
      if (def.type === 'GAUGE') return def.max === 1 ? rnd() : Math.floor(rnd() * 4e9);
      const rate = def.max === 1 ? rnd() * 0.9 * 1e9 : rnd() * 1e7;
      counters[i] += Math.floor(rate * (k === 0 ? 5 : t - times[k - 1]));
      return counters[i];
    }),
  );
}

const nsToSeconds = (def: DsDef, v: number) => (def.type === 'DERIVE' && def.max === 1 ? v / 1e9 : v);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function load(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

interface Owner {
  owner: 'host' | 'vm';
  uuid: string;
  ds: DsDef[];
  values: number[][];
}

function partA(): void {
  const now = Math.floor(Date.now() / 1000 / 5) * 5;
  const start = now - 3900; // 65 min of readings: the last hour is full
  const times: number[] = [];
  for (let t = start + 5; t <= now; t += 5) times.push(t);
  const owners: Owner[] = [
    { owner: 'host', uuid: '00000000-0000-4000-8000-000000000000', ds: HOST_DS, values: [] },
  ];
  for (let v = 0; v < VMS; v++) {
    const uuid = `00000000-0000-4000-8000-${String(v + 1).padStart(12, '0')}`;
    owners.push({ owner: 'vm', uuid, ds: VM_DS, values: [] });
  }
  owners.forEach((o, k) => {
    o.values = readings(o.ds, k + 1, times);
  });
  const columns = owners.reduce((n, o) => n + o.ds.length * (o.owner === 'host' ? 3 : 1), 0);
  console.log(
    `\n## Part A: /rrd_updates, ${VMS} VMs × ${VM_DS.length} DS + host × ${HOST_DS.length} DS (min/max), ` +
      `${times.length} readings 5 s apart (synthetic), last hour → 1-minute archive, ${columns} columns`,
  );

  // Berth: fill, then render.
  let t0 = performance.now();
  const sources: XportSource[] = owners.map((o) => {
    const rrd = createRrd({ time: start, ds: o.ds, minMax: o.owner === 'host' });
    o.values.forEach((row, k) => {
      const m = new Map<string, number>();
      o.ds.forEach((def, i) => {
        m.set(def.name, nsToSeconds(def, row[i]));
      });
      updateRrd(rrd, times[k], m);
    });
    return { owner: o.owner, uuid: o.uuid, rrd };
  });
  const fillMs = performance.now() - t0;
  const perUpdateUs = (fillMs * 1000) / (times.length * owners.length);
  console.log(
    `Berth fill: ${fillMs.toFixed(0)} ms for ${times.length * owners.length} RRD updates (${perUpdateUs.toFixed(1)} µs per RRD update)`,
  );

  const query = { start: now - 3600, interval: 5 };
  /** Fresh ring arrays: no row formatted yet (as RRDs just read from a dump). */
  const fresh = (): XportSource[] =>
    sources.map((s) => ({
      ...s,
      rrd: { ...s.rrd, rras: s.rrd.rras.map((r) => ({ ...r, data: r.data.slice() })) } as Rrd,
    }));
  // Reload, as an agent starting: the internal dumps of every RRD read back, by the fast reader
  // and by the SAX reader (the same dumps with one newline after <rrd>, which the fast reader
  // leaves to it); then /rrd_updates straight after a reload.
  const dumps = sources.map((s) => dumpXml(s.rrd, { internal: true }));
  const reload = (texts: string[]): XportSource[] =>
    sources.map((s, k) => ({ ...s, rrd: parseDumpXml(texts[k]) }));
  const reloadMs = (texts: string[]) => {
    const ms: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      reload(texts);
      ms.push(performance.now() - t);
    }
    return median(ms);
  };
  const fastMs = reloadMs(dumps);
  const saxMs = reloadMs(dumps.map((x) => x.replace('<rrd>', '<rrd>\n')));
  const vmDumpKb = (dumps[1]?.length ?? 0) / 1024;
  console.log(
    `reload of ${sources.length} dumps (VM dump ${vmDumpKb.toFixed(0)} KiB): fast reader ${fastMs.toFixed(0)} ms ` +
      `(${(fastMs / sources.length).toFixed(2)} ms per RRD), SAX reader ${saxMs.toFixed(0)} ms ` +
      `(${(saxMs / sources.length).toFixed(2)} ms per RRD), median of 3`,
  );
  const berth: Record<string, { cold: number; reloaded: number; warm: number; bytes: number; rows: string }> =
    {};
  for (const json of [false, true]) {
    const cold: number[] = [];
    for (let i = 0; i < 5; i++) {
      const src = fresh();
      t0 = performance.now();
      rrdUpdates(src, query, json);
      cold.push(performance.now() - t0);
    }
    const reloaded: number[] = [];
    for (let i = 0; i < 5; i++) {
      const src = reload(dumps);
      t0 = performance.now();
      rrdUpdates(src, query, json);
      reloaded.push(performance.now() - t0);
    }
    const warm: number[] = [];
    let body = '';
    for (let i = 0; i < RUNS; i++) {
      t0 = performance.now();
      body = rrdUpdates(sources, query, json);
      warm.push(performance.now() - t0);
    }
    const rows = json ? JSON.parse(body).meta.rows : /<rows>(\d+)<\/rows>/.exec(body)?.[1];
    berth[json ? 'JSON' : 'XML'] = {
      cold: median(cold),
      reloaded: median(reloaded),
      warm: median(warm),
      bytes: body.length,
      rows: String(rows),
    };
  }

  // rrdtool: the same files, fed the same readings, then xport.
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-stats-'));
  try {
    t0 = performance.now();
    const commands: string[] = [];
    owners.forEach((o, k) => {
      const file = join(dir, `${k}.rrd`);
      const args = ['create', file, '--start', String(start), '--step', '5'];
      for (const def of o.ds) {
        const max =
          def.type === 'DERIVE' && def.max === 1
            ? '1000000000'
            : Number.isFinite(def.max)
              ? String(def.max)
              : 'U';
        args.push(`DS:d${o.ds.indexOf(def)}:${def.type}:300:0:${max}`); // rrdtool names: ≤ 19 chars
      }
      for (const [rows, pdp] of [
        [120, 1],
        [120, 12],
        [168, 720],
        [366, 17280],
      ]) {
        // rrdtool wants xff < 1; 0.99999 is xapi's 1.0 for these PDP counts.
        if (pdp > 1 && o.owner === 'host')
          for (const cf of ['AVERAGE', 'MIN', 'MAX']) args.push(`RRA:${cf}:0.99999:${pdp}:${rows}`);
        else args.push(`RRA:AVERAGE:0.5:${pdp}:${rows}`);
      }
      commands.push(args.join(' '));
      for (let i = 0; i < times.length; i += 200) {
        const batch = o.values.slice(i, i + 200).map((row, j) => `${times[i + j]}:${row.join(':')}`);
        commands.push(`update ${file} ${batch.join(' ')}`);
      }
    });
    const fill = spawnSync('rrdtool', ['-'], { input: `${commands.join('\n')}\n`, maxBuffer: 64 << 20 });
    if (fill.status !== 0 || /ERROR/.test(fill.stdout.toString())) {
      throw new Error(
        `rrdtool fill: ${fill.stderr}${fill.stdout
          .toString()
          .split('\n')
          .find((l) => l.includes('ERROR'))}`,
      );
    }
    console.log(
      `rrdtool fill (create + update through \`rrdtool -\`): ${(performance.now() - t0).toFixed(0)} ms`,
    );

    const xportArgs: string[] = ['xport', '--start', String(now - 3600), '--end', String(now), '--step', '5'];
    owners.forEach((o, k) => {
      const file = join(dir, `${k}.rrd`);
      const cfs = o.owner === 'host' ? ['AVERAGE', 'MIN', 'MAX'] : ['AVERAGE'];
      for (const cf of cfs) {
        o.ds.forEach((def, i) => {
          const v = `v${k}_${cf[1]}${i}`;
          // rrdtool's legends cannot hold ':' unescaped: same length with '/'.
          xportArgs.push(`DEF:${v}=${file}:d${i}:${cf}`, `XPORT:${v}:${cf}/${o.owner}/${o.uuid}/${def.name}`);
        });
      }
    });
    const peer: Record<string, { ms: number; bytes: number; rows: string }> = {};
    for (const json of [false, true]) {
      const args = json ? [...xportArgs, '--json'] : xportArgs;
      const ms: number[] = [];
      let out = '';
      for (let i = 0; i < Math.max(3, Math.ceil(RUNS / 3)); i++) {
        t0 = performance.now();
        const r = spawnSync('rrdtool', args, { maxBuffer: 256 << 20 });
        ms.push(performance.now() - t0);
        if (r.status !== 0) throw new Error(`rrdtool xport: ${r.stderr}`);
        out = r.stdout.toString();
      }
      // rrdtool's JSON has no row count: count its data rows.
      const rows = json ? String(out.match(/^\s*\[ /gm)?.length ?? 0) : /<rows>(\d+)<\/rows>/.exec(out)?.[1];
      peer[json ? 'JSON' : 'XML'] = { ms: median(ms), bytes: out.length, rows: String(rows) };
    }

    console.log(
      '\n| format | Berth, rows not yet formatted (ms) | Berth, just reloaded (ms) | Berth (ms) | rrdtool xport (ms) | ratio unformatted | ratio | rows B/r | bytes B/r |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const f of ['XML', 'JSON']) {
      const b = berth[f];
      const p = peer[f];
      console.log(
        `| ${f} | ${b.cold.toFixed(1)} | ${b.reloaded.toFixed(1)} | ${b.warm.toFixed(1)} | ${p.ms.toFixed(1)} | ${(b.cold / p.ms).toFixed(3)} | ` +
          `${(b.warm / p.ms).toFixed(3)} | ${b.rows}/${p.rows} | ${b.bytes}/${p.bytes} |`,
      );
    }
    console.log(
      'Berth: median of ' +
        `${RUNS} runs (rows are formatted as the engine writes them); not yet formatted: the same RRDs on fresh ` +
        `arrays (as the SAX reader leaves them), median of 5; just reloaded: read back from their internal dumps, median of 5. rrdtool: median of ${Math.max(3, Math.ceil(RUNS / 3))} ` +
        'runs of the rrdtool process (includes its start). Target: under 30 ms.',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const PARTS = (process.env.BENCH_STATS_PARTS ?? 'AB').toUpperCase();
console.log(`# bench:stats ${new Date().toISOString()} node ${process.version}`);
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}; load average at start: ${load()}`);
if (PARTS.includes('A')) {
  partA();
  console.log(`load average at end of part A: ${load()}`);
}
if (PARTS.includes('B')) {
  await partB({
    qemus: Number(process.env.BENCH_STATS_QEMUS ?? 100),
    cycles: Number(process.env.BENCH_STATS_CYCLES ?? 6),
  });
  console.log(`load average at end of part B: ${load()}`);
}
