// The manager's own share of VM.start, without QEMU: VM.start over JSON-RPC against an in-process
// manager whose host agent is stood in for (answers at once), for this tree and the baseline
// (bench/baseline.ts) alternately, BENCH_RUNS starts each (default 30). What remains is the
// dispatcher, the bookkeeping and the SQLite commits.
//   npx tsx bench/vm-start-overhead.ts
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prepareBaseline } from './baseline.js';

const ROOT = join(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 30);

async function rpc(url: string, method: string, params: unknown[]): Promise<any> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const r = (await res.json()) as { result?: unknown; error?: unknown };
  if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result;
}

interface Stack {
  name: string;
  url: string;
  session: string;
  vm: string;
  times: number[];
  cleanups: (() => unknown)[];
}

async function stack(name: string, root: string): Promise<Stack> {
  const imp = (p: string) => import(pathToFileURL(join(root, p)).href);
  const { startManager } = await imp('test/helpers/manager.ts');
  const { baseVmRecord } = await imp('src/manager/bootstrap/vm-record.ts');
  const cleanups: (() => unknown)[] = [];
  const m = await startManager({ after: (f: () => unknown) => cleanups.unshift(f) });
  const stub = {
    connected: true,
    start: async (s: { uuid: string }) => ({
      uuid: s.uuid,
      state: 'running',
      vcpus: 1,
      memoryBytes: 256 * 1024 * 1024,
      startedAt: Date.now(),
    }),
    shutdown: async () => undefined,
    close: () => undefined,
  };
  // A tree with a host registry (issue 13 on) takes the stand-in there; older trees in `ext`.
  const svc = m.manager.svc;
  if (svc.hosts) svc.hosts.attach(svc.hostRef(), stub);
  else svc.ext.agent = stub;
  const session = await rpc(m.httpUrl, 'session.login_with_password', ['root', m.rootPassword]);
  const vm = await rpc(m.httpUrl, 'VM.create', [session, baseVmRecord({ name_label: 'overhead' })]);
  return { name, url: m.httpUrl, session, vm, times: [], cleanups };
}

async function main() {
  process.env.BERTH_LOG_LEVEL ??= 'warn';
  const baseline = prepareBaseline(ROOT);
  const stacks: Stack[] = [];
  if (baseline) stacks.push(await stack(`baseline ${baseline.rev.slice(0, 7)}`, baseline.root));
  stacks.push(await stack('this tree', ROOT));
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const s of stacks) {
        const t0 = performance.now();
        await rpc(s.url, 'VM.start', [s.session, s.vm, false, false]);
        s.times.push(performance.now() - t0);
        await rpc(s.url, 'VM.hard_shutdown', [s.session, s.vm]);
      }
    }
    const load = (await import('node:fs'))
      .readFileSync('/proc/loadavg', 'utf8')
      .split(' ')
      .slice(0, 3)
      .join(' ');
    console.log(`\nVM.start without QEMU (stand-in agent), ${RUNS} starts each, load average ${load}`);
    for (const s of stacks) {
      const x = [...s.times].sort((a, b) => a - b);
      const at = (p: number) => x[Math.min(x.length - 1, Math.floor(p * x.length))].toFixed(1);
      console.log(`${s.name}: median ${at(0.5)} ms, p10 ${at(0.1)} ms, p90 ${at(0.9)} ms`);
    }
  } finally {
    for (const s of stacks) for (const c of s.cleanups) await c();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
