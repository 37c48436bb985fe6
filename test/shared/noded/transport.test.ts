// Agent transport over real TLS on loopback TCP: pool certificates made by openssl, mutual
// authentication, refusal of plain and foreign peers, the push channel across an agent restart,
// RPC timeout classes, and the local-only tls_install.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgentServer } from '../../../src/agent/server.js';
import { localTlsProcedures, parseListenAddress } from '../../../src/agent/tls.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { AgentClient } from '../../../src/shared/noded/client.js';
import { AgentError } from '../../../src/shared/noded/protocol.js';
import { procedureClass, procedureTimeout } from '../../../src/shared/noded/timeouts.js';
import { type AgentTransport, tcpTransport } from '../../../src/shared/noded/transport.js';
import {
  CA_KEY,
  checkTlsMaterial,
  createPoolCa,
  ensureHostPki,
  HOST_KEY,
  issueHostCert,
  loadPoolCredentials,
  loadTlsMaterial,
  type TlsMaterial,
} from '../../../src/shared/pki/pool-pki.js';
import { tempDir } from '../../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../../..');
const AGENT_UUID = '11111111-1111-4111-8111-111111111111';
const MASTER_UUID = '22222222-2222-4222-8222-222222222222';
const OTHER_UUID = '33333333-3333-4333-8333-333333333333';

interface Pki {
  agent: TlsMaterial;
  master: TlsMaterial;
  dir: string;
}

/** A pool CA in `<dir>/ca` and certificates for an agent host and a master host. */
async function pool(dir: string, agentUuid = AGENT_UUID, masterUuid = MASTER_UUID): Promise<Pki> {
  await createPoolCa(join(dir, 'ca'), 'test pool');
  const agent = await issueHostCert(join(dir, 'ca'), agentUuid, '127.0.0.1', join(dir, 'agent'));
  const master = await issueHostCert(join(dir, 'ca'), masterUuid, '127.0.0.1', join(dir, 'master'));
  return { agent, master, dir };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms = 15_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const procs = {
  echo: (x: unknown) => x,
  // URGENT class in timeouts.ts; slowed here to exceed a shortened URGENT.
  instance_info: async (ms: number) => {
    await sleep(ms);
    return 'done';
  },
  test_delay: async (ms: number) => {
    await sleep(ms);
    return 'done';
  },
};

async function tlsServer(t: import('node:test').TestContext, m: TlsMaterial, opts = {}) {
  const server = new AgentServer(procs, opts);
  t.after(() => server.close());
  const a = await server.listenTcp('127.0.0.1', 0, m);
  return { server, port: a.port };
}

function client(t: import('node:test').TestContext, tr: string | AgentTransport, opts = {}) {
  const c = new AgentClient(tr, { maxBackoffMs: 200, ...opts });
  t.after(() => c.close());
  return c;
}

const cannotContact = (re: RegExp) => (e: unknown) =>
  e instanceof XenApiError && e.code === 'CANNOT_CONTACT_HOST' && re.test(e.params.join(' '));

test('pool PKI: host certificate names the host, chains to the pool CA, keys 0600', async (t) => {
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const cert = new X509Certificate(p.agent.cert);
  assert.equal(cert.subject, `CN=${AGENT_UUID}`);
  assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1');
  assert.ok(cert.checkIssued(new X509Certificate(p.agent.ca)));
  assert.equal(checkTlsMaterial(p.agent), AGENT_UUID);
  assert.equal(statSync(join(dir, 'agent', HOST_KEY)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca', CA_KEY)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'agent')).mode & 0o777, 0o700);
  // Mismatched pieces and unsafe names are refused before anything is written.
  assert.throws(() => checkTlsMaterial({ ...p.agent, key: p.master.key }), /does not match/);
  assert.throws(() => checkTlsMaterial(p.agent, Date.parse('2100-01-01')), /not valid now/);
  const other = await pool(join(dir, 'other'));
  assert.throws(() => checkTlsMaterial({ ...p.agent, ca: other.agent.ca }), /not issued by the pool CA/);
  await assert.rejects(
    issueHostCert(join(dir, 'ca'), 'x/CN=evil', '127.0.0.1', join(dir, 'x')),
    /not a host uuid/,
  );
  await assert.rejects(
    issueHostCert(join(dir, 'ca'), OTHER_UUID, 'a,DNS:evil', join(dir, 'x')),
    /not a host address/,
  );
});

test('a standalone host gets a pool of its own once', async (t) => {
  const dir = join(tempDir(t, 'berth-transport-'), 'pki');
  assert.equal(await ensureHostPki(dir, OTHER_UUID, 'host-3.example'), true);
  const m = loadPoolCredentials(dir);
  assert.equal(checkTlsMaterial(m), OTHER_UUID);
  assert.ok(m.caKey);
  assert.equal(new X509Certificate(m.cert).subjectAltName, 'DNS:host-3.example');
  assert.equal(await ensureHostPki(dir, OTHER_UUID, 'host-3.example'), false);
  assert.deepEqual(loadPoolCredentials(dir), m, 'kept as it was');
});

test('mutual TLS: a pool member calls; plain, certless and foreign peers are refused', async (t) => {
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const other = await pool(join(dir, 'other'), OTHER_UUID, OTHER_UUID);
  const { port } = await tlsServer(t, p.agent);

  const good = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, port));
  assert.deepEqual(await good.call('echo', [{ a: [1, 'x'] }]), { a: [1, 'x'] });

  // Plain HTTP on the TLS port: the handshake fails, no RPC is served.
  await assert.rejects(
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/echo', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end('[1]');
    }),
    /socket hang up|ECONNRESET/,
  );
  // TLS without a client certificate.
  await assert.rejects(
    new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: '/echo',
          method: 'POST',
          ca: p.agent.ca,
          checkServerIdentity: () => undefined,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on('error', reject);
      req.end('[1]');
    }),
    /certificate required|alert|ECONNRESET|socket hang up/,
  );
  // A client certificate from another pool (trusting our CA so only the client side differs).
  const foreignClient = client(
    t,
    tcpTransport('127.0.0.1', { ...other.master, ca: p.agent.ca }, AGENT_UUID, port),
  );
  await assert.rejects(
    foreignClient.call('echo', [1]),
    cannotContact(/unknown ca|alert|ECONNRESET|hang up/i),
  );
  // The right pool, but the agent is not the host we meant to reach.
  const wrongHost = client(t, tcpTransport('127.0.0.1', p.master, OTHER_UUID, port));
  await assert.rejects(wrongHost.call('echo', [1]), cannotContact(/not host 3333/));
});

