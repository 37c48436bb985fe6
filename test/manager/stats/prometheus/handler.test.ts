// GET /metrics on a real manager over real HTTP: each way in (none → 401, bad and good scrape
// token, read-only session, Basic auth, local socket), the exposition served from the host
// agents' stats_latest with names from the database, a host that does not answer in time, a
// slave's redirect, and the --metrics-token-file option.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parseConfig } from '../../../../src/manager/config.js';
import { catalogDescribe } from '../../../../src/manager/stats/prometheus/describe.js';
import { metricsRoute, mountMetrics } from '../../../../src/manager/stats/prometheus/handler.js';
import type { LatestValues, StatsProcedures } from '../../../../src/shared/host/stats.js';
import { statsClient } from '../../../../src/shared/host/stats.js';
import type { Services } from '../../../../src/manager/api/context.js';
import { startManager } from '../../../helpers/manager.js';
import { tempDir } from '../../../helpers/tmp.js';
import { FakeAgent } from '../../vm/fake-agent.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(
  to: { port?: number; socketPath?: string },
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', ...to, method, path, headers, agent: false },
      async (res) => {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A stand-in agent's statistics: stats_latest answers `latest()` (or never, when it returns undefined). */
function fixedStats(latest: () => LatestValues | undefined): StatsProcedures {
  return statsClient(async (name) => {
    if (name !== 'stats_latest') throw new Error(`${name}: not in this stand-in`);
    const v = latest();
    return v ?? new Promise(() => undefined);
  });
}

const TOKEN = 'scrape-3f9c1d0e"\\token';

async function setup(t: TestContext, latest: () => LatestValues | undefined) {
  const fake = new FakeAgent();
  const tm = await startManager(t, { agent: fake });
  (fake as unknown as { stats: StatsProcedures }).stats = fixedStats(latest);
  const svc = tm.manager.svc;
  const tokenFile = join(tempDir(t), 'metrics.token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  // Mounted again with a token file and a short deadline (the manager mounts it from its config).
  mountMetrics(tm.manager.frontend, svc, { tokenFile, describe: catalogDescribe, hostTimeoutMs: 300 });
  const root = await svc.sessions.loginWithPassword('root', tm.rootPassword, 'test');
  const call = (wire: string, ...args: unknown[]) => svc.call(svc.sessions.validate(root), wire, args);
  const hostUuid = String(svc.db.get('host', svc.hostRef())!.uuid);
  return { tm, svc, call, hostUuid, tokenFile, to: { port: Number(new URL(tm.httpUrl).port) } };
}

test('GET /metrics: 401 without credentials or with a bad token, 200 for the token, sessions and Basic', async (t) => {
  let latest: LatestValues = { time: 0, host: {}, vms: {}, srs: {} };
  const s = await setup(t, () => latest);
  const templates = (await s.call('VM.get_all_records')) as Record<string, { is_a_template: boolean }>;
  const template = Object.keys(templates).find((r) => templates[r].is_a_template)!;
  const vm = (await s.call('VM.clone', template, 'web "front"\nline2')) as string;
  const vmUuid = (await s.call('VM.get_uuid', vm)) as string;
  latest = { time: 1, host: { cpu_avg: 0.375, cpu0: null }, vms: { [vmUuid]: { cpu0: 0.5 } }, srs: {} };

  const none = await get(s.to, '/metrics');
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Basic realm="get_metrics"');
  assert.equal((await get(s.to, '/metrics', { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await get(s.to, '/metrics', { authorization: `Bearer ${TOKEN}x` })).status, 401);
  assert.equal((await get(s.to, '/metrics', { authorization: 'Bearer ' })).status, 401);
  assert.equal((await get(s.to, '/metrics?session_id=OpaqueRef:nope')).status, 401);

  const ok = await get(s.to, '/metrics', { authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const hostLabels = `host="${s.hostUuid}",name_label="${s.svc.db.get('host', s.svc.hostRef())!.name_label}"`;
  assert.match(ok.body, new RegExp(`^berth_host_cpu_avg\\{${hostLabels}\\} 0\\.375$`, 'm'));
  assert.doesNotMatch(ok.body, /berth_host_cpu0\{/, 'an unknown value is left out');
  assert.ok(
    ok.body.includes(
      `berth_vm_cpu0{host="${s.hostUuid}",vm="${vmUuid}",name_label="web \\"front\\"\\nline2"} 0.5\n`,
    ),
    ok.body,
  );
  assert.match(ok.body, new RegExp(`^berth_scrape_host_up\\{${hostLabels}\\} 1$`, 'm'));

  // Replacing the file rotates the token at once; an emptied file refuses every bearer token.
  writeFileSync(s.tokenFile, 'rotated-token\n');
  assert.equal((await get(s.to, '/metrics', { authorization: `Bearer ${TOKEN}` })).status, 401);
  assert.equal((await get(s.to, '/metrics', { authorization: 'Bearer rotated-token' })).status, 200);
  writeFileSync(s.tokenFile, '\n');
  assert.equal((await get(s.to, '/metrics', { authorization: 'Bearer ' })).status, 401);
  assert.equal((await get(s.to, '/metrics', { authorization: 'Bearer rotated-token' })).status, 401);

  // A read-only user: by session_id (query or cookie) and by Basic auth (its session logged out after).
  await s.svc.users.add('ro-user', 'read-only', 'ro-pw');
  const ro = await s.svc.sessions.loginWithPassword('ro-user', 'ro-pw', 'test');
  assert.equal((await get(s.to, `/metrics?session_id=${ro}`)).status, 200);
  assert.equal((await get(s.to, '/metrics', { cookie: `session_id=${ro}` })).status, 200);
  const sessionsBefore = s.svc.db.count('session');
  const basic = Buffer.from('ro-user:ro-pw').toString('base64');
  const viaBasic = await get(s.to, '/metrics', { authorization: `Basic ${basic}` });
  assert.equal(viaBasic.status, 200);
  assert.equal(viaBasic.body, ok.body);
  assert.equal(s.svc.db.count('session'), sessionsBefore, 'the Basic-auth session is logged out');
  const badBasic = Buffer.from('ro-user:wrong').toString('base64');
  assert.equal((await get(s.to, '/metrics', { authorization: `Basic ${badBasic}` })).status, 401);
  // The local socket is root, as at every handler.
  assert.equal((await get({ socketPath: s.tm.socketPath }, '/metrics')).status, 200);
  // Only GET (and HEAD) are served.
  assert.equal((await get(s.to, `/metrics?session_id=${ro}`, {}, 'POST')).status, 404);
  const head = await get(s.to, `/metrics?session_id=${ro}`, {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  if (existsSync('/usr/bin/promtool')) {
    const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: ok.body, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
});

test('GET /metrics: a host whose agent does not answer in time is down, and the scrape still answers', async (t) => {
  const s = await setup(t, () => undefined);
  const started = Date.now();
  const r = await get(s.to, '/metrics', { authorization: `Bearer ${TOKEN}` });
  const took = Date.now() - started;
  assert.equal(r.status, 200);
  assert.ok(took < 2000, `answered in ${took} ms`);
  assert.match(
    r.body,
    new RegExp(`^berth_scrape_host_up\\{host="${s.hostUuid}",name_label="[^"]*"\\} 0$`, 'm'),
  );
  assert.doesNotMatch(r.body, /^berth_host_/m);
});

test('GET /metrics on a slave: 302 to the master, same path and query', async (t) => {
  const svc = {
    pool: { role: { kind: 'slave', master: '192.0.2.7' }, endpoint: { scheme: 'https', port: 8443 } },
  };
  const route = metricsRoute(svc as unknown as Services, { tokenFile: null, describe: catalogDescribe });
  const server = http.createServer(
    (req, res) => void route(req, res, { local: false, headers: req.headers }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const port = (server.address() as { port: number }).port;
  const r = await get({ port }, '/metrics?session_id=x');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'https://192.0.2.7:8443/metrics?session_id=x');
});

test('--metrics-token-file / BERTH_METRICS_TOKEN_FILE name the token file; off or absent: none', () => {
  assert.equal(parseConfig([], {}).metricsTokenFile, null);
  assert.equal(parseConfig(['--metrics-token-file', '/etc/berth/t'], {}).metricsTokenFile, '/etc/berth/t');
  assert.equal(parseConfig([], { BERTH_METRICS_TOKEN_FILE: '/x' }).metricsTokenFile, '/x');
  assert.equal(
    parseConfig(['--metrics-token-file', 'off'], { BERTH_METRICS_TOKEN_FILE: '/x' }).metricsTokenFile,
    null,
  );
});
