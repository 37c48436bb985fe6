// npm run bench:node-daemon (RPC half; issue 18): round trip of a trivial agent procedure,
// `test_delay(0)`, on a real agent (startAgent, in this process) over its local Unix socket and
// over mutual TLS (its TCP listener with pool certificates issued by openssl, as a pool member's
// master calls it), through Berth's client (AgentClient: JSON body, [ok, payload] reply, timeouts).
// The peer in the same run: a bare Node HTTP server answering the same reply bytes, on a Unix
// socket and behind the same TLS settings (same certificates, client certificate required), asked
// by a bare http/https request with the same keep-alive agent settings — the floor of one HTTP
// request on Node without Berth's RPC layer. Calls are sequential (one in flight), after a warm-up;
// p50/p99 over BENCH_RPC_CALLS (default 3000). Targets: Unix < 1 ms p50, TLS < 3 ms p50.
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from '../src/agent/agent.js';
import { AgentClient } from '../src/shared/noded/client.js';
import { tcpTransport } from '../src/shared/noded/transport.js';
import { createPoolCa, issueHostCert, type TlsMaterial } from '../src/shared/pki/pool-pki.js';

const CALLS = Number(process.env.BENCH_RPC_CALLS ?? 3000);
const WARMUP = Math.min(300, Math.ceil(CALLS / 10));
const AGENT_UUID = '6a3c1f0e-0000-4000-8000-00000000b001';
const MASTER_UUID = '6a3c1f0e-0000-4000-8000-00000000b002';
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

export interface Latency {
  p50: number;
  p99: number;
  mean: number;
}

/** p50/p99/mean in ms of `calls` sequential runs of `f` after a warm-up. */
export async function measure(f: () => Promise<unknown>, calls = CALLS): Promise<Latency> {
  for (let i = 0; i < WARMUP; i++) await f();
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  return { p50: at(0.5), p99: at(0.99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

/** A bare Node HTTP(S) server answering every POST with the agent's reply to test_delay(0). */
async function bareServer(where: { unix: string } | { tls: TlsMaterial }) {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const body = '[true,true]';
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    });
  };
  if ('unix' in where) {
    const s = http.createServer({ keepAliveTimeout: 60_000 }, handler);
    s.listen(where.unix);
    await once(s, 'listening');
    return { server: s, port: 0 };
  }
  const s = https.createServer(
    {
      ...where.tls,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      keepAliveTimeout: 60_000,
    },
    handler,
  );
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { server: s, port: (s.address() as { port: number }).port };
}

/** One bare POST on a keep-alive agent; resolves with the body. */
function bareCall(opts: http.RequestOptions, mod: typeof http | typeof https): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = '[0]';
    const req = mod.request(
      {
        ...opts,
        method: 'POST',
        path: '/test_delay',
        headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const f2 = (n: number) => n.toFixed(3);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-noded-'));
  try {
    const caDir = join(dir, 'ca');
    await createPoolCa(caDir, 'bench pool');
    const pki = join(dir, 'pki');
    await issueHostCert(caDir, AGENT_UUID, '127.0.0.1', pki);
    const master = await issueHostCert(caDir, MASTER_UUID, '127.0.0.1', join(dir, 'master'));
    const socketPath = join(dir, 'sock', 'agent.sock');
    const agent = await startAgent({
      socketPath,
      runRoot: join(dir, 'run'),
      logRoot: join(dir, 'log'),
      stateRoots: [join(dir, 'state')],
      accel: 'tcg',
      pkiDir: pki,
      tcp: { host: '127.0.0.1', port: 0 },
      stats: { sampler: false },
      devicePlugins: false,
    });
    const port = agent.server.tcpAddress?.port;
    if (!port) throw new Error('the agent did not start its TLS listener');
    const unixClient = new AgentClient(socketPath);
    const tlsClient = new AgentClient(tcpTransport('127.0.0.1', master, AGENT_UUID, port));
    const bareUnix = await bareServer({ unix: join(dir, 'bare.sock') });
    const agentTls = await issueHostCert(caDir, AGENT_UUID, '127.0.0.1', join(dir, 'bare-pki'));
    const bareTls = await bareServer({ tls: agentTls });
    const unixAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const tlsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      ca: master.ca,
      cert: master.cert,
      key: master.key,
      checkServerIdentity: () => undefined,
    });
    if ((await unixClient.call('test_delay', [0])) !== true)
      throw new Error('test_delay(0) did not answer true');

    log(`${CALLS} calls each, ${WARMUP} warm-up`);
    const rows: [string, Latency, Latency, string][] = [];
    log('unix: Berth');
    const berthUnix = await measure(() => unixClient.call('test_delay', [0]));
    log('unix: bare Node');
    const peerUnix = await measure(() =>
      bareCall({ socketPath: join(dir, 'bare.sock'), agent: unixAgent }, http),
    );
    rows.push(['Unix socket', berthUnix, peerUnix, '< 1 ms']);
    log('TLS: Berth');
    const berthTls = await measure(() => tlsClient.call('test_delay', [0]));
    log('TLS: bare Node');
    const peerTls = await measure(() =>
      bareCall({ host: '127.0.0.1', port: bareTls.port, agent: tlsAgent }, https),
    );
    rows.push(['mutual TLS (TCP, loopback)', berthTls, peerTls, '< 3 ms']);

    console.log(
      '| Transport | Berth p50 | Berth p99 | bare Node p50 | bare Node p99 | p50 ratio | target (p50) |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const [name, b, p, target] of rows)
      console.log(
        `| ${name} | ${f2(b.p50)} ms | ${f2(b.p99)} ms | ${f2(p.p50)} ms | ${f2(p.p99)} ms | ${(b.p50 / p.p50).toFixed(2)}x | ${target} ${b.p50 < Number(target.match(/[0-9.]+/)?.[0]) ? 'met' : 'missed'} |`,
      );

    unixClient.close();
    tlsClient.close();
    unixAgent.destroy();
    tlsAgent.destroy();
    bareUnix.server.close();
    bareTls.server.close();
    await agent.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('node-daemon-rpc.ts')) await main();
