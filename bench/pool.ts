// npm run bench:pool — does a pool cost its master more than a single host? 16 hosts, each its
// own network namespace with its own agent and manager (test/helpers/pool-harness.ts, no guests):
//   1. single host: host 1 alone with 2,000 VMs made by VM.create; time VM.get_all_records and
//      host.get_all_records (median of BENCH_ALL_RECORDS_REPS), and the time from a VM change
//      returning to its arrival at each of 100 event.from watchers (as bench:api measures it);
//   2. pool: hosts 2…16 join host 1 with pool.join, and the same figures on the master, the change
//      made on a VM whose affinity is a slave; printed with the ratio pool / single
//      (issue 13's target: ≤ 1.2×). Without pool.join (or when it fails) only part 1 is printed.
// The change is VM.set_name_label through the master: a power-state change needs a running guest;
// the watchers run inside host 1's namespace on 127.0.0.1:80, the timed calls come from this process
// through the harness's forwarded socket (one socat hop, on both sides of every ratio alike).
// BENCH_HOSTS, BENCH_VMS, BENCH_WATCHERS, BENCH_WATCHER_PROCS, BENCH_EVENT_ROUNDS tune it.
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseVmRecord } from '../src/manager/bootstrap/vm-record.js';
import { type PoolHost, startHosts } from '../test/helpers/pool-harness.js';
import { jsonBody, msBetween } from './rpc-client.js';

const ROOT = join(import.meta.dirname, '..');
const HOSTS = Number(process.env.BENCH_HOSTS ?? 16);
const VM_COUNT = Number(process.env.BENCH_VMS ?? 2000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 100);
const WATCHER_PROCS = Number(process.env.BENCH_WATCHER_PROCS ?? 2);
const EVENT_ROUNDS = Number(process.env.BENCH_EVENT_ROUNDS ?? 100);
const EVENT_WARMUP_ROUNDS = Number(process.env.BENCH_EVENT_WARMUP_ROUNDS ?? 10);
const ALL_RECORDS_REPS = Number(process.env.BENCH_ALL_RECORDS_REPS ?? 7);
const CREATE_CONCURRENCY = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : Number.NaN;
};

/** Keep-alive JSON-RPC over a host's forwarded socket; resolves the raw reply text. */
class Rpc {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: CREATE_CONCURRENCY + 2 });
  constructor(private readonly socketPath: string) {}
  post(method: string, params: unknown[]): Promise<string> {
    const body = jsonBody(method, params);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path: '/jsonrpc',
          method: 'POST',
          agent: this.agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  async call(method: string, params: unknown[]): Promise<any> {
    const r = JSON.parse(await this.post(method, params));
    if (r.error) throw Object.assign(new Error(`${method}: ${JSON.stringify(r.error)}`), { xapi: r.error });
    return r.result;
  }
  close() {
    this.agent.destroy();
  }
}

interface Figures {
  vmAllRecords: number;
  vmAllRecordsBytes: number;
  hostAllRecords: number;
  hosts: number;
  eventP50: number;
  eventP99: number;
}

async function timeCall(
  rpc: Rpc,
  method: string,
  session: string,
  reps: number,
): Promise<{ ms: number; bytes: number }> {
  await rpc.post(method, [session]); // fills the caches; not counted
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const text = await rpc.post(method, [session]);
    times.push(msBetween(t0, process.hrtime.bigint()));
    if (text.includes('"error"')) throw new Error(`${method}: ${text.slice(0, 200)}`);
    bytes = text.length;
  }
  return { ms: percentile(times, 50), bytes };
}

/** The bench:api event watchers, run inside `host`'s namespace against its 127.0.0.1:80. */
async function watchers(host: PoolHost, arg: object, onMessage: (m: any) => void): Promise<ChildProcess> {
  const child = host.spawn(
    process.execPath,
    [join(ROOT, 'dist/bench/event-watchers.js'), JSON.stringify(arg)],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m) => (m === 'ready' ? resolve() : onMessage(m)));
    child.once('exit', (code) => reject(new Error(`event watchers exited (${code})`)));
  });
  return child;
}

