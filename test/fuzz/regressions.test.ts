// Every failure the fuzz targets found, as its minimised input (see docs/fuzzing.md).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { consoleParams } from '../../src/manager/http/console.js';
import { AgentError, decodeReply, parseArgs, RequestError } from '../../src/shared/noded/protocol.js';
import { parseJsonRpcRequest, WireFormatError } from '../../src/shared/wire/index.js';
import { startManager } from '../helpers/manager.js';
import { fuzzTargets } from './targets.js';
import { failureOf } from './engine.js';

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

// agent-request, seed 1: JSON.parse's SyntaxError escaped parseArgs (14 distinct messages).
test('agent request bodies that are not JSON are a RequestError', () => {
  for (const body of [
    '["',
    '{"":"","":1,"":{"":"","":"","":false,"\r',
    '""b',
    '"\\u',
    '"',
    'd',
    '[',
    '["",f-',
    '{"":"",',
    '["",1e',
    '["",f"',
    '{',
    '{"":"","\\\t',
    '-',
  ])
    assert.throws(() => parseArgs(body), RequestError, JSON.stringify(body));
  assert.throws(() => parseArgs('{"a":1}'), RequestError);
  assert.deepEqual(parseArgs('  '), []);
  assert.deepEqual(parseArgs('[1,"a",{"b":null}]'), [1, 'a', { b: null }]);
});

test('agent RPC refuses nesting deeper than 64 levels in requests and replies', () => {
  assert.throws(() => parseArgs(deep(100_000)), RequestError);
  assert.deepEqual(parseArgs(deep(64)).length, 1);
  assert.throws(() => decodeReply('p', `[true,${deep(100_000)}]`), AgentError);
  assert.throws(() => decodeReply('p', `[false,${deep(100_000)}]`), AgentError);
});

test('JSON-RPC nested 100,000 deep is a WireFormatError', () => {
  const body = `{"jsonrpc":"2.0","id":1,"method":"VM.get_all","params":[${deep(100_000)}]}`;
  assert.throws(
    () => parseJsonRpcRequest(Buffer.from(body)),
    (e) => e instanceof WireFormatError && /nested too deeply/.test(e.message),
  );
  // The envelope and the params list are two of the 64 levels.
  const ok = `{"jsonrpc":"2.0","id":1,"method":"VM.get_all","params":[${deep(62)}]}`;
  assert.equal(parseJsonRpcRequest(Buffer.from(ok)).params.length, 1);
});

// http-query, seed 1: a malformed escape in the session cookie (URIError) and a request target
// new URL cannot read (TypeError) escaped the console's query parser.
test('console request parsing never throws', () => {
  assert.deepEqual(consoleParams('/console', 'session_id=%'), {
    session: '%',
    ref: undefined,
    uuid: undefined,
  });
  assert.deepEqual(consoleParams('//', undefined), { session: undefined, ref: undefined, uuid: undefined });
  assert.deepEqual(consoleParams('/console?ref=OpaqueRef:a&session_id=OpaqueRef%3Ab#x', 'session_id=c'), {
    session: 'OpaqueRef:b',
    ref: 'OpaqueRef:a',
    uuid: undefined,
  });
  assert.equal(consoleParams('/console?uuid=%zz', 'a=1; session_id=OpaqueRef%3Ac').session, 'OpaqueRef:c');
  assert.equal(consoleParams('/console?uuid=%zz', undefined).uuid, '%zz');
});

test('CONNECT /console with a malformed session cookie is refused as an invalid session (403), not a 500', async (t) => {
  const m = await startManager(t);
  const port = Number(new URL(m.httpUrl).port);
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(
        'CONNECT /console?ref=OpaqueRef:nope HTTP/1.1\r\nHost: x\r\nCookie: session_id=%E0%A4%A\r\n\r\n',
      ),
    );
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
  assert.match(reply, /^HTTP\/1\.1 403 /);
});

// The same minimised inputs through the targets themselves (documented error or accepted).
test('the minimised inputs pass their fuzz targets', () => {
  const targets = new Map(fuzzTargets().map((t) => [t.name, t]));
  const cases: [string, string][] = [
    ['agent-request', '\n["'],
    ['agent-request', '\n-'],
    ['agent-request', `\n${deep(100_000)}`],
    ['agent-reply', `[true,${deep(100_000)}]`],
    ['agent-reply', '[true,[-0]]'],
    ['http-query', '\nsession_id=%'],
    ['http-query', ' //'],
    ['jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"VM.get_all","params":${deep(100_000)}}`],
  ];
  for (const [name, input] of cases)
    assert.equal(
      failureOf(targets.get(name)!, Buffer.from(input)),
      undefined,
      `${name}: ${JSON.stringify(input.slice(0, 40))}`,
    );
});
