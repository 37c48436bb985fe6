// The statistics endpoints over a real manager and a real agent whose RRDs a scripted sampler
// fills (5 s of data per 10 ms): every bad input of issue 16 gets xapi's status and body, never a
// crash; Xen Orchestra's xen-api client reads /rrd_updates as XO's xo-server does.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createClient, type Xapi } from 'xen-api';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { dumpXml, parseDumpXml } from '../../../src/shared/rrd/dump.js';
import { startManager } from '../../helpers/manager.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { ScriptedSampler, T0 } from '../../agent/stats/scripted-sampler.js';
import { rawGet } from './http-harness.js';

const VM = '31111111-2222-4333-8444-555555555555';

interface Xport {
  meta: { start: string; step: string; end: string; rows: string; columns: string; legend: string[] };
  data: { t: string; values: string[] }[];
}

test('/rrd_updates and dumps over a real agent: bad input, xen-api as Xen Orchestra', {
  timeout: 120_000,
}, async (t) => {
  const sampler = new ScriptedSampler({ vms: [VM] });
  const dir = tempDir(t, 'berth-stats-http-');
  const agent = await startTestAgent(t, { stateRoot: dir, stats: { sampler, stepMs: 10 } });
  const m = await startManager(t, { agent: agent.client, dataDir: dir });
  const svc = m.manager.svc;
  const hostUuid = String(svc.db.get('host', svc.hostRef())!.uuid);
  while (sampler.i < 60) await new Promise((r) => setTimeout(r, 20));
  await agent.agent.stats.loop?.stop(); // the data stays still from here on
  // The reading in flight when the loop stopped may not have been kept.
  const newest = [T0 + 5 * (sampler.i - 1), T0 + 5 * (sampler.i - 2)];

  const session = await svc.sessions.loginWithPassword('root', m.rootPassword, 'test');
  const to = { port: Number(new URL(m.httpUrl).port) };
  const get = (q: string) => rawGet(to, `${q}&session_id=${session}`);
  const xport = async (q: string): Promise<Xport> => {
    const r = await get(`/rrd_updates?json&${q}`);
    assert.equal(r.status, 200, `${q}: ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as Xport;
  };
  const failsLikeXcpRrdd = async (q: string, what: string) => {
    const r = await get(`/rrd_updates?${q}`);
    assert.equal(r.status, 500, what);
    assert.match(r.body, /<h1>HTTP 500 internal server error<\/h1>.*Additional information/, what);
    assert.match(r.body, /RRA|archive|RRD/, `${what}: says nothing answers`);
  };

  const ok = await xport(`start=${T0}&host=true`);
  assert.equal(ok.meta.step, '5');
  assert.ok(ok.meta.legend.includes(`AVERAGE:host:${hostUuid}:cpu0`));
  assert.ok(ok.meta.legend.includes(`AVERAGE:vm:${VM}:cpu0`));
  assert.ok(newest.includes(Number(ok.meta.end)), `end ${ok.meta.end}: the last reading`);
  const last = Number(ok.meta.end);
  assert.ok(Number(ok.data[0].t) > Number(ok.data.at(-1)!.t), 'newest row first');

  // start in the future: the finest archive, no rows (xapi answers 200 with an empty table).
  const future = await xport(`start=${last + 86_400}&host=true`);
  assert.equal(future.meta.rows, '0');
  assert.deepEqual(future.data, []);
  // Far past: the coarsest archive that exists.
  assert.equal((await xport('start=1&host=true')).meta.step, '86400');
  // Negative start: relative to the last update.
  const recent = await xport('start=-60&host=true');
  assert.ok(Number(recent.meta.rows) >= 12 && Number(recent.meta.rows) <= 13, recent.meta.rows);
  // interval 0: the finest; an interval matching an archive: its step; a huge one: no archive.
  assert.equal((await xport(`start=${T0}&interval=0&host=true`)).meta.step, '5');
  assert.equal((await xport(`start=${T0}&interval=60&host=true`)).meta.step, '60');
  await failsLikeXcpRrdd(`start=${T0}&interval=99999999999&host=true`, 'interval beyond every archive');
  assert.equal(
    (await xport(`start=${T0}&interval=-5&host=true`)).meta.step,
    '5',
    'negative interval: finest',
  );
  // Unknown cf: every CF; LAST: no archive has it.
  assert.deepEqual((await xport(`start=${T0}&cf=median&host=true`)).meta.legend, ok.meta.legend);
  await failsLikeXcpRrdd(`start=${T0}&cf=LAST&host=true`, 'cf=LAST');
  // Unknown, malformed or elsewhere-running VMs are left out; nothing left to export → 500.
  const other = svc.db.create('host', { uuid: randomUUID(), name_label: 'other', address: '192.0.2.9' });
  const away = randomUUID();
  svc.db.create('VM', baseVmRecord({ uuid: away, power_state: 'Running', resident_on: other }));
  for (const vm of [randomUUID(), 'not-a-uuid', '../../etc/passwd', away]) {
    const hostOnly = await xport(`start=${T0}&host=true&vm_uuid=${encodeURIComponent(vm)}`);
    assert.ok(
      hostOnly.meta.legend.every((e) => e.split(':')[1] === 'host'),
      `vm_uuid=${vm}: host columns only`,
    );
    await failsLikeXcpRrdd(`start=${T0}&vm_uuid=${encodeURIComponent(vm)}`, `vm_uuid=${vm} alone`);
  }
  const vmOnly = await xport(`start=${T0}&vm_uuid=${VM}`);
  assert.ok(vmOnly.meta.legend.every((e) => e.startsWith(`AVERAGE:vm:${VM}:`)));
  // Bad start: 400 / 500, and the manager still answers.
  assert.equal((await get('/rrd_updates?host=true')).status, 400);
  assert.equal((await get('/rrd_updates?start=soon')).status, 500);
  const xml = await get(`/rrd_updates?start=${T0}&host=true`);
  assert.equal(xml.status, 200);
  assert.match(xml.body, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<xport><meta><start>/);

  // Full dumps from the agent, parseable as xapi's layout.
  const host = await get('/host_rrd?x');
  assert.equal(host.status, 200);
  assert.equal(dumpXml(parseDumpXml(host.body)), host.body);
  const vm = await get(`/vm_rrd?uuid=${VM}`);
  assert.equal(vm.status, 200);
  assert.match(vm.body, /<name>cpu0<\/name>/);
  const vmJson = await get(`/vm_rrds?uuid=${VM}&json`);
  assert.equal(JSON.parse(vmJson.body).step, '5');
  assert.equal((await get(`/vm_rrd?uuid=${away}`)).status, 302, 'running elsewhere: sent there');
  assert.equal((await get(`/vm_rrd?uuid=${randomUUID()}`)).status, 500, 'unknown VM: UUID_INVALID');

  // Xen Orchestra (xo-server's xapi-stats): getResource('/rrd_updates', { host, query }) then JSON.
  // (`host` is left out: xen-api would then use the host's address on the default port, and
  // this manager listens on a random one.)
  const xapi: Xapi = createClient({
    url: m.httpUrl,
    auth: { user: 'root', password: m.rootPassword },
    watchEvents: ['task'],
  });
  await xapi.connect();
  t.after(() => xapi.disconnect());
  const res = await (xapi as any).getResource('/rrd_updates', {
    query: { cf: 'AVERAGE', host: 'true', interval: 5, json: 'true', start: T0 },
  });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c);
  const stats = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Xport;
  assert.equal(stats.meta.step, '5');
  assert.ok(stats.meta.legend.includes(`AVERAGE:vm:${VM}:cpu0`));
  assert.equal(stats.data[0].values.length, Number(stats.meta.columns));
  await res.task; // the task xen-api made for the request is settled (not left pending)
  await xapi.disconnect();
});