/** Change → arrival at every watcher, in ms, over EVENT_ROUNDS rounds (after the warm-up ones). */
async function eventLatency(host: PoolHost, rpc: Rpc, session: string, target: string): Promise<number[]> {
  let token: string = (await rpc.call('event.from', [session, ['vm'], '', 0.0])).token;
  token = (await rpc.call('event.from', [session, ['vm'], token, 0.0])).token;
  const arrivals = new Map<string, bigint[]>();
  let waiting: { label: string; resolve: () => void } | undefined;
  const onArrival = (m: { label: string; ats: string[] }) => {
    let list = arrivals.get(m.label);
    if (!list) arrivals.set(m.label, (list = []));
    for (const at of m.ats) list.push(BigInt(at));
    if (waiting?.label === m.label && list.length >= WATCHERS) waiting.resolve();
  };
  const procs: ChildProcess[] = [];
  const out: number[] = [];
  try {
    for (let p = 0; p < WATCHER_PROCS; p++) {
      const n = Math.floor(WATCHERS / WATCHER_PROCS) + (p < WATCHERS % WATCHER_PROCS ? 1 : 0);
      procs.push(
        await watchers(host, { port: host.httpPort, session, token, target, watchers: n }, onArrival),
      );
    }
    await sleep(300);
    for (let round = -EVENT_WARMUP_ROUNDS; round < EVENT_ROUNDS; round++) {
      const label = `round-${round}`;
      const all = new Promise<void>((resolve, reject) => {
        waiting = { label, resolve };
        setTimeout(() => reject(new Error(`event ${label} did not reach every watcher`)), 30_000);
      });
      all.catch(() => undefined);
      await rpc.call('VM.set_name_label', [session, target, label]);
      const ackAt = process.hrtime.bigint();
      if ((arrivals.get(label)?.length ?? 0) < WATCHERS) await all;
      if (round >= 0) for (const at of arrivals.get(label)!) out.push(Math.max(0, msBetween(ackAt, at)));
      arrivals.delete(label);
      await sleep(50); // every watcher blocks in event.from again
    }
  } finally {
    for (const p of procs) {
      p.send('stop');
      await Promise.race([new Promise((r) => p.once('exit', r)), sleep(2000)]);
      p.kill('SIGKILL');
    }
  }
  return out;
}

async function figures(host: PoolHost, rpc: Rpc, session: string, target: string): Promise<Figures> {
  const vm = await timeCall(rpc, 'VM.get_all_records', session, ALL_RECORDS_REPS);
  const hostRecs = await timeCall(rpc, 'host.get_all_records', session, ALL_RECORDS_REPS);
  const events = await eventLatency(host, rpc, session, target);
  return {
    vmAllRecords: vm.ms,
    vmAllRecordsBytes: vm.bytes,
    hostAllRecords: hostRecs.ms,
    hosts: (await rpc.call('host.get_all', [session])).length,
    eventP50: percentile(events, 50),
    eventP99: percentile(events, 99),
  };
}

async function createVms(rpc: Rpc, session: string, count: number, affinity?: string): Promise<string[]> {
  const refs: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++)
      refs[i] = await rpc.call('VM.create', [
        session,
        baseVmRecord({ name_label: `bench-pool-${i}`, ...(affinity ? { affinity } : {}) }),
      ]);
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
  return refs;
}

/** The pool.join of each slave; a reason when pool.join is missing or fails (nothing to compare). */
async function joinAll(master: PoolHost, slaves: PoolHost[]): Promise<string | undefined> {
  for (const s of slaves) {
    const rpc = new Rpc(s.apiSocket);
    try {
      const session = await rpc.call('session.login_with_password', [
        'root',
        s.rootPassword(),
        '2.21',
        'bench',
      ]);
      await rpc.call('pool.join', [session, master.address, 'root', master.rootPassword()]);
    } catch (e) {
      const code = (e as { xapi?: unknown }).xapi;
      const text = JSON.stringify(code ?? String(e));
      if (/MESSAGE_METHOD_UNKNOWN|NOT_IMPLEMENTED|UNKNOWN_METHOD/.test(text))
        return 'pool.join not available';
      return `pool.join of ${s.hostname} failed: ${text}`;
    } finally {
      rpc.close();
    }
  }
}

