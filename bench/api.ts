// npm run bench:api — the manager's RPC throughput and latency, old and new code in one run:
//   1. VM.get_record calls/s and p50/p99 over JSON-RPC and XML-RPC (wrk, keep-alive connections),
//      next to a bare Node `http` hello-world server as the physical reference;
//   2. VM.get_all_records time with 10,000 VMs stored (JSON-RPC and XML-RPC);
//   3. event latency: from VM.set_name_label returning to the change arriving at each of 100
//      event.from watchers, idle and under a background API load.
// BENCH_PARTS=throughput,all-records,events selects parts; BENCH_WATCHER_PROCS (default 2), BENCH_LOAD_RATE
// (default 2000 calls/s) and the other BENCH_* variables below tune them.
// Each manager runs as its own process (as in production) on a database seeded with 10,000 VMs.
// The baseline (bench/baseline.ts, BENCH_BASELINE, default the commit before the issue-12 work)
// runs next to this tree's code and every measurement alternates between the two, so machine
// noise hits both alike. Needs `wrk` (Debian package).
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { run } from '../src/shared/exec.js';
import { prepareBaseline } from './baseline.js';
import { jcall, jsonBody, makeAgent, msBetween, post, xmlBody } from './rpc-client.js';
import { localManagerArgs } from '../test/helpers/manager-args.js';

const ROOT = join(import.meta.dirname, '..');
const DURATION = process.env.BENCH_DURATION ?? '8s';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const VM_COUNT = Number(process.env.BENCH_VMS ?? 10_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 100);
const WATCHER_PROCS = Number(process.env.BENCH_WATCHER_PROCS ?? 2);
const EVENT_ROUNDS = Number(process.env.BENCH_EVENT_ROUNDS ?? 200);
/**
 * Rounds run first and reported apart, not in the steady-state figures: the first changes after
 * the watchers connect (and after the load starts, whose first pass fills the record caches of
 * 2,000 VMs) run cold code and cold caches. Each round's 100 deliveries are correlated, so with
 * few rounds one cold round alone sets the p99.
 */
const EVENT_WARMUP_ROUNDS = Number(process.env.BENCH_EVENT_WARMUP_ROUNDS ?? 20);
const ALL_RECORDS_REPS = Number(process.env.BENCH_ALL_RECORDS_REPS ?? 7);
const LOAD_RATE = Number(process.env.BENCH_LOAD_RATE ?? 2000);
const LOAD_CONNECTIONS = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 8);
/** Which parts to run (all by default): throughput, all-records, events. */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'throughput,all-records,events').split(','));

const agent = makeAgent();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  name: string;
  root: string;
  dir: string;
  port: number;
  proc?: ChildProcess;
  session: string;
  vms: string[];
}

function waitForPort(port: number, path: string, body: string, type: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 60_000;
    const tryOnce = () =>
      post(agent, port, path, body, type).then(
        () => resolve(),
        () => (Date.now() > deadline ? reject(new Error('server did not start')) : setTimeout(tryOnce, 100)),
      );
    tryOnce();
  });
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
}

/** wrk with a Lua script that POSTs a fixed body; latencies in ms. */
async function wrk(url: string, body: string, type: string, dir: string): Promise<WrkResult> {
  const script = join(dir, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "${type}"\n` +
      'done = function(summary, latency, requests)\n' +
      '  io.write(string.format("RESULT %f %f %f\\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))\n' +
      'end\n',
  );
  const r = await run('wrk', ['-t', '2', '-c', String(CONNECTIONS), '-d', DURATION, '-s', script, url], {
    timeoutMs: 120_000,
  });
  const m = /RESULT ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk failed: ${r.stdout}${r.stderr}`);
  return { rps: Number(m[1]), p50: Number(m[2]), p99: Number(m[3]) };
}

/** A compiled script of a built tree (npm run bench:api builds this one first). */
/** The manager's Node flags, as scripts/berth-up.sh starts it (both columns get them). */
const MANAGER_NODE_FLAGS = ['--max-semi-space-size=64'];

function spawnNode(root: string, script: string, args: string[]): ChildProcess {
  const flags = script === 'src/manager/main.ts' ? MANAGER_NODE_FLAGS : [];
  return spawn(process.execPath, [...flags, join(root, 'dist', script.replace(/\.ts$/, '.js')), ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, BERTH_LOG_LEVEL: 'warn', BERTH_NETWORKING: '0' },
  });
}

