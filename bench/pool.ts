// npm run bench:pool — does a pool cost its master more than a single host? BENCH_HOSTS (16) + 1
// hosts, each its own network namespace with its own agent and manager (test/helpers/
// pool-harness.ts, compiled tree; one test guest per side). Host 1 stays alone; host 2 is the pool
// master and hosts 3…17 join it with pool.join. Both host 1 and the master get 2,000 VMs by
// VM.create (wall time and the managers' CPU time from /proc printed). Then, alternating between
// the two so the machine's drifting load weighs on both alike:
//   - VM.get_all_records and host.get_all_records (median of BENCH_ALL_RECORDS_REPS);
//   - a power-state change: one running test guest per side (on the pool, started on a slave
//     with VM.start_on), paused and unpaused in turn through the measured host's API; the time
//     from the VM.pause/VM.unpause request being sent to the new power_state arriving at each of
//     100 event.from watchers (the master records the state once the slave's agent has paused
//     QEMU, before it replies, so the figure includes the master → slave agent round trip);
//   - the time from a VM.set_name_label returning to its arrival at each of 100 watchers (as
//     bench:api measures it; a field write, no agent); on the pool, the VM's affinity is a slave.
//   - host.get_all_records is 1 record alone and 16 on the pool: also printed per record.
// Printed as pool / single (issue 13's target: ≤ 1.2×). Without pool.join (or when it fails) only
// the single host's column is printed, after "pool.join not available" or the error.
// The guest is the test guest (BERTH_TEST_GUEST_DIR or .cache/guest, tools/build-guest.sh); without
// it the power-state rows are skipped.
// The watchers run inside the measured host's namespace on 127.0.0.1:80; the timed calls come from
// this process through the harness's forwarded socket (one socat hop, on both sides alike).
// BENCH_HOSTS, BENCH_VMS, BENCH_WATCHERS, BENCH_WATCHER_PROCS, BENCH_EVENT_ROUNDS tune it.
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultTemplates } from '../src/manager/bootstrap/templates.js';
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
const GUEST_DIR = process.env.BERTH_TEST_GUEST_DIR ?? join(ROOT, '.cache/guest');

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

/** One side of the comparison: a host (the single one, or the pool master), its VMs and watchers. */
interface Side {
  name: string;
  host: PoolHost;
  rpc: Rpc;
  session: string;
  /** The VM whose name_label changes each event round. */
  target: string;
  vmAll: number[];
  vmAllBytes: number;
  hostAll: number[];
  hostCount: number;
  events: number[];
  /** The running guest paused and unpaused in turn, its power-state changes so far, the figures. */
  guest?: string;
  powerChanges: number;
  powerEvents: number[];
  powerCalls: number[];
  watchers: ChildProcess[];
  arrivals: Map<string, bigint[]>;
  waiting?: { label: string; resolve: () => void };
}

function newSide(name: string, host: PoolHost, rpc: Rpc, session: string, target: string): Side {
  return {
    name,
    host,
    rpc,
    session,
    target,
    vmAll: [],
    vmAllBytes: 0,
    hostAll: [],
    hostCount: 0,
    events: [],
    powerChanges: 0,
    powerEvents: [],
    powerCalls: [],
    watchers: [],
    arrivals: new Map(),
  };
}

async function timeCall(s: Side, method: string): Promise<{ ms: number; bytes: number }> {
  const t0 = process.hrtime.bigint();
  const text = await s.rpc.post(method, [s.session]);
  const ms = msBetween(t0, process.hrtime.bigint());
  if (text.includes('"error"')) throw new Error(`${s.name} ${method}: ${text.slice(0, 200)}`);
  return { ms, bytes: text.length };
}