test('the client refuses an agent whose certificate another pool issued', async (t) => {
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const other = await pool(join(dir, 'other'));
  // Same host uuid, issued by pool B: only the CA differs.
  const { port } = await tlsServer(t, { ...other.agent, ca: p.agent.ca });
  const c = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, port));
  await assert.rejects(c.call('echo', [1]), cannotContact(/self-signed|unable to verify|certificate/i));
});

test('timeouts follow the procedure class; a call may override its own', async (t) => {
  assert.equal(procedureClass('all_instances_info'), 'URGENT');
  assert.equal(procedureClass('instance_start'), 'NORMAL');
  assert.equal(procedureClass('no_such_thing'), 'NORMAL');
  assert.equal(procedureTimeout('version'), 60_000);
  assert.equal(procedureTimeout('instance_start', { NORMAL: 5 }), 5);
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const { port } = await tlsServer(t, p.agent);
  const c = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, port), {
    classTimeoutsMs: { URGENT: 150 },
  });
  const t0 = Date.now();
  await assert.rejects(
    c.call('instance_info', [600]),
    (e: unknown) => e instanceof AgentError && /timed out after 150 ms/.test(e.message),
  );
  assert.ok(Date.now() - t0 < 550, 'the URGENT timeout cut the call short');
  // Same delay, NORMAL class: completes.
  assert.equal(await c.call('test_delay', [300]), 'done');
  // Per-call override of the class.
  assert.equal(await c.call('instance_info', [300], 2_000), 'done');
});

test('push channel over TLS: heartbeats keep it, silence drops it, reconnection follows', async (t) => {
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const { server, port } = await tlsServer(t, p.agent, { heartbeatMs: 50 });
  const c = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, port), { watchIdleMs: 300 });
  let connects = 0;
  let disconnects = 0;
  const events: unknown[] = [];
  c.on('connect', () => connects++);
  c.on('disconnect', () => disconnects++);
  c.on('event', (e) => events.push(e));
  c.watch();
  await waitFor('push channel', () => c.connected);
  server.push({ uuid: 'u1', state: 'running' });
  await waitFor('event', () => events.length === 1);
  await sleep(700); // longer than watchIdleMs: heartbeats kept it open
  assert.equal(disconnects, 0);
  assert.equal(connects, 1);

  // An agent that goes silent (no heartbeats) is dropped and reconnected.
  const silent = await tlsServer(t, p.agent, { heartbeatMs: 60_000 });
  const c2 = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, silent.port), { watchIdleMs: 200 });
  let d2 = 0;
  let c2n = 0;
  c2.on('disconnect', () => d2++);
  c2.on('connect', () => c2n++);
  c2.watch();
  await waitFor('silence noticed and reconnected', () => d2 >= 1 && c2n >= 2);
});

