// The statistics endpoints over a real manager and real HTTP, the local agent's statistics
// replaced by a stand-in with fixed bodies: xapi's status lines and headers (golden files), the
// query the agent is asked, authentication as the data plane, no task recorded, dump placement.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { dumpJson, dumpXml } from '../../../src/shared/rrd/dump.js';
import { createRrd, updateRrd } from '../../../src/shared/rrd/rrd.js';
import { assertGolden } from '../../helpers/golden.js';
import { startManager } from '../../helpers/manager.js';
import {
  type FakeStats,
  fakeStats,
  memoryArchive,
  normaliseHead,
  rawGet,
  XenApiError,
} from './http-harness.js';

const GOLDEN = join(import.meta.dirname, 'golden');

async function setup(t: TestContext) {
  const tm = await startManager(t);
  const svc = tm.manager.svc;
  const fake: FakeStats = fakeStats();
  (svc.hosts.local() as unknown as { stats: unknown }).stats = fake.stats;
  const archive = memoryArchive();
  svc.rrdArchive = archive;
  const session = await svc.sessions.loginWithPassword('root', tm.rootPassword, 'test');
  const hostUuid = String(svc.db.get('host', svc.hostRef())!.uuid);
  const to = { port: Number(new URL(tm.httpUrl).port) };
  const get = (path: string, headers: Record<string, string> = {}) =>
    rawGet(to, `${path}${path.includes('?') ? '&' : '?'}session_id=${session}`, headers);
  return { tm, svc, fake, archive, session, hostUuid, to, get };
}

test('/rrd_updates: xapi headers, the query the agent gets, no task recorded', async (t) => {
  const s = await setup(t);
  const tasksBefore = s.svc.db.count('task');
  const xml = await s.get('/rrd_updates?start=1700000000&cf=AVERAGE&host=true&interval=5');
  assert.equal(xml.status, 200);
  assertGolden(join(GOLDEN, 'rrd-updates-xml.head'), `${xml.head}\n`);
  assert.equal(xml.body, `<xport>${s.hostUuid}</xport>`, 'the agent body as it is');
  assert.equal(xml.closed, false, 'keep-alive: the connection stays open');
  assert.deepEqual(s.fake.queries.at(-1), {
    start: 1700000000,
    interval: 5,
    cf: 'AVERAGE',
    host: true,
    srUuids: [],
    json: false,
    hostUuid: s.hostUuid,
  });

  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  const json = await s.get(`/rrd_updates?start=-60&json=true&vm_uuid=${a}&vm_uuid=${b}&sr_uuid=${c}`);
  assertGolden(join(GOLDEN, 'rrd-updates-json.head'), `${json.head}\n`);
  assert.equal(JSON.parse(json.body).meta.legend[0], `AVERAGE:host:${s.hostUuid}:cpu0`);
  assert.deepEqual(s.fake.queries.at(-1), {
    start: -60,
    interval: 0,
    host: false,
    vmUuids: [a, b],
    srUuids: [c],
    json: true,
    hostUuid: s.hostUuid,
  });
  const byAccept = await s.get('/rrd_updates/?start=1', { Accept: 'application/json' });
  assert.equal(
    byAccept.headers.get('content-type'),
    'application/json',
    'Accept decides; trailing slash too',
  );
  const xmlWins = await s.get('/rrd_updates?start=1&json', { Accept: 'text/xml' });
  assert.equal(xmlWins.headers.get('content-type'), 'text/xml');
  const closing = await s.get('/rrd_updates?start=1', { Connection: 'close' });
  assert.equal(closing.headers.get('connection'), 'close', 'a client that asks to close is answered so');
  assert.equal(closing.body, `<xport>${s.hostUuid}</xport>`);
  assert.equal(s.svc.db.count('task'), tasksBefore, 'with_context ~dummy: no task recorded');
});

test('/rrd_updates bad input: 400 without start, 500 with xapi page otherwise, never a crash', async (t) => {
  const s = await setup(t);
  const noStart = await s.get('/rrd_updates?interval=5&host=true');
  assert.equal(noStart.status, 400);
  assertGolden(join(GOLDEN, 'bad-request.head'), `${noStart.head}\n`);
  assert.equal(noStart.body, '');
  assert.equal(noStart.closed, true, 'errors close the connection');
  assert.equal(s.fake.queries.length, 0, 'the agent was not asked');

  const badStart = await s.get('/rrd_updates?start=yesterday');
  assert.equal(badStart.status, 500);
  assert.match(badStart.body, /HTTP 500 internal server error.*start: not an integer: yesterday/);

  s.fake.failUpdates = new XenApiError('INTERNAL_ERROR', ['No_RRA_Available']);
  const none = await s.get('/rrd_updates?start=1&vm_uuid=nope');
  assert.equal(none.status, 500);
  assert.match(none.body, /Additional information <\/h1>INTERNAL_ERROR: \[ No_RRA_Available \]/);
  s.fake.failUpdates = undefined;
  const after = await s.get('/rrd_updates?start=1');
  assert.equal(after.status, 200, 'the manager still answers');
});