/** The bench:api event watchers, run inside `host`'s namespace against its 127.0.0.1:80. */
async function spawnWatchers(
  host: PoolHost,
  arg: object,
  onMessage: (m: any) => void,
): Promise<ChildProcess> {
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

/**
 * WATCHERS event.from long polls on the side's manager, from a token past every earlier change;
 * with `power`, watching the guest's power_state (whose value is `power` now).
 */
async function startWatchers(s: Side, power?: string): Promise<void> {
  let token: string = (await s.rpc.call('event.from', [s.session, ['vm'], '', 0.0])).token;
  token = (await s.rpc.call('event.from', [s.session, ['vm'], token, 0.0])).token;
  const onArrival = (m: { label: string; ats: string[] }) => {
    let list = s.arrivals.get(m.label);
    if (!list) s.arrivals.set(m.label, (list = []));
    for (const at of m.ats) list.push(BigInt(at));
    if (s.waiting?.label === m.label && list.length >= WATCHERS) s.waiting.resolve();
  };
  for (let p = 0; p < WATCHER_PROCS; p++) {
    const n = Math.floor(WATCHERS / WATCHER_PROCS) + (p < WATCHERS % WATCHER_PROCS ? 1 : 0);
    const target = power === undefined ? s.target : s.guest;
    const arg = { port: s.host.httpPort, session: s.session, token, target, watchers: n, power };
    s.watchers.push(await spawnWatchers(s.host, arg, onArrival));
  }
}

async function stopWatchers(s: Side): Promise<void> {
  for (const p of s.watchers) {
    p.send('stop');
    await Promise.race([new Promise((r) => p.once('exit', r)), sleep(2000)]);
    p.kill('SIGKILL');
  }
  s.watchers = [];
}

/** One change of the target's name_label; its arrival at every watcher, in ms after the reply. */
async function eventRound(s: Side, label: string): Promise<number[]> {
  const all = new Promise<void>((resolve, reject) => {
    s.waiting = { label, resolve };
    setTimeout(() => reject(new Error(`${s.name}: event ${label} did not reach every watcher`)), 30_000);
  });
  all.catch(() => undefined);
  await s.rpc.call('VM.set_name_label', [s.session, s.target, label]);
  const ackAt = process.hrtime.bigint();
  if ((s.arrivals.get(label)?.length ?? 0) < WATCHERS) await all;
  const out = s.arrivals.get(label)!.map((at) => Math.max(0, msBetween(ackAt, at)));
  s.arrivals.delete(label);
  await sleep(50); // every watcher blocks in event.from again
  return out;
}

/** One pause or unpause of the side's guest; arrivals in ms after the request was sent. */
async function powerRound(s: Side): Promise<number[]> {
  const label = `power-${++s.powerChanges}`;
  const all = new Promise<void>((resolve, reject) => {
    s.waiting = { label, resolve };
    setTimeout(() => reject(new Error(`${s.name}: ${label} did not reach every watcher`)), 30_000);
  });
  all.catch(() => undefined);
  const sentAt = process.hrtime.bigint();
  await s.rpc.call(s.powerChanges % 2 ? 'VM.pause' : 'VM.unpause', [s.session, s.guest]);
  s.powerCalls.push(msBetween(sentAt, process.hrtime.bigint()));
  if ((s.arrivals.get(label)?.length ?? 0) < WATCHERS) await all;
  const out = s.arrivals.get(label)!.map((at) => Math.max(0, msBetween(sentAt, at)));
  s.arrivals.delete(label);
  await sleep(50);
  return out;
}

/**
 * Every measurement alternates between the sides (as bench:api alternates old and new code), so
 * the machine's load, which drifts over minutes here, weighs on both alike.
 */
async function measure(sides: Side[]): Promise<void> {
  for (const s of sides) {
    await timeCall(s, 'VM.get_all_records'); // fills the caches; not counted
    await timeCall(s, 'host.get_all_records');
  }
  for (let i = 0; i < ALL_RECORDS_REPS; i++)
    for (const s of sides) {
      const vm = await timeCall(s, 'VM.get_all_records');
      s.vmAll.push(vm.ms);
      s.vmAllBytes = vm.bytes;
      s.hostAll.push((await timeCall(s, 'host.get_all_records')).ms);
    }
  for (const s of sides) s.hostCount = (await s.rpc.call('host.get_all', [s.session])).length;
  if (sides.every((s) => s.guest)) {
    for (const s of sides)
      await startWatchers(s, await s.rpc.call('VM.get_power_state', [s.session, s.guest]));
    try {
      await sleep(300);
      for (let round = -EVENT_WARMUP_ROUNDS; round < EVENT_ROUNDS; round++)
        for (const s of sides) {
          const times = await powerRound(s);
          if (round >= 0) s.powerEvents.push(...times);
          else s.powerCalls.pop();
        }
    } finally {
      for (const s of sides) await stopWatchers(s);
    }
  }
  for (const s of sides) await startWatchers(s);
  try {
    await sleep(300);
    for (let round = -EVENT_WARMUP_ROUNDS; round < EVENT_ROUNDS; round++)
      for (const s of sides) {
        const times = await eventRound(s, `round-${round}`);
        if (round >= 0) s.events.push(...times);
      }
  } finally {
    for (const s of sides) await stopWatchers(s);
  }
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

/** A running test guest on `rpc`'s host (on `host` with VM.start_on), or a reason it has none. */
async function startGuest(rpc: Rpc, session: string, name: string, host?: string): Promise<string> {
  const rec = baseVmRecord({ ...defaultTemplates(GUEST_DIR)[0].record, name_label: name });
  const vm: string = await rpc.call('VM.create', [session, rec]);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if (host) await rpc.call('VM.start_on', [session, vm, host, false, false]);
      else await rpc.call('VM.start', [session, vm, false, false]);
      return vm;
    } catch (e) {
      // A slave just joined may not be live on the master yet.
      if (!/HOST_OFFLINE/.test(String(e)) || Date.now() > deadline) throw e;
      await sleep(500);
    }
  }
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

/** CPU time (user + system) of a host's manager so far, in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(h: PoolHost): number {
  const pid = h.pid('manager');
  if (!pid) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function login(rpc: Rpc, h: PoolHost): Promise<string> {
  return rpc.call('session.login_with_password', ['root', h.rootPassword(), '2.21', 'bench']);
}

async function main() {
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const t0 = Date.now();
  // Host 1 stays alone; host 2 is the pool's master, hosts 3… its slaves.
  const harness = await startHosts(HOSTS + 1, { built: true, logLevel: 'warn', startTimeoutMs: 180_000 });
  const stop = () => void harness.stop().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const [alone, master, ...slaves] = harness.hosts;
  const rpcs = [new Rpc(alone.apiSocket), new Rpc(master.apiSocket)];
  try {
    console.log(`${HOSTS + 1} hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${harness.subnet})`);
    const j0 = Date.now();
    const skipped = await joinAll(master, slaves);
    let masterSession = '';
    if (skipped) console.log(skipped);
    else {
      masterSession = await login(rpcs[1], master);
      const deadline = Date.now() + 300_000;
      while ((await rpcs[1].call('host.get_all', [masterSession])).length < HOSTS) {
        if (Date.now() > deadline) throw new Error('the slaves did not all appear on the master');
        await sleep(500);
      }
      console.log(
        `${slaves.length} pool.join calls (one after another) in ${((Date.now() - j0) / 1000).toFixed(1)} s`,
      );
    }
    const sides: Side[] = [];
    const aloneSession = await login(rpcs[0], alone);
    // The guests boot (under TCG, seconds of CPU) while the VMs are created.
    const guests: (string | undefined)[] = [];
    if (!existsSync(join(GUEST_DIR, 'vmlinuz')))
      console.log(`no test guest in ${GUEST_DIR}: no power-state rows (tools/build-guest.sh)`);
    else {
      guests.push(await startGuest(rpcs[0], aloneSession, 'bench-pool-guest'));
      if (!skipped) {
        const masterHost: string = await rpcs[1].call('pool.get_master', [
          masterSession,
          (await rpcs[1].call('pool.get_all', [masterSession]))[0],
        ]);
        const slave = (await rpcs[1].call('host.get_all', [masterSession])).find(
          (x: string) => x !== masterHost,
        );
        guests.push(await startGuest(rpcs[1], masterSession, 'bench-pool-guest', slave));
      }
      console.log("test guests running (the pool's on a slave)");
    }
    for (const [k, h] of (skipped ? [alone] : [alone, master]).entries()) {
      const c0 = Date.now();
      const session = k === 0 ? aloneSession : masterSession;
      const cpu0 = cpuMs(h);
      const slavesCpu0 = k === 1 ? slaves.map(cpuMs) : [];
      const vms = await createVms(rpcs[k], session, VM_COUNT);
      const slavesCpu = slaves.reduce((sum, sl, i) => sum + (cpuMs(sl) - (slavesCpu0[i] ?? 0)), 0);
      console.log(
        `${VM_COUNT} VMs by VM.create on ${h.hostname} in ${((Date.now() - c0) / 1000).toFixed(1)} s; its manager's CPU ${((cpuMs(h) - cpu0) / 1000).toFixed(1)} s${k === 1 ? `, the ${slaves.length} slaves' managers' CPU ${(slavesCpu / 1000).toFixed(1)} s` : ''}`,
      );
      let target = vms[1];
      if (k === 1) {
        // On the pool, the changing VM is a slave's (its affinity).
        const hosts: string[] = await rpcs[1].call('host.get_all', [session]);
        const pool: string = (await rpcs[1].call('pool.get_all', [session]))[0];
        const masterHost: string = await rpcs[1].call('pool.get_master', [session, pool]);
        [target] = await createVms(
          rpcs[1],
          session,
          1,
          hosts.find((x) => x !== masterHost),
        );
      }
      const side = newSide(k === 0 ? 'single' : 'pool', h, rpcs[k], session, target);
      side.guest = guests[k];
      sides.push(side);
    }
    const [single, pooled] = sides as [Side, Side | undefined];
    await measure(sides);

    const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
    const hostCount = async (s: Side) => (await s.rpc.call('host.get_all', [s.session])).length;
    console.log(
      `\nbench:pool  ${new Date().toISOString()}  node ${process.version}  load average ${load0} → ${load1}  ${VM_COUNT} VMs per side, pool of ${pooled ? await hostCount(pooled) : '—'} hosts`,
    );
    console.log('\n| measurement | single host | pool master | pool / single | target |');
    console.log('|---|---|---|---|---|');
    const row = (what: string, pick: (s: Side) => number, target: string) => {
      const a = pick(single);
      const b = pooled ? pick(pooled) : Number.NaN;
      console.log(
        `| ${what} | ${f(a)} ms | ${pooled ? `${f(b)} ms` : '—'} | ${pooled ? `${(b / a).toFixed(2)}×` : '—'} | ${target} |`,
      );
    };
    row(`VM.get_all_records, median of ${ALL_RECORDS_REPS}`, (s) => percentile(s.vmAll, 50), '≤ 1.2×');
    row(`host.get_all_records, median of ${ALL_RECORDS_REPS}`, (s) => percentile(s.hostAll, 50), '≤ 1.2×');
    row(
      'host.get_all_records per host record (median / hosts)',
      (s) => percentile(s.hostAll, 50) / s.hostCount,
      '≤ 1.2×',
    );
    if (single.guest) {
      for (const p of [50, 99])
        row(
          `power-state change (pause/unpause) to ${WATCHERS} watchers × ${EVENT_ROUNDS} rounds, p${p}`,
          (s) => percentile(s.powerEvents, p),
          '≤ 1.2×',
        );
      row('VM.pause / VM.unpause call, p50', (s) => percentile(s.powerCalls, 50), '—');
    }
    row(
      `name_label event to ${WATCHERS} watchers × ${EVENT_ROUNDS} rounds, p50`,
      (s) => percentile(s.events, 50),
      '≤ 1.2×',
    );
    row(
      `name_label event to ${WATCHERS} watchers × ${EVENT_ROUNDS} rounds, p99`,
      (s) => percentile(s.events, 99),
      '≤ 1.2×',
    );
    console.log(
      `\nVM.get_all_records reply: ${(single.vmAllBytes / 1e6).toFixed(2)} MB single, ${pooled ? (pooled.vmAllBytes / 1e6).toFixed(2) : '—'} MB pool; measurements alternate between the two`,
    );
  } finally {
    for (const r of rpcs) r.close();
    await harness.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
