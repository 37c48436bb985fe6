// The data-plane HTTP handler framework against a real manager over real HTTP (node:http, curl):
// each way of authenticating, xapi's refusal pages, task_id adoption with progress, cancel and
// result, backpressure with a slow reader, redirects and operation locks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { redirectLocation } from '../../../src/manager/http/data/index.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { generated, mountTestHandlers, type TestHandlerState } from './data-test-handlers.js';

const run = promisify(execFile);

interface Reply {
  status: number;
  reason: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Target {
  port?: number;
  socketPath?: string;
}

function request(
  to: Target,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', ...to, method, path, headers, agent: false }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

async function fetchAll(
  to: Target,
  method: string,
  path: string,
  headers?: Record<string, string>,
  body?: Buffer,
): Promise<Reply> {
  const res = await request(to, method, path, headers, body);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return {
    status: res.statusCode ?? 0,
    reason: res.statusMessage ?? '',
    headers: res.headers,
    body: Buffer.concat(chunks),
  };
}

interface Setup {
  tm: TestManager;
  to: Target;
  state: TestHandlerState;
  root: string;
  call(session: string, wire: string, ...args: unknown[]): Promise<any>;
}

async function setup(t: TestContext): Promise<Setup> {
  const tm = await startManager(t);
  const svc = tm.manager.svc;
  const state = mountTestHandlers(tm.manager.frontend, svc);
  const root = await svc.sessions.loginWithPassword('root', tm.rootPassword, 'test');
  return {
    tm,
    to: { port: Number(new URL(tm.httpUrl).port) },
    state,
    root,
    call: (s, wire, ...args) => svc.call(svc.sessions.validate(s), wire, args),
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('authentication: session_id query or cookie, Basic, the local socket; else 401', async (t) => {
  const s = await setup(t);
  const size = 200_000;
  const expected = sha(generated(0, size));
  const before = s.tm.manager.svc.sessions.count();

  const q = await fetchAll(s.to, 'GET', `/test_stream?size=${size}&session_id=${s.root}`);
  assert.equal(q.status, 200);
  assert.equal(sha(q.body), expected);
  assert.equal(q.headers.connection, 'close');
  assert.equal(q.headers['cache-control'], 'no-cache, no-store');
  assert.equal(q.headers['content-length'], undefined, 'streamed to the end of the connection');
  assert.equal(q.headers['transfer-encoding'], undefined, 'not chunked, as xapi');
  assert.match(String(q.headers['task-id']), /^OpaqueRef:/);
  // The task made for the request is destroyed with it (xapi's with_context).
  assert.equal(s.tm.manager.db.has('task', String(q.headers['task-id'])), false);

  const c = await fetchAll(s.to, 'GET', `/test_stream/?size=${size}`, { cookie: `session_id=${s.root}` });
  assert.equal(c.status, 200, 'cookie, and the trailing slash Xen Orchestra sends');
  assert.equal(sha(c.body), expected);

  const basic = Buffer.from(`root:${s.tm.rootPassword}`).toString('base64');
  const b = await fetchAll(s.to, 'GET', `/test_stream?size=${size}`, { authorization: `Basic ${basic}` });
  assert.equal(b.status, 200);
  assert.equal(sha(b.body), expected);

  const local = await fetchAll({ socketPath: s.tm.socketPath }, 'GET', `/test_stream?size=${size}`);
  assert.equal(local.status, 200, 'the local socket is root');
  assert.equal(sha(local.body), expected);
  assert.equal(s.tm.manager.svc.sessions.count(), before, 'Basic and local sessions were logged out');

  for (const [what, path, headers] of [
    ['no credentials', '/test_stream?size=1', {}],
    ['unknown session', '/test_stream?size=1&session_id=OpaqueRef:nope', {}],
    [
      'wrong password',
      '/test_stream?size=1',
      { authorization: `Basic ${Buffer.from('root:bad').toString('base64')}` },
    ],
  ] as const) {
    const r = await fetchAll(s.to, 'GET', path, headers);
    assert.equal(r.status, 401, what);
    assert.equal(r.reason, 'Unauthorised');
    assert.equal(r.headers['www-authenticate'], 'Basic realm="get_export_raw_vdi"');
    assert.equal(r.headers['content-type'], 'text/html');
    assert.equal(r.headers.connection, 'close');
    assert.equal(
      r.body.toString(),
      '<html><body><h1>HTTP 401 unauthorised</h1>Please check your credentials and retry.</body></html>',
    );
  }
  // curl, as a shell user would: Basic auth, then the session in the query.
  const url = `http://127.0.0.1:${s.to.port}/test_stream?size=${size}`;
  const viaCurl = await run('curl', ['-sS', '-f', '-u', `root:${s.tm.rootPassword}`, url], {
    encoding: 'buffer',
    maxBuffer: 1 << 24,
  });
  assert.equal(sha(viaCurl.stdout), expected);
  const head = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', `${url}&session_id=${s.root}`]);
  assert.match(head.stdout, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head.stdout, /\r\ntask-id: OpaqueRef:/);
});

test('RBAC: a read-only user gets 403 and the task it named fails RBAC_PERMISSION_DENIED', async (t) => {
  const s = await setup(t);
  const svc = s.tm.manager.svc;
  await svc.users.add('ro-user', 'read-only', 'ro-pw');
  const ro = await svc.sessions.loginWithPassword('ro-user', 'ro-pw', 'test');
  const task = await s.call(ro, 'task.create', 'mine', '');
  const r = await fetchAll(s.to, 'GET', `/test_stream?size=10&session_id=${ro}&task_id=${task}`);
  assert.equal(r.status, 403);
  assert.equal(r.reason, 'Forbidden');
  assert.equal(
    r.body.toString(),
    '<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource is forbidden.</body></html>',
  );
  const rec = await s.call(ro, 'task.get_record', task);
  assert.equal(rec.status, 'failure');
  assert.equal(rec.error_info[0], 'RBAC_PERMISSION_DENIED');
  assert.equal(rec.error_info[1], 'http/get_export_raw_vdi');
  // Basic auth as that user: 403 too; a vm-admin may.
  const basic = Buffer.from('ro-user:ro-pw').toString('base64');
  assert.equal(
    (await fetchAll(s.to, 'GET', '/test_stream?size=1', { authorization: `Basic ${basic}` })).status,
    403,
  );
  await svc.users.add('vm-admin-user', 'vm-admin', 'va-pw');
  const va = await svc.sessions.loginWithPassword('vm-admin-user', 'va-pw', 'test');
  assert.equal((await fetchAll(s.to, 'GET', `/test_stream?size=1&session_id=${va}`)).status, 200);
  // Someone else's task may not be taken (403); an unknown one is xapi's 500 with the error.
  const other = await fetchAll(s.to, 'GET', `/test_stream?size=1&session_id=${va}&task_id=${task}`);
  assert.equal(other.status, 403);
  const unknown = await fetchAll(s.to, 'GET', `/test_stream?size=1&session_id=${va}&task_id=OpaqueRef:none`);
  assert.equal(unknown.status, 500);
  assert.match(unknown.body.toString(), /HANDLE_INVALID: \[ task; OpaqueRef:none \]/);
  // The role tables list the http/ permissions as xapi's datamodel does.
  const perms = (await s.call(s.root, 'role.get_by_name_label', 'vm-admin'))[0];
  const names = await s.call(s.root, 'role.get_permissions_name_label', perms);
  assert.ok(names.includes('http/get_export'), 'vm-admin holds http/get_export');
});

test('error statuses: 400, 404 headers only, 500 with the error; the task fails with it', async (t) => {
  const s = await setup(t);
  const taskFor = async () => s.call(s.root, 'task.create', 't', '');
  const t400 = await taskFor();
  const r400 = await fetchAll(s.to, 'GET', `/test_stream?fail=400&session_id=${s.root}&task_id=${t400}`);
  assert.equal(r400.status, 400);
  assert.match(r400.body.toString(), /^<html><body><h1>HTTP 400 bad request<\/h1>/);
  assert.deepEqual((await s.call(s.root, 'task.get_record', t400)).error_info, [
    'INVALID_VALUE',
    'fail',
    '400',
  ]);
  const t404 = await taskFor();
  const r404 = await fetchAll(s.to, 'GET', `/test_stream?fail=404&session_id=${s.root}&task_id=${t404}`);
  assert.equal(r404.status, 404);
  assert.equal(r404.body.length, 0);
  assert.equal((await s.call(s.root, 'task.get_record', t404)).status, 'failure');
  const t500 = await taskFor();
  const r500 = await fetchAll(s.to, 'GET', `/test_stream?fail=api&session_id=${s.root}&task_id=${t500}`);
  assert.equal(r500.status, 500);
  assert.equal(r500.reason, 'Internal Error');
  assert.match(
    r500.body.toString(),
    /<h1> Additional information <\/h1>VDI_IO_ERROR: \[ Device I\/O errors \]/,
  );
  assert.deepEqual((await s.call(s.root, 'task.get_record', t500)).error_info, [
    'VDI_IO_ERROR',
    'Device I/O errors',
  ]);
  // A method the handler does not serve: 404; a settled task cannot be taken again.
  assert.equal(
    (await fetchAll(s.to, 'PUT', `/test_stream?session_id=${s.root}`, {}, Buffer.alloc(0))).status,
    404,
  );
  const again = await fetchAll(s.to, 'GET', `/test_stream?size=1&session_id=${s.root}&task_id=${t500}`);
  assert.equal(again.status, 500);
  assert.match(again.body.toString(), /OPERATION_NOT_ALLOWED/);
});

test('task_id: progress visible while streaming, result recorded, subtask_of honoured', async (t) => {
  const s = await setup(t);
  const size = 64 << 20;
  const task = await s.call(s.root, 'task.create', 'export', '');
  const res = await request(
    s.to,
    'GET',
    `/test_stream?size=${size}&result=OpaqueRef:done&session_id=${s.root}&task_id=${task}`,
  );
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['task-id'], task);
  res.pause();
  let got = 0;
  const h = createHash('sha256');
  const seen: number[] = [];
  for await (const c of res) {
    got += (c as Buffer).length;
    h.update(c as Buffer);
    if (got > size / 2 && seen.length === 0) {
      // The handler's progress reaches the task while the transfer runs.
      await new Promise((r) => setTimeout(r, 300));
      seen.push(await s.call(s.root, 'task.get_progress', task));
      assert.equal(await s.call(s.root, 'task.get_status', task), 'pending');
    }
  }
  assert.equal(got, size);
  assert.equal(h.digest('hex'), sha(generated(0, size)));
  assert.ok(seen[0] > 0.3 && seen[0] < 1, `progress mid-way: ${seen[0]}`);
  const rec = await s.call(s.root, 'task.get_record', task);
  assert.equal(rec.status, 'success');
  assert.equal(rec.progress, 1);
  assert.equal(rec.result, '<value>OpaqueRef:done</value>');
  assert.ok(s.tm.manager.db.has('task', task), 'the caller destroys its own task');

  // Without task_id, the request's own task is a subtask of subtask_of.
  const parent = await s.call(s.root, 'task.create', 'parent', '');
  const sub = await request(
    s.to,
    'GET',
    `/test_stream?size=${size}&session_id=${s.root}&subtask_of=${parent}`,
  );
  const own = String(sub.headers['task-id']);
  assert.equal((await s.call(s.root, 'task.get_record', own)).subtask_of, parent);
  sub.destroy();
});

test('task.cancel stops the stream; a slow reader holds the producer back (backpressure)', async (t) => {
  const s = await setup(t);
  const size = 1 << 30;
  const task = await s.call(s.root, 'task.create', 'export', '');
  const res = await request(s.to, 'GET', `/test_stream?size=${size}&session_id=${s.root}&task_id=${task}`);
  assert.equal(res.statusCode, 200);
  res.pause();
  await new Promise((r) => setTimeout(r, 1000));
  // A reader that takes nothing: the handler has produced only what the socket buffers hold.
  const held = s.state.produced;
  assert.ok(held < 32 << 20, `produced ${held} bytes for a paused reader`);
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(s.state.produced - held <= 1 << 20, 'no more while paused');
  const rss = process.memoryUsage().rss;
  let got = 0;
  const ended = new Promise<string>((resolve) => {
    res.on('data', (c: Buffer) => {
      got += c.length;
    });
    res.on('end', () => resolve('end'));
    res.on('error', () => resolve('error'));
    res.on('close', () => resolve('close'));
  });
  res.resume();
  await new Promise((r) => setTimeout(r, 200));
  await s.call(s.root, 'task.cancel', task);
  await ended;
  assert.ok(got < size, `cut short at ${got} bytes`);
  assert.ok(process.memoryUsage().rss - rss < 256 << 20, 'memory did not grow with the stream');
  const deadline = Date.now() + 5000;
  while ((await s.call(s.root, 'task.get_status', task)) === 'pending' && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(await s.call(s.root, 'task.get_status', task), 'cancelled');
  assert.equal(s.state.ended, 'error', 'the handler stopped');

  // A client that goes away stops the stream too (its own task is then failed and destroyed).
  const gone = await request(s.to, 'GET', `/test_stream?size=${size}&session_id=${s.root}`);
  const own = String(gone.headers['task-id']);
  gone.destroy();
  const until = Date.now() + 5000;
  while (s.state.ended === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(s.state.ended, 'error');
  assert.ok(s.state.produced < size);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.tm.manager.db.has('task', own), false);
});

test('PUT: the body is streamed to the handler, result recorded; probes have no effect', async (t) => {
  const s = await setup(t);
  const body = generated(0, 5 << 20);
  const task = await s.call(s.root, 'task.create', 'upload', '');
  const r = await fetchAll(s.to, 'PUT', `/test_upload?session_id=${s.root}&task_id=${task}`, {}, body);
  assert.equal(r.status, 200);
  const rec = await s.call(s.root, 'task.get_record', task);
  assert.equal(rec.status, 'success');
  assert.equal(rec.result, `<value>OpaqueRef:${sha(body)}</value>`);
  // Xen Orchestra's probe: empty, no task_id: 200 and nothing done.
  const probe = await fetchAll(s.to, 'PUT', `/test_upload?session_id=${s.root}`, { 'content-length': '0' });
  assert.equal(probe.status, 200);
  assert.equal(s.state.uploads.length, 1);
  // curl --upload-file with Basic auth.
  const file = `${s.tm.dataDir}/upload.bin`;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, body);
  await run('curl', [
    '-sS',
    '-f',
    '-u',
    `root:${s.tm.rootPassword}`,
    '-T',
    file,
    `http://127.0.0.1:${s.to.port}/test_upload`,
  ]);
  assert.deepEqual(s.state.uploads[1], { bytes: body.length, sha256: sha(body) });
});

test('redirect: 302 to the member that serves it, the caller task left pending', async (t) => {
  const s = await setup(t);
  const db = s.tm.manager.db;
  const host = s.tm.manager.svc.hostRef();
  db.update('host', host, { address: '192.0.2.7' });
  const task = await s.call(s.root, 'task.create', 'export', '');
  const path = `/test_stream?redirect=${host}&session_id=${s.root}&task_id=${task}`;
  const r = await fetchAll(s.to, 'GET', path);
  assert.equal(r.status, 302);
  // The scheme and port every member listens on (xapi: https on 443, which is left out).
  const ep = s.tm.manager.svc.pool!.endpoint;
  assert.equal(r.headers.location, `${ep.scheme}://192.0.2.7:${ep.port}${path}`);
  assert.equal(
    redirectLocation('192.0.2.7', { scheme: 'https', port: 443 }, path),
    `https://192.0.2.7${path}`,
  );
  assert.equal(
    redirectLocation('fd00::7', { scheme: 'https', port: 8443 }, '/x?a=b'),
    'https://[fd00::7]:8443/x?a=b',
  );
  assert.equal(r.headers.connection, 'close');
  assert.equal(await s.call(s.root, 'task.get_status', task), 'pending');
  assert.equal(s.tm.manager.svc.tasks.isRunning(task), false, 'free for the other host to take');
  // Without task_id the request's own task goes with the redirect.
  const own = await fetchAll(s.to, 'GET', `/test_stream?redirect=${host}&session_id=${s.root}`);
  assert.equal(own.status, 302);
  assert.equal(
    [...db.all('task')].filter(([, r]) => r.status === 'pending').length,
    1,
    'only the caller task',
  );
});

test('lockVm: the VM shows the operation while the request runs, and never after', async (t) => {
  const s = await setup(t);
  const db = s.tm.manager.db;
  const [vm] = [...db.all('VM')].find(([, r]) => r.is_a_template && !r.is_control_domain) ?? [];
  assert.ok(vm);
  const res = await request(s.to, 'GET', `/test_stream?size=${1 << 30}&lock_vm=${vm}&session_id=${s.root}`);
  assert.equal(res.statusCode, 200);
  const task = String(res.headers['task-id']);
  assert.deepEqual(db.get('VM', vm)!.current_operations, { [task]: 'export' });
  res.destroy();
  const until = Date.now() + 5000;
  while (Object.keys(db.get('VM', vm)!.current_operations as object).length && Date.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(db.get('VM', vm)!.current_operations, {});
  // A VM that may not be exported (a running-only op would be refused): xapi's error, 500.
  db.update('VM', vm, { blocked_operations: { export: 'no' } });
  const refused = await fetchAll(s.to, 'GET', `/test_stream?size=1&lock_vm=${vm}&session_id=${s.root}`);
  assert.equal(refused.status, 500);
  assert.match(refused.body.toString(), /OPERATION_BLOCKED/);
});

test("xapi's own xe on the wire: HTTP/1.0 GET; PUT whose body waits for the status line", async (t) => {
  const s = await setup(t);
  const port = s.to.port!;
  const size = 300_000;
  // GET /… HTTP/1.0 and nothing else, then everything after the blank line is the file.
  const got = await new Promise<Buffer>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(chunks)));
    c.write(`GET /test_stream?size=${size}&session_id=${s.root} HTTP/1.0\r\n\r\n`);
  });
  const split = got.indexOf('\r\n\r\n');
  assert.match(got.subarray(0, split).toString(), /^HTTP\/1\.[01] 200 OK\r\n/);
  assert.equal(sha(got.subarray(split + 4)), sha(generated(0, size)));
  // PUT: xe sends the headers, reads the status line, only then the body.
  const body = generated(7, 200_000);
  const status = await new Promise<string>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let head = '';
    let sent = false;
    c.on('data', (d) => {
      head += d.toString('latin1');
      if (!sent && head.includes('\r\n')) {
        sent = true;
        c.end(body);
      }
    });
    c.on('error', reject);
    c.on('close', () => resolve(head));
    c.write(`PUT /test_upload?session_id=${s.root} HTTP/1.0\r\nContent-length: ${body.length}\r\n\r\n`);
  });
  assert.match(status, /^HTTP\/1\.[01] 200 OK\r\n/);
  assert.deepEqual(s.state.uploads.at(-1), { bytes: body.length, sha256: sha(body) });
});

test('task.cancel stops an upload whose client has gone quiet', async (t) => {
  const s = await setup(t);
  const task = await s.call(s.root, 'task.create', 'upload', '');
  const sock = net.connect(s.to.port!, '127.0.0.1');
  t.after(() => sock.destroy());
  let reply = '';
  sock.on('data', (d) => (reply += d));
  const closed = new Promise((r) => sock.on('close', r));
  sock.on('error', () => undefined);
  sock.write(
    `PUT /test_upload?session_id=${s.root}&task_id=${task} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n`,
  );
  sock.write(generated(0, 1000));
  const until = Date.now() + 5000;
  while (!reply.includes('200 OK') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.match(reply, /^HTTP\/1\.1 200 OK/);
  await s.call(s.root, 'task.cancel', task);
  await closed;
  const end = Date.now() + 5000;
  while ((await s.call(s.root, 'task.get_status', task)) === 'pending' && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(await s.call(s.root, 'task.get_status', task), 'cancelled');
  assert.equal(s.state.uploads.length, 0, 'nothing recorded');
});
