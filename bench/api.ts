// npm run bench:api — the manager's RPC throughput and latency, in one run:
//   1. VM.get_record calls/s and p50/p99 over JSON-RPC and XML-RPC (wrk, keep-alive connections),
//      next to a bare Node `http` hello-world server as the physical reference;
//   2. VM.get_all_records time with 10,000 VMs stored (JSON-RPC and XML-RPC);
//   3. event latency: from VM.set_name_label returning to the change arriving through event.from,
//      with 100 concurrent watchers.
// The manager runs as its own process (as in production); the database is seeded with 10,000 VMs
// before it starts. Needs `wrk` (Debian package).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL } from '../src/shared/datamodel/generated/model.js';
import { baseVmRecord } from '../src/manager/bootstrap/vm-record.js';
import { Database } from '../src/manager/db/database.js';
import { SqliteBackend } from '../src/manager/db/sqlite-backend.js';
import { run } from '../src/shared/exec.js';

const ROOT = join(import.meta.dirname, '..');
const DURATION = process.env.BENCH_DURATION ?? '8s';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const VM_COUNT = Number(process.env.BENCH_VMS ?? 10_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 100);
const EVENT_ROUNDS = Number(process.env.BENCH_EVENT_ROUNDS ?? 40);

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function post(port: number, path: string, body: string, type: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        port,
        host: '127.0.0.1',
        path,
        method: 'POST',
        agent,
        headers: { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const jsonBody = (method: string, params: unknown[]) =>
  JSON.stringify({ jsonrpc: '2.0', id: 0, method, params });
async function jcall(port: number, method: string, params: unknown[]): Promise<any> {
  const r = JSON.parse(await post(port, '/jsonrpc', jsonBody(method, params), 'application/json'));
  if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result;
}
const xmlBody = (method: string, strings: string[]) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${strings
    .map((s) => `<param><value>${s}</value></param>`)
    .join('')}</params></methodCall>`;

function waitForPort(port: number, path: string, body: string, type: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const tryOnce = () =>
      post(port, path, body, type).then(
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

/** Runs a compiled script from dist/ (npm run bench:api builds first), as in production. */
function spawnNode(args: string[]): ChildProcess {
  const [script, ...rest] = args;
  const compiled = join(ROOT, 'dist', script.replace(/\.ts$/, '.js'));
  const child = spawn(process.execPath, [compiled, ...rest], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, BERTH_LOG_LEVEL: 'warn', BERTH_NETWORKING: '0' },
  });
  return child;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const children: ChildProcess[] = [];
  try {
    // Seed the database with VM_COUNT VMs (one transaction), then start the manager on it.
    {
      const backend = new SqliteBackend(join(dir, 'berth.db'), MODEL);
      const db = new Database(MODEL, backend);
      const t0 = performance.now();
      db.transaction(() => {
        for (let i = 0; i < VM_COUNT; i++)
          db.create('VM', baseVmRecord({ name_label: `bench-${i}`, other_config: { i: String(i) } }));
      });
      console.log(`seeded ${VM_COUNT} VMs in ${(performance.now() - t0).toFixed(0)} ms`);
      backend.close();
    }
    const port = await freePort();
    const hello = await freePort();
    children.push(
      spawnNode([
        'src/manager/main.ts',
        '--data-dir',
        dir,
        '--listen',
        '127.0.0.1',
        '--http-port',
        String(port),
        '--https-port',
        'off',
        '--socket',
        join(dir, 'xapi.sock'),
      ]),
    );
    children.push(spawnNode(['bench/hello-server.ts', String(hello)]));
    await waitForPort(port, '/jsonrpc', jsonBody('system.listMethods', []), 'application/json');
    await waitForPort(hello, '/', 'x', 'text/plain');
    const { readFileSync } = await import('node:fs');
    const password = readFileSync(join(dir, 'root-password'), 'utf8').trim();
    const session = await jcall(port, 'session.login_with_password', ['root', password]);
    const vms: string[] = await jcall(port, 'VM.get_all', [session]);
    const vm = vms.find((r) => r !== undefined)!;

    const results: Record<string, WrkResult> = {};
    results.hello = await wrk(`http://127.0.0.1:${hello}/`, 'x', 'text/plain', dir);
    results.json = await wrk(
      `http://127.0.0.1:${port}/jsonrpc`,
      jsonBody('VM.get_record', [session, vm]),
      'application/json',
      dir,
    );
    results.xml = await wrk(
      `http://127.0.0.1:${port}/`,
      xmlBody('VM.get_record', [session, vm]),
      'text/xml',
      dir,
    );

    const timeAll = async (path: string, body: string, type: string) => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        const text = await post(port, path, body, type);
        times.push(performance.now() - t0);
        if (text.length < VM_COUNT * 100) throw new Error('get_all_records reply too short');
      }
      return percentile(times, 50);
    };
    const allJson = await timeAll('/jsonrpc', jsonBody('VM.get_all_records', [session]), 'application/json');
    const allXml = await timeAll('/', xmlBody('VM.get_all_records', [session]), 'text/xml');

    // Event latency with WATCHERS concurrent event.from long polls on the VM class.
    const target = vms[1];
    let token: string = (await jcall(port, 'event.from', [session, ['vm'], '', 0.0])).token;
    // Skip the initial "everything as add" batch: advance the token first.
    token = (await jcall(port, 'event.from', [session, ['vm'], token, 0.0])).token;
    const latencies: number[] = [];
    for (let round = 0; round < EVENT_ROUNDS; round++) {
      let changedAt = 0;
      const label = `round-${round}`;
      const watchers = Array.from({ length: WATCHERS }, async () => {
        const r = await jcall(port, 'event.from', [session, ['vm'], token, 30.0]);
        const arrived = performance.now();
        if (!r.events.some((e: any) => e.ref === target && e.snapshot?.name_label === label))
          throw new Error('event missing');
        return { arrived, token: r.token as string };
      });
      await new Promise((r) => setTimeout(r, 50)); // let every watcher block
      await jcall(port, 'VM.set_name_label', [session, target, label]);
      changedAt = performance.now();
      const got = await Promise.all(watchers);
      for (const g of got) latencies.push(Math.max(0, g.arrived - changedAt));
      token = got[0].token;
    }

    const date = new Date().toISOString();
    const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
    console.log(
      `\nbench:api  ${date}  node ${process.version}  ${CONNECTIONS} keep-alive connections, ${DURATION} per run`,
    );
    console.log('| workload | calls/s | p50 ms | p99 ms | vs hello-world |');
    console.log('|---|---|---|---|---|');
    console.log(
      `| Node http hello-world | ${results.hello.rps.toFixed(0)} | ${results.hello.p50.toFixed(2)} | ${results.hello.p99.toFixed(2)} | 100% |`,
    );
    console.log(
      `| VM.get_record JSON-RPC | ${results.json.rps.toFixed(0)} | ${results.json.p50.toFixed(2)} | ${results.json.p99.toFixed(2)} | ${pct(results.json.rps, results.hello.rps)} (target ≥ 50%) |`,
    );
    console.log(
      `| VM.get_record XML-RPC | ${results.xml.rps.toFixed(0)} | ${results.xml.p50.toFixed(2)} | ${results.xml.p99.toFixed(2)} | ${pct(results.xml.rps, results.hello.rps)} (target ≥ 30%) |`,
    );
    console.log(
      `\nVM.get_all_records with ${VM_COUNT} VMs (median of 7): JSON-RPC ${allJson.toFixed(0)} ms, XML-RPC ${allXml.toFixed(0)} ms (target ≤ 250 ms)`,
    );
    console.log(
      `event latency, ${WATCHERS} watchers × ${EVENT_ROUNDS} changes: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms (target p99 ≤ 20 ms)`,
    );
  } finally {
    for (const c of children) c.kill('SIGTERM');
    agent.destroy();
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