test('tls_install is local-only; it moves the listener to the new pool', async (t) => {
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const other = await pool(join(dir, 'other'));
  const server = new AgentServer(procs);
  t.after(() => server.close());
  const pkiDir = join(dir, 'agent-pki');
  const sock = join(dir, 'sock', 'agent.sock');
  await server.listen(sock);
  server.addLocalProcedures(localTlsProcedures(server, pkiDir, { host: '127.0.0.1', port: 0 }));
  const local = client(t, sock);
  // Installs pool A's material (starting the listener: there was none).
  await assert.rejects(
    local.call('tls_install', [{ ...p.agent, key: p.master.key }]),
    (e: unknown) =>
      e instanceof XenApiError && e.code === 'INVALID_VALUE' && /does not match/.test(e.params[1]),
  );
  const r1 = (await local.call('tls_install', [loadPoolCredentials(join(dir, 'agent'))])) as {
    host_uuid: string;
    tcp_port: number;
  };
  assert.equal(r1.host_uuid, AGENT_UUID);
  assert.deepEqual(loadTlsMaterial(pkiDir), p.agent);
  const a = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, r1.tcp_port));
  assert.equal(await a.call('echo', ['a']), 'a');
  // Not served over TCP, even to a pool member.
  await assert.rejects(
    a.call('tls_install', [p.agent]),
    (e: unknown) => e instanceof AgentError && /404/.test(e.message),
  );
  // The host joins pool B: pool A's master is refused from now on, pool B's is served.
  const r2 = (await local.call('tls_install', [
    { ...other.agent, caKey: readFileSync(join(dir, 'other', 'ca', CA_KEY), 'utf8') },
  ])) as {
    tcp_port: number;
  };
  assert.equal(statSync(join(pkiDir, CA_KEY)).mode & 0o777, 0o600);
  const a2 = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, r2.tcp_port));
  await assert.rejects(a2.call('echo', [1]), cannotContact(/./));
  const b = client(t, tcpTransport('127.0.0.1', other.master, AGENT_UUID, r2.tcp_port));
  assert.equal(await b.call('echo', ['b']), 'b');
});

test('listen addresses', () => {
  assert.deepEqual(parseListenAddress('0.0.0.0'), { host: '0.0.0.0', port: 1811 });
  assert.deepEqual(parseListenAddress('10.0.0.1:1900'), { host: '10.0.0.1', port: 1900 });
  assert.deepEqual(parseListenAddress('[::1]:1811'), { host: '::1', port: 1811 });
  assert.throws(() => parseListenAddress('a:b:c'), /ADDR/);
  assert.throws(() => parseListenAddress('h:99999'), /ADDR/);
});

/** A free loopback port (the agent restarts on the same one). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('the real agent daemon over TCP: restart, reconnect, calls work again', async (t) => {
  const dir = tempDir(t, 'berth-transport-');
  const p = await pool(dir);
  const port = await freePort();
  let agent: ChildProcess | undefined;
  const start = () => {
    agent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/agent/main.ts'),
        '--socket',
        join(dir, 'sock', 'agent.sock'),
        '--run-dir',
        join(dir, 'run'),
        '--log-dir',
        join(dir, 'log'),
        '--state-root',
        dir,
        '--accel',
        'tcg',
        '--run-as',
        'root',
        '--listen-tcp',
        `127.0.0.1:${port}`,
        '--pki-dir',
        join(dir, 'agent'),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BERTH_LOG_LEVEL: 'error' } },
    );
  };
  t.after(() => {
    agent?.kill('SIGKILL');
  });
  const c = client(t, tcpTransport('127.0.0.1', p.master, AGENT_UUID, port));
  let connects = 0;
  let disconnects = 0;
  c.on('connect', () => connects++);
  c.on('disconnect', () => disconnects++);
  start();
  c.watch();
  await waitFor('push channel over TLS', () => c.connected, 30_000);
  assert.equal(((await c.version()) as { protocol: number }).protocol, 1);

  agent?.kill('SIGKILL');
  await once(agent as ChildProcess, 'exit');
  await waitFor('disconnect', () => !c.connected);
  assert.equal(disconnects, 1);
  // While it is down, calls fail at once with CANNOT_CONTACT_HOST.
  const t0 = Date.now();
  await assert.rejects(c.call('all_instances_info'), cannotContact(/ECONNREFUSED/));
  assert.ok(Date.now() - t0 < 1_000);

  start();
  await waitFor('reconnect', () => connects === 2, 30_000);
  assert.deepEqual(await c.all(), []);
});