test('statistics authentication: as the data plane, realm = action, read-only role allowed', async (t) => {
  const s = await setup(t);
  const anon = await rawGet(s.to, '/rrd_updates?start=1');
  assert.equal(anon.status, 401);
  assert.equal(anon.headers.get('www-authenticate'), 'Basic realm="get_rrd_updates"');
  const anonDump = await rawGet(s.to, '/vm_rrd?uuid=x');
  assert.equal(anonDump.headers.get('www-authenticate'), 'Basic realm="get_vm_rrd"');
  assert.equal((await rawGet(s.to, '/rrd_updates?start=1&session_id=OpaqueRef:nope')).status, 401);

  await s.svc.users.add('ro-stats', 'read-only', 'ro-pw');
  const basic = Buffer.from('ro-stats:ro-pw').toString('base64');
  const sessions = s.svc.sessions.count();
  const ro = await rawGet(s.to, '/rrd_updates?start=1', { Authorization: `Basic ${basic}` });
  assert.equal(ro.status, 200, 'http/get_rrd_updates is read-only');
  assert.equal(s.svc.sessions.count(), sessions, 'the Basic session was logged out');
  const cookie = await rawGet(s.to, '/host_rrd', { Cookie: `session_id=${s.session}` });
  assert.equal(cookie.status, 500, 'authenticated by cookie (the stand-in holds no host RRD)');
  const local = await rawGet({ path: s.tm.socketPath }, '/rrd_updates?start=1');
  assert.equal(local.status, 200, 'the local socket is root');

  // A task the caller names is taken and settled (xapi's forwarded task), not left pending.
  const task = s.svc.tasks.createClientTask('xo', '', s.session, 'root');
  const withTask = await s.get(`/rrd_updates?start=1&task_id=${task}`);
  assert.equal(withTask.status, 200);
  assert.equal(s.svc.db.get('task', task)?.status, 'success');
});

