import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WireFormatError } from '../../../src/shared/wire/errors.js';
import {
  jsonEncoder,
  jsonFailure,
  jsonSuccess,
  jsonSuccessEnvelope,
  jsonUntyped,
  parseJsonRpcRequest,
} from '../../../src/shared/wire/json-rpc.js';
import { ctx, python, T } from './helpers.js';

const req = (o: unknown) => parseJsonRpcRequest(Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)));
const refuses = (o: unknown, message: RegExp) =>
  assert.throws(
    () => req(o),
    (e: unknown) => e instanceof WireFormatError && message.test(e.message),
  );

test('xen-api and v1 requests parse', () => {
  assert.deepEqual(
    req({ id: 0, jsonrpc: '2.0', method: 'VM.start', params: ['OpaqueRef:s', 'OpaqueRef:vm', false, false] }),
    {
      method: 'VM.start',
      params: ['OpaqueRef:s', 'OpaqueRef:vm', false, false],
      id: 0,
      version: 2,
    },
  );
  assert.deepEqual(req({ method: 'session.logout', params: ['s'], id: 'abc' }), {
    method: 'session.logout',
    params: ['s'],
    id: 'abc',
    version: 1,
  });
});

test('v2 params: an object is one struct argument; null or absent means none', () => {
  assert.deepEqual(req({ jsonrpc: '2.0', method: 'm', params: { a: 1 }, id: 1 }).params, [{ a: 1 }]);
  assert.deepEqual(req({ jsonrpc: '2.0', method: 'm', params: null, id: 1 }).params, []);
  assert.deepEqual(req({ jsonrpc: '2.0', method: 'm', id: 1 }).params, []);
});

test('every envelope rule of ocaml-rpc is enforced', () => {
  refuses('{"method":', /JSON parse error/);
  refuses('', /JSON parse error/);
  refuses([1], /Invalid request body/);
  refuses('"x"', /Invalid request body/);
  refuses(null, /Invalid request body/);
  refuses({ params: [], id: 1 }, /Required field method is missing/);
  refuses({ method: 5, params: [], id: 1 }, /Invalid field 'method'/);
  refuses({ jsonrpc: '1.0', method: 'm', params: [], id: 1 }, /Invalid field 'jsonrpc'/);
  refuses({ jsonrpc: 2, method: 'm', params: [], id: 1 }, /Invalid field 'jsonrpc'/);
  refuses({ jsonrpc: null, method: 'm', params: [], id: 1 }, /Invalid field 'jsonrpc'/);
  refuses({ method: 'm', id: 1 }, /Required field params is missing/);
  refuses({ method: 'm', params: { a: 1 }, id: 1 }, /Invalid field 'params'/);
  refuses({ method: 'm', params: null, id: 1 }, /Invalid field 'params'/);
  refuses({ jsonrpc: '2.0', method: 'm', params: 'x', id: 1 }, /Invalid field 'params'/);
  refuses({ jsonrpc: '2.0', method: 'm', params: [] }, /Invalid field 'id'/);
  refuses({ jsonrpc: '2.0', method: 'm', params: [], id: null }, /Invalid field 'id'/);
  refuses({ method: 'm', params: [], id: 1.5 }, /Invalid field 'id'/);
  refuses({ method: 'm', params: [], id: [1] }, /Invalid field 'id'/);
  refuses({ method: 'm', params: [], id: true }, /Invalid field 'id'/);
});

