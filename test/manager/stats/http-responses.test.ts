// sendDump's connection handling: the handler is released once the body is flushed, and a
// connection the client keeps open is cut after the timeout.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { sendDump } from '../../../src/manager/stats/http/responses.js';

test('sendDump resolves at the flush and cuts a half-open connection after the timeout', async (t) => {
  let handled: Promise<void> | undefined;
  let serverClosed: Promise<number> | undefined;
  const server = http.createServer((_req, res) => {
    const own = res.socket!;
    serverClosed = new Promise((r) => own.once('close', () => r(Date.now())));
    handled = sendDump(res, false, '<rrd/>', 300);
  });
  t.after(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  t.after(() => socket.destroy());
  socket.write('GET /host_rrd HTTP/1.1\r\nHost: x\r\n\r\n');
  let text = '';
  socket.on('data', (c) => {
    text += c.toString('utf8');
  });
  await new Promise<void>((r) => socket.once('end', () => r()));
  assert.match(text, /\r\n\r\n<rrd\/>$/);
  await handled;
  const start = Date.now();
  assert.equal(socket.destroyed, false, 'the client keeps its side open');
  const at = await serverClosed;
  assert.ok(at !== undefined && at - start < 2000, 'the server cut the connection the client kept open');
});