test('dumps: HTTP/1.0, Connection: close, no Content-Length; legacy paths; bad input', async (t) => {
  const s = await setup(t);
  const noHost = await s.get('/host_rrd');
  assert.equal(noHost.status, 500);
  assert.match(noHost.body, /No host RRD available!/);

  s.fake.held.set('host:', '<?xml version="1.0" encoding="UTF-8"?>\n<rrd>host</rrd>');
  const host = await s.get('/host_rrd');
  assertGolden(join(GOLDEN, 'dump-xml.head'), `${host.head}\n`);
  assert.equal(host.body, s.fake.held.get('host:'));
  assert.equal(host.closed, true, 'the body ends at the close');
  const legacy = await s.get('/host_rrds?json');
  assertGolden(join(GOLDEN, 'dump-json.head'), `${legacy.head}\n`);
  assert.deepEqual(JSON.parse(legacy.body), { dump: s.fake.held.get('host:') });

  for (const path of ['/vm_rrd', '/vm_rrds', '/sr_rrd']) {
    const r = await s.get(path);
    assert.equal(r.status, 400, `${path} without uuid`);
    assert.equal(r.head.split('\r\n')[0], 'HTTP/1.1 400 Bad Request');
  }
  const unknown = randomUUID();
  const u = await s.get(`/vm_rrd?uuid=${unknown}`);
  assert.equal(u.status, 500, 'unknown VM: xapi fails in Db.VM.get_by_uuid');
  assert.match(u.body, new RegExp(`UUID_INVALID: \\[ VM; ${unknown} \\]`));
  const malformed = await s.get('/vm_rrd?uuid=%3Cnot%20a%20uuid%3E');
  assert.equal(malformed.status, 500);
  assert.match(malformed.body, /UUID_INVALID: \[ VM; &#60;not a uuid&#62; \]/, 'escaped in the page');
  const sr = await s.get(`/sr_rrd?uuid=${unknown}`);
  assert.equal(sr.status, 500);
  assert.match(sr.body, /No SR RRD available!/);
});

test('/vm_rrd: from the agent, 302 to the resident member, halted VM from the archive', async (t) => {
  const s = await setup(t);
  const db = s.svc.db;
  const running = randomUUID();
  const vmHere = db.create(
    'VM',
    baseVmRecord({ uuid: running, power_state: 'Running', resident_on: s.svc.hostRef() }),
  );
  void vmHere;
  s.fake.held.set(`vm:${running}`, `<?xml version="1.0" encoding="UTF-8"?>\n<rrd>${running}</rrd>`);
  const here = await s.get(`/vm_rrd?uuid=${running}`);
  assert.equal(here.status, 200);
  assert.equal(here.body, s.fake.held.get(`vm:${running}`));

  const other = db.create('host', { uuid: randomUUID(), name_label: 'other', address: '192.0.2.7' });
  const away = randomUUID();
  db.create('VM', baseVmRecord({ uuid: away, power_state: 'Running', resident_on: other }));
  const moved = await s.get(`/vm_rrd?uuid=${away}&json=true`);
  assert.equal(moved.status, 302);
  assertGolden(join(GOLDEN, 'redirect.head'), `${normaliseHead(moved.head)}\n`);
  const endpoint = s.svc.pool?.endpoint ?? { scheme: 'https', port: 443 };
  const port = endpoint.port === (endpoint.scheme === 'https' ? 443 : 80) ? '' : `:${endpoint.port}`;
  assert.equal(
    moved.headers.get('location'),
    `${endpoint.scheme}://192.0.2.7${port}/vm_rrd?uuid=${away}&json=true&session_id=${s.session}`,
  );

  const halted = randomUUID();
  db.create('VM', baseVmRecord({ uuid: halted, power_state: 'Halted' }));
  const missing = await s.get(`/vm_rrd?uuid=${halted}`);
  assert.equal(missing.status, 404, 'nothing archived: xapi unarchive finds no file');
  const rrd = createRrd({
    time: 1_700_000_000,
    ds: [{ name: 'cpu0', type: 'GAUGE', min: 0, max: 1 }],
    minMax: false,
  });
  for (let i = 1; i <= 10; i++) updateRrd(rrd, 1_700_000_000 + 5 * i, new Map([['cpu0', i / 20]]));
  const internal = dumpXml(rrd, { internal: true });
  assert.match(internal, /last_updated/);
  await s.archive.write('vm', halted, internal);
  const fromArchive = await s.get(`/vm_rrd?uuid=${halted}`);
  assert.equal(fromArchive.status, 200);
  assert.equal(fromArchive.head.split('\r\n')[0], 'HTTP/1.0 200 OK');
  assert.equal(fromArchive.body, dumpXml(rrd), 'the internal dump re-rendered as the public one');
  const asJson = await s.get(`/vm_rrd?uuid=${halted}`, { Accept: 'application/json' });
  assert.equal(asJson.headers.get('content-type'), 'application/json');
  assert.equal(asJson.body, dumpJson(rrd));
  assert.equal(JSON.parse(asJson.body).step, '5');

  // A corrupt archive: xapi's page, and the manager goes on.
  await s.archive.write('vm', halted, '<rrd><version>0003</version>');
  const corrupt = await s.get(`/vm_rrd?uuid=${halted}`);
  assert.equal(corrupt.status, 500);
  assert.equal((await s.get(`/vm_rrd?uuid=${running}`)).status, 200);
});

test('a dump to a client that never closes its side: the handler still finishes', async (t) => {
  const s = await setup(t);
  s.fake.held.set('host:', '<rrd>host</rrd>');
  const sessions = s.svc.sessions.count();
  const task = s.svc.tasks.createClientTask('xo', '', s.session, 'root');
  const basic = Buffer.from(`root:${s.tm.rootPassword}`).toString('base64');
  // allowHalfOpen: the client reads the server's FIN and sends none of its own.
  const socket = net.connect({ host: '127.0.0.1', port: s.to.port, allowHalfOpen: true });
  t.after(() => socket.destroy());
  socket.write(
    `GET /host_rrd?task_id=${task} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${basic}\r\n\r\n`,
  );
  let text = '';
  socket.on('data', (c) => {
    text += c.toString('utf8');
  });
  await new Promise<void>((resolve) => socket.once('end', () => resolve()));
  assert.match(text, /^HTTP\/1\.0 200 OK[\s\S]*\r\n\r\n<rrd>host<\/rrd>$/);
  assert.equal(socket.destroyed, false, 'the client keeps its side open');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && s.svc.db.get('task', task)?.status === 'pending')
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(s.svc.db.get('task', task)?.status, 'success', 'the named task is settled');
  assert.equal(s.svc.sessions.count(), sessions, 'the Basic session was logged out');
});
