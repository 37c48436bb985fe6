// Request handling at the socket level: half-closed clients and hostile nesting depths.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startManager } from '../../helpers/manager.js';

/** Sends raw bytes, half-closes (shutdown(SHUT_WR)) at once, and collects the whole reply. */
function rawHalfClosed(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.setTimeout(10_000, () => s.destroy(new Error('no reply within 10 s')));
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.write(bytes);
    s.end();
  });
}

function post(path: string, body: string, type = 'text/xml'): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const loginXml = (user: string, password: string) =>
  `<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params><param><value><string>${user}</string></value></param><param><value><string>${password}</string></value></param></params></methodCall>`;

test('a client that half-closes right after session.login_with_password gets its reply', async (t) => {
  const m = await startManager(t);
  const port = Number(new URL(m.httpUrl).port);
  const ok = await rawHalfClosed(port, post('/', loginXml('root', m.rootPassword)));
  assert.match(ok, /^HTTP\/1\.1 200 /);
  assert.match(ok, /<name>Status<\/name><value>Success<\/value>.*OpaqueRef:/s);
  // A wrong password takes the failure delay first; the answer still arrives.
  const bad = await rawHalfClosed(port, post('/', loginXml('root', 'wrong')));
  assert.match(bad, /^HTTP\/1\.1 200 /);
  assert.match(bad, /SESSION_AUTHENTICATION_FAILED/);
  const json = await rawHalfClosed(
    port,
    post(
      '/jsonrpc',
      JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'session.login_with_password',
        params: ['root', m.rootPassword, '1.0', 'half-close'],
      }),
      'application/json',
    ),
  );
  assert.match(json, /^HTTP\/1\.1 200 /);
  assert.match(json, /"result":"OpaqueRef:[^"]+","id":7/);
});

/** Status line, headers (lower-cased names) and body of a raw HTTP reply. */
function split(reply: string) {
  const head = reply.slice(0, reply.indexOf('\r\n\r\n'));
  const [status, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status, headers, body: reply.slice(head.length + 4) };
}

test('JSON nested 100,000 deep is a JSON-RPC parse error like any other malformed JSON', async (t) => {
  const m = await startManager(t);
  const port = Number(new URL(m.httpUrl).port);
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const shapes = [
    `{"jsonrpc":"2.0","id":1,"method":"session.login_with_password","params":["root",${deep}]}`,
    `{"jsonrpc":"2.0","id":1,"method":"VM.get_all","params":${deep}}`,
    `{"jsonrpc":"2.0","id":1,"method":"VM.get_all","params":[{"a":${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}}]}`,
  ];
  const malformed = split(await rawHalfClosed(port, post('/jsonrpc', '{"jsonrpc":', 'application/json')));
  assert.match(malformed.status, /^HTTP\/1\.1 500 /);
  assert.match(malformed.body, /JSON parse error/);
  for (const body of shapes) {
    const r = split(await rawHalfClosed(port, post('/jsonrpc', body, 'application/json')));
    assert.equal(r.status, malformed.status);
    assert.equal(r.headers['content-type'], malformed.headers['content-type']);
    assert.equal(r.headers.connection, malformed.headers.connection);
    assert.match(r.body, /JSON parse error: nested too deeply/);
    assert.doesNotMatch(r.body, /RangeError|call stack/i);
  }
});

test('XML-RPC nested 6,000 deep is refused as a parse error, not a crash', async (t) => {
  const m = await startManager(t);
  const port = Number(new URL(m.httpUrl).port);
  const n = 6_000; // 258 KB: as deep as the 300 KiB body limit allows
  const xml = `<?xml version="1.0"?><methodCall><methodName>VM.get_all</methodName><params><param>${'<value><array><data>'.repeat(n)}${'</data></array></value>'.repeat(n)}</param></params></methodCall>`;
  const r = split(await rawHalfClosed(port, post('/', xml)));
  assert.match(r.status, /^HTTP\/1\.1 500 /);
  assert.match(r.body, /XML nested too deeply/);
  assert.doesNotMatch(r.body, /RangeError|call stack/i);
});