test('invalid UTF-8, lone surrogates and XML-illegal characters flag their parameter', () => {
  const body = Buffer.concat([
    Buffer.from('{"jsonrpc":"2.0","method":"VM.set_name_label","params":["s","OpaqueRef:x","a'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('b"],"id":0}'),
  ]);
  const r = parseJsonRpcRequest(body);
  assert.equal(r.invalidUtf8Index, 2);
  assert.equal(r.invalidUtf8Param, 'S(a\ufffd\ufffdb)');
  assert.equal(req({ method: 'm', params: ['ok', { k: ['x\u0001'] }], id: 1 }).invalidUtf8Index, 1);
  assert.equal(req('{"method":"m","params":["\\ud800"],"id":1}').invalidUtf8Index, 0);
  assert.equal(
    req({ method: 'm', params: ['tab\tnl\ncr\r \u00e9 \u{1F600}', 5, null], id: 1 }).invalidUtf8Param,
    undefined,
  );
});

const enc = (type: Parameters<typeof jsonEncoder>[0], v: unknown) => jsonEncoder(type, ctx)(v);

test('values are printed as yojson prints them', () => {
  assert.equal(enc(T.string, 'a"\\\n\u0001/\u00e9'), '"a\\"\\\\\\n\\u0001/\u00e9"');
  assert.equal(enc(T.int, 8589934592), '8589934592');
  assert.equal(enc(T.int32, 3), '3');
  assert.equal(enc(T.float, 1), '1.0');
  assert.equal(enc(T.float, 0), '0.0');
  assert.equal(enc(T.float, 0.1), '0.1');
  assert.equal(enc(T.float, 1e-7), '1e-07');
  assert.equal(enc(T.bool, true), 'true');
  assert.equal(enc(T.datetime, '20240101T12:00:00Z'), '"20240101T12:00:00Z"');
  assert.equal(enc(T.void, undefined), '""');
  assert.equal(enc(T.set(T.ref('VM')), ['OpaqueRef:a']), '["OpaqueRef:a"]');
  assert.equal(enc(T.set(T.float), [1, 0.5]), '[1.0,0.5]');
  assert.equal(enc(T.map(T.int, T.float), { '0': 1 }), '{"0":1.0}');
  assert.equal(enc(T.map(T.string, T.string), { b: '1', a: '2' }), '{"b":"1","a":"2"}');
  assert.equal(enc(T.option(T.string), undefined), '[]');
  assert.equal(enc(T.record('VM_metrics'), { progress: 1, uuid: 'u' }), '{"uuid":"u","progress":1.0}');
  assert.equal(jsonUntyped({ a: [1, 1.5, 'x', true, null] }), '{"a":[1,1.5,"x",true,""]}');
});

test('envelopes have xapi key order; v2 success has no error key', () => {
  assert.equal(jsonSuccess(2, 0, '"OpaqueRef:x"'), '{"jsonrpc":"2.0","result":"OpaqueRef:x","id":0}');
  assert.equal(jsonSuccess(1, 'a', '""'), '{"result":"","error":null,"id":"a"}');
  assert.equal(
    jsonFailure(2, 0, ['SESSION_INVALID', 'OpaqueRef:s']),
    '{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:s"]},"id":0}',
  );
  assert.equal(
    jsonFailure(1, 7, ['MESSAGE_METHOD_UNKNOWN', 'x']),
    '{"result":null,"error":["MESSAGE_METHOD_UNKNOWN","x"],"id":7}',
  );
  assert.equal(
    jsonFailure(2, 0, ['NOT_IMPLEMENTED']),
    '{"jsonrpc":"2.0","error":{"code":1,"message":"NOT_IMPLEMENTED","data":[]},"id":0}',
  );
  // yojson escapes DEL; we fix that up on the finished document.
  assert.equal(jsonSuccess(2, 0, enc(T.string, 'a\u007fb')), '{"jsonrpc":"2.0","result":"a\\u007fb","id":0}');
});

test('the encoders output is JSON that JSON.parse and Python read back to the same values', () => {
  const vm = {
    uuid: 'u',
    name_label: 'x "q" \u00e9 \u{1F600} \u007f',
    power_state: 'Halted',
    memory_static_max: 2 ** 40,
    VCPUs_utilisation: { '0': 0.5 },
    is_a_template: true,
    last_boot: '19700101T00:00:00Z',
    VBDs: [],
    other_config: { k: 'v' },
    resident_on: 'OpaqueRef:NULL',
    metrics: { uuid: 'm', progress: 0.75 },
  };
  const text = jsonSuccess(2, 0, enc(T.map(T.ref('VM'), T.record('VM')), { 'OpaqueRef:a': vm }));
  const expected = { jsonrpc: '2.0', result: { 'OpaqueRef:a': { ...vm, metrics: [vm.metrics] } }, id: 0 };
  assert.deepEqual(JSON.parse(text), expected);
  assert.deepEqual(
    JSON.parse(python('import sys, json\nprint(json.dumps(json.loads(sys.stdin.read())))', text)),
    expected,
  );
});

test('non-plain sets and maps: separators, empty and wrong-shaped values', () => {
  // Floats and records are not printed by JSON.stringify as yojson prints them, so these take the
  // per-element path (an integral float must keep its ".0").
  assert.equal(enc(T.set(T.float), [2]), '[2.0]');
  assert.equal(enc(T.set(T.float), [1, 2, 3]), '[1.0,2.0,3.0]');
  assert.equal(enc(T.set(T.float), []), '[]');
  assert.equal(enc(T.set(T.float), 'ab'), '[]');
  assert.equal(enc(T.set(T.set(T.float)), [[1], []]), '[[1.0],[]]');
  assert.equal(enc(T.set(T.string), ['a', 'b']), '["a","b"]');
  assert.equal(enc(T.map(T.string, T.float), { a: 1, b: 2, c: 0.5 }), '{"a":1.0,"b":2.0,"c":0.5}');
  assert.equal(enc(T.map(T.string, T.float), {}), '{}');
  assert.equal(enc(T.map(T.string, T.float), null), '{}');
  assert.equal(enc(T.map(T.string, T.float), 'ab'), '{}');
  assert.equal(enc(T.map(T.string, T.map(T.string, T.float)), { x: { y: 3 } }), '{"x":{"y":3.0}}');
  assert.equal(enc(T.map(T.string, T.set(T.float)), { x: [4] }), '{"x":[4.0]}');
  assert.equal(enc(T.map(T.string, T.string), 'ab'), '{}');
  assert.equal(
    enc(T.set(T.record('VM_metrics')), [{ uuid: 'a', progress: 1 }, { uuid: 'b' }]),
    '[{"uuid":"a","progress":1.0},{"uuid":"b","progress":0.0}]',
  );
});

test('records: an empty layout, a self-referencing layout, special and wrapped encoders', () => {
  assert.equal(enc(T.record('no_such_class'), { a: 1 }), '{}');
  const tree = {
    recordFields: (cls: string) =>
      cls === 'node'
        ? [
            { name: 'name', type: T.string },
            { name: 'children', type: T.set(T.record('node')) },
          ]
        : [],
  };
  assert.equal(
    jsonEncoder(
      T.record('node'),
      tree,
    )({ name: 'a', children: [{ name: 'b', children: [] }, { name: 'c' }] }),
    '{"name":"a","children":[{"name":"b","children":[]},{"name":"c","children":[]}]}',
  );
  const special = {
    ...ctx,
    special: (cls: string) => (cls === 'event_batch' ? () => '"batch"' : undefined),
  };
  assert.equal(jsonEncoder(T.set(T.record('event_batch')), special)([1, 2]), '["batch","batch"]');
  assert.equal(jsonEncoder(T.record('VM_metrics'), special)({ uuid: 'u' }), '{"uuid":"u","progress":0.0}');
  const wrapped = {
    ...ctx,
    wrapRecord: (cls: string, e: (v: unknown) => string) => (v: unknown) => `${cls}:${e(v)}`,
  };
  assert.equal(
    jsonEncoder(T.record('VM_metrics'), wrapped)({ uuid: 'u' }),
    'VM_metrics:{"uuid":"u","progress":0.0}',
  );
});

test('untyped values: integers, other numbers, bigints and nested containers', () => {
  assert.equal(jsonUntyped(3), '3');
  assert.equal(jsonUntyped(2.5), '2.5');
  assert.equal(jsonUntyped(2n ** 70n), String(2n ** 70n));
  assert.equal(jsonUntyped('a"b'), '"a\\"b"');
  assert.equal(jsonUntyped(undefined), '""');
  assert.equal(jsonUntyped(true), 'true');
  assert.equal(jsonUntyped([]), '[]');
  assert.equal(jsonUntyped({}), '{}');
  assert.equal(jsonUntyped({ a: 1, b: [2, { c: 'd' }] }), '{"a":1,"b":[2,{"c":"d"}]}');
});

test('envelopes sent in pieces equal the whole envelope; DEL and odd ids', () => {
  for (const version of [1, 2] as const)
    for (const id of [0, 42, 'id', 'a\u007f"b'] as const) {
      const [head, tail] = jsonSuccessEnvelope(version, id);
      assert.equal(head + '"OpaqueRef:x"' + tail, jsonSuccess(version, id, '"OpaqueRef:x"'));
    }
  assert.equal(jsonSuccess(2, 'a\u007f', '1'), '{"jsonrpc":"2.0","result":1,"id":"a\\u007f"}');
  assert.equal(jsonSuccess(1, 'x', '"\u007f"'), '{"result":"\\u007f","error":null,"id":"x"}');
  assert.equal(jsonSuccess(2, 'x', '"plain"'), '{"jsonrpc":"2.0","result":"plain","id":"x"}');
  assert.equal(
    jsonFailure(2, 'i', []),
    '{"jsonrpc":"2.0","error":{"code":1,"message":"INTERNAL_ERROR","data":[]},"id":"i"}',
  );
  assert.equal(jsonFailure(1, 'i', ['E', 'a\u007f']), '{"result":null,"error":["E","a\\u007f"],"id":"i"}');
  assert.equal(
    jsonFailure(2, 3, ['E', 'a\u007f']),
    '{"jsonrpc":"2.0","error":{"code":1,"message":"E","data":["a\\u007f"]},"id":3}',
  );
});

test('version 2 with params that are neither list, object nor null is refused; v1 needs a list', () => {
  refuses({ jsonrpc: '2.0', method: 'm', params: 5, id: 1 }, /Invalid field 'params'/);
  refuses({ jsonrpc: '2.0', method: 'm', params: true, id: 1 }, /Invalid field 'params'/);
  assert.equal(req({ jsonrpc: '2.0', method: 'm', params: [], id: 'x' }).version, 2);
  assert.deepEqual(req({ method: 'm', params: [], id: 'x' }).params, []);
});

test('requests nested up to 64 levels parse; one more level is refused', () => {
  const nest = (n: number, leaf: unknown): unknown => (n === 0 ? leaf : [nest(n - 1, leaf)]);
  // the request object and its params list are two of the levels
  assert.deepEqual(req({ method: 'm', params: [nest(62, 1)], id: 1 }).params, [nest(62, 1)]);
  assert.deepEqual(req({ method: 'm', params: [nest(61, { a: 1 })], id: 1 }).params, [nest(61, { a: 1 })]);
  refuses({ method: 'm', params: [nest(63, 1)], id: 1 }, /nested too deeply \(more than 64 levels\)/);
  refuses({ method: 'm', params: [nest(62, { a: 1 })], id: 1 }, /nested too deeply/);
});