async function main() {
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const t0 = Date.now();
  const pool = await startHosts(HOSTS, { built: true, logLevel: 'warn', startTimeoutMs: 180_000 });
  const stop = () => void pool.stop().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const [master, ...slaves] = pool.hosts;
  const rpc = new Rpc(master.apiSocket);
  try {
    console.log(`${HOSTS} hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${pool.subnet})`);
    let session: string = await rpc.call('session.login_with_password', [
      'root',
      master.rootPassword(),
      '2.21',
      'bench',
    ]);
    const c0 = Date.now();
    const vms = await createVms(rpc, session, VM_COUNT);
    console.log(
      `${VM_COUNT} VMs by VM.create on ${master.hostname} in ${((Date.now() - c0) / 1000).toFixed(1)} s`,
    );
    const single = await figures(master, rpc, session, vms[1]);

    let pooled: Figures | undefined;
    const j0 = Date.now();
    const skipped = await joinAll(master, slaves);
    if (skipped) console.log(skipped);
    else {
      const deadline = Date.now() + 300_000;
      while ((await rpc.call('host.get_all', [session]).catch(() => [])).length < HOSTS) {
        if (Date.now() > deadline) throw new Error('the slaves did not all appear on the master');
        await sleep(500);
      }
      console.log(
        `${slaves.length} pool.join calls (one after another) in ${((Date.now() - j0) / 1000).toFixed(1)} s`,
      );
      session = await rpc.call('session.login_with_password', [
        'root',
        master.rootPassword(),
        '2.21',
        'bench',
      ]);
      const hosts: string[] = await rpc.call('host.get_all', [session]);
      const masterHost: string = await rpc.call('pool.get_master', [
        session,
        (await rpc.call('pool.get_all', [session]))[0],
      ]);
      const slaveHost = hosts.find((h) => h !== masterHost)!;
      const [target] = await createVms(rpc, session, 1, slaveHost);
      pooled = await figures(master, rpc, session, target);
    }

    const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    console.log(
      `\nbench:pool  ${new Date().toISOString()}  node ${process.version}  load average ${load0} → ${load1}  ${HOSTS} hosts, ${VM_COUNT} VMs`,
    );
    console.log(`\n| measurement | single host | pool master | pool / single | target |`);
    console.log('|---|---|---|---|---|');
    const row = (what: string, pick: (x: Figures) => number, unit: string, target: string) =>
      console.log(
        `| ${what} | ${f(pick(single))} ${unit} | ${pooled ? `${f(pick(pooled))} ${unit}` : '—'} | ${pooled ? ratio(pick(pooled), pick(single)) : '—'} | ${target} |`,
      );
    row(`VM.get_all_records, median of ${ALL_RECORDS_REPS}`, (x) => x.vmAllRecords, 'ms', '≤ 1.2×');
    row(`host.get_all_records, median of ${ALL_RECORDS_REPS}`, (x) => x.hostAllRecords, 'ms', '≤ 1.2×');
    row(`event to ${WATCHERS} watchers × ${EVENT_ROUNDS} rounds, p50`, (x) => x.eventP50, 'ms', '≤ 1.2×');
    row(`event to ${WATCHERS} watchers × ${EVENT_ROUNDS} rounds, p99`, (x) => x.eventP99, 'ms', '≤ 1.2×');
    console.log(
      `\nhosts listed: single ${single.hosts}, pool ${pooled?.hosts ?? '—'}; VM.get_all_records reply ${(single.vmAllRecordsBytes / 1e6).toFixed(2)} MB single, ${pooled ? (pooled.vmAllRecordsBytes / 1e6).toFixed(2) : '—'} MB pool`,
    );
  } finally {
    rpc.close();
    await pool.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
