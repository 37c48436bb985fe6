// The QMP client against a scripted fake QMP server (races: out-of-order replies, events anywhere,
// split lines, a socket closing mid-command, timeouts) and against a real QEMU.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  QmpClient,
  QmpClosedError,
  QmpError,
  type QmpEvent,
  QmpTimeoutError,
} from '../../../src/agent/qemu/qmp.js';
import { tempDir } from '../../helpers/tmp.js';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}\n';

interface Cmd {
  execute: string;
  id: string;
  arguments?: Record<string, unknown>;
}

/** A fake QMP server: greets (unless told not to), acks qmp_capabilities, hands commands to `script`. */
async function fakeQmp(
  t: TestContext,
  script: (cmd: Cmd, sock: Socket) => void,
  opts: { greet?: string | null } = {},
): Promise<string> {
  const path = join(tempDir(t), 'qmp.sock');
  const conns = new Set<Socket>();
  const server: Server = createServer((sock) => {
    conns.add(sock);
    if (opts.greet !== null) sock.write(opts.greet ?? GREETING);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const cmd = JSON.parse(buf.slice(0, nl)) as Cmd;
        buf = buf.slice(nl + 1);
        if (cmd.execute === 'qmp_capabilities')
          sock.write(`{"return": {}, "id": ${JSON.stringify(cmd.id)}}\n`);
        else script(cmd, sock);
      }
    });
    sock.on('error', () => {});
  });
  server.listen(path);
  await once(server, 'listening');
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const c of conns) c.destroy();
        server.close(() => r());
      }),
  );
  return path;
}

const reply = (id: string, ret: unknown) => `${JSON.stringify({ return: ret, id })}\n`;
const event = (name: string, data?: object) =>
  `${JSON.stringify({ event: name, data, timestamp: { seconds: 1, microseconds: 2 } })}\n`;

test('replies are matched by id even out of order, events interleaved and split lines', async (t) => {
  const held: Cmd[] = [];
  const path = await fakeQmp(t, (cmd, sock) => {
    held.push(cmd);
    if (held.length < 2) return;
    const [a, b] = held;
    // Event first, then b's reply and a's reply in one chunk, the last one split in two writes.
    const text =
      event('STOP') + reply(b.id, { who: b.execute }) + event('RESUME') + reply(a.id, { who: a.execute });
    sock.write(text.slice(0, 30));
    setTimeout(() => sock.write(text.slice(30)), 20);
  });
  const qmp = await QmpClient.connect(path);
  t.after(() => qmp.close());
  const events: string[] = [];
  qmp.on('event', (e: QmpEvent) => events.push(e.event));
  const [ra, rb] = await Promise.all([qmp.command('first'), qmp.command('second')]);
  assert.deepEqual(ra, { who: 'first' });
  assert.deepEqual(rb, { who: 'second' });
  assert.deepEqual(events, ['STOP', 'RESUME']);
});

test('an error reply rejects only that command with QmpError', async (t) => {
  const path = await fakeQmp(t, (cmd, sock) => {
    if (cmd.execute === 'bad')
      sock.write(`${JSON.stringify({ error: { class: 'GenericError', desc: 'nope' }, id: cmd.id })}\n`);
    else sock.write(reply(cmd.id, cmd.arguments ?? {}));
  });
  const qmp = await QmpClient.connect(path);
  t.after(() => qmp.close());
  const bad = qmp.command('bad');
  const good = qmp.command('echo', { value: 42 });
  await assert.rejects(
    bad,
    (e: unknown) => e instanceof QmpError && e.cls === 'GenericError' && e.desc === 'nope',
  );
  assert.deepEqual(await good, { value: 42 });
});

test('the socket closing mid-command rejects every pending command, once, and later ones at once', async (t) => {
  let seen = 0;
  const path = await fakeQmp(t, (_cmd, sock) => {
    if (++seen === 3) sock.destroy();
  });
  const qmp = await QmpClient.connect(path);
  let closedEvents = 0;
  qmp.on('closed', () => closedEvents++);
  const pending = [qmp.command('a'), qmp.command('b'), qmp.command('c')];
  for (const p of pending) await assert.rejects(p, QmpClosedError);
  await qmp.waitClosed();
  assert.equal(qmp.closed, true);
  assert.equal(closedEvents, 1);
  await assert.rejects(qmp.command('after'), QmpClosedError);
});

test('a command times out; its late reply is dropped and the connection keeps working', async (t) => {
  const path = await fakeQmp(t, (cmd, sock) => {
    if (cmd.execute === 'slow') setTimeout(() => sock.write(reply(cmd.id, 'late')), 150);
    else sock.write(reply(cmd.id, 'quick'));
  });
  const qmp = await QmpClient.connect(path);
  t.after(() => qmp.close());
  await assert.rejects(qmp.command('slow', undefined, 50), QmpTimeoutError);
  await new Promise((r) => setTimeout(r, 200)); // the late reply arrives and is ignored
  assert.equal(await qmp.command('fast'), 'quick');
});

test('handshake failures: no greeting (timeout), garbage, no server', async (t) => {
  const silent = await fakeQmp(t, () => {}, { greet: null });
  await assert.rejects(QmpClient.connect(silent, 100), QmpTimeoutError);
  const garbage = await fakeQmp(t, () => {}, { greet: 'this is not json\n' });
  await assert.rejects(QmpClient.connect(garbage, 1000), /protocol error/);
  await assert.rejects(QmpClient.connect(join(tempDir(t), 'absent.sock'), 1000), /ENOENT/);
});

test('real QEMU: status, stop/cont events, error class, quit closes the connection', async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'qmp.sock');
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-machine',
      'q35,accel=tcg',
      '-m',
      '64',
      '-nodefaults',
      '-display',
      'none',
      '-S',
      '-qmp',
      `unix:${sock},server=on,wait=off`,
    ],
    { stdio: 'ignore' },
  );
  const exited = once(qemu, 'exit');
  t.after(() => qemu.kill('SIGKILL'));
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  const qmp = await QmpClient.connect(sock);
  const events: string[] = [];
  qmp.on('event', (e: QmpEvent) => events.push(e.event));
  assert.deepEqual(await qmp.command('query-status'), {
    status: 'prelaunch',
    singlestep: false,
    running: false,
  });
  await qmp.command('cont');
  await qmp.command('stop');
  await assert.rejects(
    qmp.command('no-such-command'),
    (e: unknown) => e instanceof QmpError && e.cls === 'CommandNotFound',
  );
  await qmp.command('quit');
  await qmp.waitClosed();
  await exited;
  assert.deepEqual(events.slice(0, 2), ['RESUME', 'STOP']);
  assert.ok(events.includes('SHUTDOWN'), `events: ${events}`);
});