/** A bench helper of this tree as a child process with IPC; resolves once it says 'ready'. */
async function helper(script: string, arg: unknown, onMessage: (m: any) => void): Promise<ChildProcess> {
  const child = fork(join(ROOT, 'dist/bench', script.replace(/\.ts$/, '.js')), [JSON.stringify(arg)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m) => (m === 'ready' ? resolve() : onMessage(m)));
    child.on('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return child;
}

async function stopHelper(child: ChildProcess): Promise<any> {
  const answer = new Promise((resolve) => {
    child.once('message', resolve);
    child.once('exit', () => resolve(undefined));
  });
  child.send('stop');
  const result = await Promise.race([answer, sleep(2000)]);
  child.kill('SIGKILL');
  return result;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Seeds VM_COUNT VMs with the tree's own code (one transaction) and starts its manager. */
async function startServer(name: string, root: string, dir: string): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const imp = (p: string) => import(pathToFileURL(join(root, 'dist', p)).href);
  const { MODEL } = await imp('src/shared/datamodel/generated/model.js');
  const { baseVmRecord } = await imp('src/manager/bootstrap/vm-record.js');
  const { Database } = await imp('src/manager/db/database.js');
  const { SqliteBackend } = await imp('src/manager/db/sqlite-backend.js');
  const backend = new SqliteBackend(join(dir, 'berth.db'), MODEL);
  const db = new Database(MODEL, backend);
  db.transaction(() => {
    for (let i = 0; i < VM_COUNT; i++)
      db.create('VM', baseVmRecord({ name_label: `bench-${i}`, other_config: { i: String(i) } }));
  });
  backend.close();
  const port = await freePort();
  const proc = spawnNode(
    root,
    'src/manager/main.ts',
    localManagerArgs({ dataDir: dir, port, socket: join(dir, 'xapi.sock') }),
  );
  await waitForPort(port, '/jsonrpc', jsonBody('system.listMethods', []), 'application/json');
  const password = readFileSync(join(dir, 'root-password'), 'utf8').trim();
  const session = await jcall(agent, port, 'session.login_with_password', ['root', password]);
  const vms: string[] = await jcall(agent, port, 'VM.get_all', [session]);
  return { name, root, dir, port, proc, session, vms };
}

interface AllRecords {
  /** Request sent → whole reply received and decoded to text (the published figure). */
  text: number[];
  /** Request sent → last byte received. */
  bytes: number[];
  size: number;
}

async function getAllRecords(s: Server, enc: 'json' | 'xml', out: AllRecords) {
  const [path, body, type] =
    enc === 'json'
      ? ['/jsonrpc', jsonBody('VM.get_all_records', [s.session]), 'application/json']
      : ['/', xmlBody('VM.get_all_records', [s.session]), 'text/xml'];
  const t0 = process.hrtime.bigint();
  const reply = await post(agent, s.port, path, body, type);
  const text = reply.body.toString('utf8');
  const t1 = process.hrtime.bigint();
  if (text.length < VM_COUNT * 100) throw new Error(`${s.name}: get_all_records reply too short`);
  out.text.push(msBetween(t0, t1));
  out.bytes.push(msBetween(t0, reply.endedAt));
  out.size = reply.body.length;
}

interface EventResult {
  /** VM.set_name_label's reply received → the watcher has parsed the batch holding the change. */
  fromAck: number[];
  /** VM.set_name_label sent → the same (an upper bound that includes the setter's queueing). */
  fromSent: number[];
  /** The warm-up rounds' figures (fromAck), reported apart. */
  warmup: number[];
  loadRate?: number;
}

async function eventLatency(s: Server, underLoad: boolean): Promise<EventResult> {
  const result: EventResult = { fromAck: [], fromSent: [], warmup: [] };
  const target = s.vms[1];
  let token: string = (await jcall(agent, s.port, 'event.from', [s.session, ['vm'], '', 0.0])).token;
  token = (await jcall(agent, s.port, 'event.from', [s.session, ['vm'], token, 0.0])).token;
  let load: ChildProcess | undefined;
  if (underLoad) {
    load = await helper(
      'api-load.ts',
      {
        port: s.port,
        session: s.session,
        vms: s.vms.slice(0, 2000),
        avoid: target,
        rate: LOAD_RATE,
        connections: LOAD_CONNECTIONS,
      },
      () => undefined,
    );
    await sleep(1000);
  }
  const arrivals = new Map<string, bigint[]>();
  let waiting: { label: string; resolve: () => void } | undefined;
  const onArrival = (m: { label: string; ats: string[] }) => {
    let list = arrivals.get(m.label);
    if (!list) arrivals.set(m.label, (list = []));
    for (const at of m.ats) list.push(BigInt(at));
    if (waiting?.label === m.label && list.length >= WATCHERS) waiting.resolve();
  };
  const procs: ChildProcess[] = [];
  try {
    for (let p = 0; p < WATCHER_PROCS; p++) {
      const n = Math.floor(WATCHERS / WATCHER_PROCS) + (p < WATCHERS % WATCHER_PROCS ? 1 : 0);
      procs.push(
        await helper(
          'event-watchers.ts',
          { port: s.port, session: s.session, token, target, watchers: n },
          onArrival,
        ),
      );
    }
    await sleep(300);
    for (let round = -EVENT_WARMUP_ROUNDS; round < EVENT_ROUNDS; round++) {
      const label = `round-${underLoad ? 'load' : 'idle'}-${round}`;
      const all = new Promise<void>((resolve, reject) => {
        waiting = { label, resolve };
        setTimeout(() => reject(new Error(`${s.name}: event ${label} did not reach every watcher`)), 30_000);
      });
      const sentAt = process.hrtime.bigint();
      await jcall(agent, s.port, 'VM.set_name_label', [s.session, target, label]);
      const ackAt = process.hrtime.bigint();
      if ((arrivals.get(label)?.length ?? 0) < WATCHERS) await all;
      for (const at of arrivals.get(label)!) {
        if (round < 0) {
          result.warmup.push(Math.max(0, msBetween(ackAt, at)));
          continue;
        }
        result.fromAck.push(Math.max(0, msBetween(ackAt, at)));
        result.fromSent.push(msBetween(sentAt, at));
      }
      arrivals.delete(label);
      await sleep(50); // every watcher blocks in event.from again
    }
  } finally {
    for (const p of procs) await stopHelper(p);
    if (load) result.loadRate = (await stopHelper(load))?.callsPerSecond;
  }
  return result;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const servers: Server[] = [];
  const others: ChildProcess[] = [];
  try {
    const baseline = prepareBaseline(ROOT);
    if (baseline)
      servers.push(
        await startServer(`baseline ${baseline.rev.slice(0, 7)}`, baseline.root, join(dir, 'old')),
      );
    servers.push(await startServer('this tree', ROOT, join(dir, 'new')));
    console.log(`seeded ${VM_COUNT} VMs into ${servers.map((s) => s.name).join(' and ')}`);
    const hello = await freePort();
    others.push(spawnNode(ROOT, 'bench/hello-server.ts', [String(hello)]));
    await waitForPort(hello, '/', 'x', 'text/plain');
    const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

    // 1. Throughput.
    const doThroughput = PARTS.has('throughput');
    const helloRps = doThroughput
      ? await wrk(`http://127.0.0.1:${hello}/`, 'x', 'text/plain', dir)
      : { rps: 0, p50: 0, p99: 0 };
    const thr = new Map<Server, { json: WrkResult; xml: WrkResult }>();
    for (const s of doThroughput ? servers : []) {
      const vm = s.vms[0];
      thr.set(s, {
        json: await wrk(
          `http://127.0.0.1:${s.port}/jsonrpc`,
          jsonBody('VM.get_record', [s.session, vm]),
          'application/json',
          dir,
        ),
        xml: await wrk(
          `http://127.0.0.1:${s.port}/`,
          xmlBody('VM.get_record', [s.session, vm]),
          'text/xml',
          dir,
        ),
      });
    }

    // 2. get_all_records, alternating servers; one uncounted call each first fills the row caches.
    const all = new Map<Server, { json: AllRecords; xml: AllRecords }>();
    const doAll = PARTS.has('all-records');
    for (const s of doAll ? servers : []) {
      const warm = { text: [], bytes: [], size: 0 };
      await getAllRecords(s, 'json', warm);
      await getAllRecords(s, 'xml', warm);
      all.set(s, { json: { text: [], bytes: [], size: 0 }, xml: { text: [], bytes: [], size: 0 } });
    }
    for (let i = 0; i < (doAll ? ALL_RECORDS_REPS : 0); i++)
      for (const s of servers)
        for (const enc of ['json', 'xml'] as const) await getAllRecords(s, enc, all.get(s)![enc]);

    // 3. Event latency, idle then under load, alternating servers.
    const ev = new Map<Server, { idle: EventResult; load: EventResult }>();
    const doEvents = PARTS.has('events');
    for (const s of doEvents ? servers : [])
      ev.set(s, { idle: await eventLatency(s, false), load: { fromAck: [], fromSent: [], warmup: [] } });
    for (const s of doEvents ? servers : []) ev.get(s)!.load = await eventLatency(s, true);

    const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const f0 = (x: number) => x.toFixed(0);
    const f1 = (x: number) => x.toFixed(1);
    const pct = (a: number) => `${((a / helloRps.rps) * 100).toFixed(0)}%`;
    console.log(
      `\nbench:api  ${new Date().toISOString()}  node ${process.version}  load average ${load0} → ${load1}  ${VM_COUNT} VMs`,
    );
    if (doThroughput)
      console.log(
        `wrk: ${CONNECTIONS} keep-alive connections, ${DURATION} per run; Node http hello-world: ${f0(helloRps.rps)} calls/s`,
      );
    const cols = servers.map((s) => s.name);
    console.log(`\n| measurement | ${cols.join(' | ')} | target |`);
    console.log(`|---|${cols.map(() => '---|').join('')}---|`);
    const row = (what: string, cell: (s: Server) => string, target: string) =>
      console.log(`| ${what} | ${servers.map(cell).join(' | ')} | ${target} |`);
    if (doThroughput)
      row(
        'VM.get_record JSON-RPC calls/s (vs hello)',
        (s) => `${f0(thr.get(s)!.json.rps)} (${pct(thr.get(s)!.json.rps)})`,
        '≥ 50%',
      );
    if (doThroughput)
      row(
        'VM.get_record XML-RPC calls/s (vs hello)',
        (s) => `${f0(thr.get(s)!.xml.rps)} (${pct(thr.get(s)!.xml.rps)})`,
        '≥ 30%',
      );
    for (const enc of doAll ? (['json', 'xml'] as const) : []) {
      const E = enc === 'json' ? 'JSON' : 'XML';
      row(
        `VM.get_all_records ${E}, median of ${ALL_RECORDS_REPS}: reply as text (last byte)`,
        (s) =>
          `**${f0(percentile(all.get(s)![enc].text, 50))} ms** (${f0(percentile(all.get(s)![enc].bytes, 50))} ms)`,
        '≤ 250 ms',
      );
    }
    for (const cond of doEvents ? (['idle', 'load'] as const) : []) {
      const what =
        cond === 'idle'
          ? `event latency idle, ${WATCHERS} watchers × ${EVENT_ROUNDS}: p50 / p99`
          : `event latency under load (${LOAD_RATE} calls/s offered), p50 / p99`;
      row(
        what,
        (s) => {
          const r = ev.get(s)![cond];
          return `${f1(percentile(r.fromAck, 50))} / **${f1(percentile(r.fromAck, 99))} ms**`;
        },
        cond === 'load' ? 'p99 ≤ 20 ms' : '—',
      );
      row(
        `  the ${EVENT_WARMUP_ROUNDS} warm-up rounds before them: p50 / p99`,
        (s) => {
          const r = ev.get(s)![cond];
          return `${f1(percentile(r.warmup, 50))} / ${f1(percentile(r.warmup, 99))} ms`;
        },
        '—',
      );
      row(
        `  same, from the setter's request sent: p50 / p99${cond === 'load' ? ' (achieved load calls/s)' : ''}`,
        (s) => {
          const r = ev.get(s)![cond];
          return `${f1(percentile(r.fromSent, 50))} / ${f1(percentile(r.fromSent, 99))} ms${r.loadRate ? ` (${f0(r.loadRate)})` : ''}`;
        },
        '—',
      );
    }
    if (doAll)
      console.log(
        `\nreply sizes: JSON ${(all.get(servers[0])!.json.size / 1e6).toFixed(1)} MB, XML ${(all.get(servers[0])!.xml.size / 1e6).toFixed(1)} MB`,
      );
    if (doEvents)
      console.log(
        `event watchers: ${WATCHER_PROCS} processes, JSON-RPC; load: ${LOAD_CONNECTIONS} connections (bench/api-load.ts mix)`,
      );
  } finally {
    for (const c of [...servers.map((s) => s.proc!), ...others]) c.kill('SIGTERM');
    agent.destroy();
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
