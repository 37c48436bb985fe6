// npm run bench:cli — the `berth` CLI's start-up and a listing, against `xe` in the same run:
//   1. start-up to first request: a local HTTP server notes when each spawned client's first
//      request arrives (monotonic clock, comparable across processes); berth, xe, and a bare
//      `node` that sends one request at once (the floor);
//   2. `berth vm list` of 1,000 VMs vs `xe vm-list` of the same manager (a real manager process
//      on a database seeded with the VMs), wall time spawn → exit, alternating runs.
// Runs the built tree (dist/); BENCH_VMS (default 1000) and BENCH_REPS (default 9) tune it.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { localManagerArgs } from '../test/helpers/manager-args.js';
import { jcall, jsonBody, makeAgent, post } from './rpc-client.js';

const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const VM_COUNT = Number(process.env.BENCH_VMS ?? 1000);
const REPS = Number(process.env.BENCH_REPS ?? 9);
const agent = makeAgent();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (ns: bigint) => Number(ns) / 1e6;

/** The berth entry users run: the bundle `npm run build` writes (package.json bin, berth-up.sh). */
const BERTH_ENTRY = join(DIST, 'berth/main.js');

function run(
  args: string[],
): Promise<{ code: number | null; out: string; err: string; startedAt: bigint; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const startedAt = process.hrtime.bigint();
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: '/nonexistent' },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, out, err, startedAt, wallMs: ms(process.hrtime.bigint() - startedAt) }),
    );
  });
}

/** Part 1: a server that answers every request with a login failure and notes arrival times. */
async function startupToFirstRequest(berth: string, pwFile: string): Promise<Record<string, number>> {
  let arrivals: bigint[] = [];
  const server = http.createServer((req, res) => {
    arrivals.push(process.hrtime.bigint());
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          error: { message: 'SESSION_AUTHENTICATION_FAILED', data: ['root', 'bench'] },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const floor = `require('http').request({port:${port},host:'127.0.0.1',method:'POST',path:'/jsonrpc'},r=>r.resume()).end('{}')`;
  const clients: Record<string, string[]> = {
    'node (one request, the floor)': ['-e', floor],
    berth: [
      berth,
      '--url',
      `http://127.0.0.1:${port}/`,
      '-u',
      'root',
      '--passwordfile',
      pwFile,
      'vm',
      'list',
    ],
    xe: [
      join(DIST, 'src/clients/xe/main.js'),
      'vm-list',
      '-s',
      '127.0.0.1',
      '-p',
      String(port),
      '-u',
      'root',
      '-pw',
      'x',
    ],
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
  for (let i = 0; i < REPS + 1; i++)
    for (const [name, args] of Object.entries(clients)) {
      arrivals = [];
      const r = await run(args);
      if (!arrivals.length) throw new Error(`${name} sent no request: ${r.err}`);
      if (i > 0) times[name].push(ms(arrivals[0] - r.startedAt)); // the first round warms the page cache
    }
  server.close();
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

/** Part 2: a manager process on a database seeded with VM_COUNT VMs. */
async function startManager(dir: string): Promise<{ port: number; password: string; stop: () => void }> {
  const imp = (p: string) => import(pathToFileURL(join(DIST, p)).href);
  const { MODEL } = await imp('src/shared/datamodel/generated/model.js');
  const { baseVmRecord } = await imp('src/manager/bootstrap/vm-record.js');
  const { Database } = await imp('src/manager/db/database.js');
  const { SqliteBackend } = await imp('src/manager/db/sqlite-backend.js');
  const backend = new SqliteBackend(join(dir, 'berth.db'), MODEL);
  const db = new Database(MODEL, backend);
  db.transaction(() => {
    for (let i = 0; i < VM_COUNT; i++) db.create('VM', baseVmRecord({ name_label: `bench-${i}` }));
  });
  backend.close();
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const proc = spawn(
    process.execPath,
    [
      join(DIST, 'src/manager/main.js'),
      ...localManagerArgs({ dataDir: dir, port, socket: join(dir, 'xapi.sock') }),
    ],
    {
      stdio: ['ignore', 'ignore', 'ignore'],
      env: { ...process.env, BERTH_LOG_LEVEL: 'error', BERTH_NETWORKING: '0' },
    },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await post(agent, port, '/jsonrpc', jsonBody('system.listMethods', []), 'application/json');
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const password = readFileSync(join(dir, 'root-password'), 'utf8').trim();
  // One call before timing, so neither client pays the manager's first-request warm-up.
  await jcall(agent, port, 'session.login_with_password', ['root', password]);
  return { port, password, stop: () => proc.kill('SIGTERM') };
}

async function listing(berth: string, dir: string): Promise<{ berth: number; xe: number }> {
  mkdirSync(dir, { recursive: true });
  const m = await startManager(dir);
  try {
    const pw = join(dir, 'pw');
    writeFileSync(pw, m.password);
    const berthArgs = [
      berth,
      '--url',
      `http://127.0.0.1:${m.port}/`,
      '-u',
      'root',
      '--passwordfile',
      pw,
      'vm',
      'list',
    ];
    const xeArgs = [
      join(DIST, 'src/clients/xe/main.js'),
      'vm-list',
      '-s',
      '127.0.0.1',
      '-p',
      String(m.port),
      '-u',
      'root',
      '-pw',
      m.password,
    ];
    const times = { berth: [] as number[], xe: [] as number[] };
    for (let i = 0; i < REPS + 1; i++) {
      const b = await run(berthArgs);
      const lines = b.out.trim().split('\n').length;
      if (b.code !== 0 || lines !== VM_COUNT)
        throw new Error(`berth vm list: exit ${b.code}, ${lines} lines: ${b.err}`);
      const x = await run(xeArgs);
      const vms = (x.out.match(/^uuid \( RO\)/gm) ?? []).length;
      if (x.code !== 0 || vms < VM_COUNT) throw new Error(`xe vm-list: exit ${x.code}, ${vms} VMs: ${x.err}`);
      if (i > 0) {
        times.berth.push(b.wallMs);
        times.xe.push(x.wallMs);
      }
    }
    return { berth: median(times.berth), xe: median(times.xe) };
  } finally {
    m.stop();
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-cli-'));
  try {
    const script = BERTH_ENTRY;
    console.log(`berth: ${script.replace(`${ROOT}/`, '')} (the bundle); ${REPS} runs each, medians`);
    const pw = join(dir, 'pw-startup');
    writeFileSync(pw, 'x');
    const start = await startupToFirstRequest(script, pw);
    console.log('\n1. start-up to first request (spawn → first request at a local server)');
    for (const [k, v] of Object.entries(start)) console.log(`   ${k.padEnd(30)} ${v.toFixed(1)} ms`);
    const floor = start['node (one request, the floor)'];
    console.log(
      `   above the floor: berth ${(start.berth - floor).toFixed(1)} ms, xe ${(start.xe - floor).toFixed(1)} ms`,
    );
    console.log(`   berth / xe: ${(start.berth / start.xe).toFixed(2)}  (target: berth < 150 ms)`);
    const l = await listing(script, join(dir, 'manager'));
    console.log(`\n2. listing ${VM_COUNT} VMs (spawn → exit)`);
    console.log(`   berth vm list                  ${l.berth.toFixed(1)} ms`);
    console.log(`   xe vm-list                     ${l.xe.toFixed(1)} ms`);
    console.log(`   berth / xe: ${(l.berth / l.xe).toFixed(2)}  (target: <= 1)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    agent.destroy();
  }
}

await main();
