import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatG, jsonFloat, xmlDouble } from '../../../src/shared/wire/format-float.js';
import {
  escapeXml,
  XML_SUCCESS_HEAD,
  XML_SUCCESS_TAIL,
  xmlBare,
  xmlEncoder,
  xmlFailure,
  xmlListMethods,
  xmlSuccess,
  xmlUntyped,
} from '../../../src/shared/wire/xml-encode.js';
import { parseMethodResponse } from '../../../src/shared/wire/xml-parse.js';
import { ctx, python, T } from './helpers.js';

const enc = (type: Parameters<typeof xmlEncoder>[0], v: unknown) => xmlEncoder(type, ctx)(v);

test('scalars are emitted exactly as xapi does', () => {
  assert.equal(
    enc(T.string, 'a<b>&"c\'\t\n\r\u0001\u001f\u007f\u00e9'),
    "<value>a&lt;b&gt;&amp;&quot;c'\t\n\r\u007f\u00e9</value>",
  );
  assert.equal(enc(T.string, ''), '<value></value>');
  assert.equal(enc(T.ref('VM'), 'OpaqueRef:NULL'), '<value>OpaqueRef:NULL</value>');
  assert.equal(enc(T.enum('vm_power_state'), 'Running'), '<value>Running</value>');
  assert.equal(enc(T.int, 4294967296), '<value>4294967296</value>');
  assert.equal(enc(T.int, -1), '<value>-1</value>');
  assert.equal(enc(T.int32, 12), '<value><i4>12</i4></value>');
  assert.equal(enc(T.bool, true), '<value><boolean>1</boolean></value>');
  assert.equal(enc(T.bool, false), '<value><boolean>0</boolean></value>');
  assert.equal(enc(T.float, 1), '<value><double>1</double></value>');
  assert.equal(enc(T.float, 0.5), '<value><double>0.5</double></value>');
  assert.equal(enc(T.float, 0.1), '<value><double>0.1</double></value>');
  assert.equal(enc(T.float, 1e-5), '<value><double>1e-05</double></value>');
  assert.equal(enc(T.float, 1e21), '<value><double>1e+21</double></value>');
  assert.equal(
    enc(T.datetime, '20240131T23:05:09Z'),
    '<value><dateTime.iso8601>20240131T23:05:09Z</dateTime.iso8601></value>',
  );
  assert.equal(
    enc(T.datetime, new Date(Date.UTC(2024, 0, 31, 23, 5, 9))),
    enc(T.datetime, '20240131T23:05:09Z'),
  );
  assert.equal(enc(T.void, undefined), '<value></value>');
});

test('sets, maps, records and options', () => {
  assert.equal(enc(T.set(T.string), []), '<value><array><data></data></array></value>');
  assert.equal(
    enc(T.set(T.int), [1, 2]),
    '<value><array><data><value>1</value><value>2</value></data></array></value>',
  );
  assert.equal(
    enc(T.map(T.string, T.string), { 'a&b': 'x', c: '' }),
    '<value><struct><member><name>a&amp;b</name><value>x</value></member><member><name>c</name><value></value></member></struct></value>',
  );
  assert.equal(enc(T.map(T.string, T.string), {}), '<value><struct></struct></value>');
  assert.equal(
    enc(T.record('VM_metrics'), { progress: 0.25, uuid: 'u', extra: 'ignored' }),
    '<value><struct><member><name>uuid</name><value>u</value></member><member><name>progress</name><value><double>0.25</double></value></member></struct></value>',
  );
  assert.equal(enc(T.option(T.string), undefined), '<value><array><data></data></array></value>');
  assert.equal(enc(T.option(T.string), 'x'), '<value><array><data><value>x</value></data></array></value>');
  // Missing values encode as the type's empty value instead of failing the whole reply.
  assert.equal(enc(T.set(T.string), undefined), '<value><array><data></data></array></value>');
  assert.equal(enc(T.ref('host'), undefined), '<value>OpaqueRef:NULL</value>');
});

test('encoders are compiled once per type and context', () => {
  const a = xmlEncoder(T.record('VM'), ctx);
  assert.equal(xmlEncoder(T.record('VM'), ctx), a);
  const t = T.set(T.ref('VM'));
  assert.equal(xmlEncoder(t, ctx), xmlEncoder(t, ctx));
  let wrapped = 0;
  const wctx = {
    ...ctx,
    wrapRecord: (_c: string, e: (v: unknown) => string) => (v: unknown) => {
      wrapped++;
      return e(v);
    },
  };
  xmlEncoder(
    T.set(T.record('VM_metrics')),
    wctx,
  )([
    { uuid: 'a', progress: 0 },
    { uuid: 'b', progress: 1 },
  ]);
  assert.equal(wrapped, 2);
});

test('envelopes are byte-exact', () => {
  assert.equal(
    xmlSuccess(enc(T.string, 'OpaqueRef:x')),
    '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>OpaqueRef:x</value></member></struct></value></param></params></methodResponse>',
  );
  assert.equal(
    xmlFailure(['HANDLE_INVALID', 'VM', 'OpaqueRef:<x>']),
    '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:&lt;x&gt;</value></data></array></value></member></struct></value></param></params></methodResponse>',
  );
  assert.equal(
    xmlListMethods(['VM.start', 'system.listMethods']),
    '<?xml version="1.0"?><methodResponse><params><param><value><array><data><value>VM.start</value><value>system.listMethods</value></data></array></value></param></params></methodResponse>',
  );
  assert.equal(
    xmlBare('<value>x</value>'),
    '<?xml version="1.0"?><methodResponse><params><param><value>x</value></param></params></methodResponse>',
  );
  assert.equal(xmlSuccess(enc(T.void, undefined)).includes('<name>Value</name><value></value>'), true);
});

const A = (...values: string[]) => `<value><array><data>${values.join('')}</data></array></value>`;
const S = (...members: [string, string][]) =>
  `<value><struct>${members.map(([k, v]) => `<member><name>${k}</name>${v}</member>`).join('')}</struct></value>`;

test('text sets: every element in its own <value>, escaped; wrong shapes are empty', () => {
  assert.equal(
    enc(T.set(T.ref('VM')), ['OpaqueRef:a', 'OpaqueRef:b']),
    A('<value>OpaqueRef:a</value>', '<value>OpaqueRef:b</value>'),
  );
  assert.equal(
    enc(T.set(T.string), ['a<', '', 'c']),
    A('<value>a&lt;</value>', '<value></value>', '<value>c</value>'),
  );
  assert.equal(enc(T.set(T.enum('vm_power_state')), ['Running']), A('<value>Running</value>'));
  assert.equal(enc(T.set(T.string), 'ab'), A());
  assert.equal(enc(T.set(T.string), { 0: 'a', length: 1 }), A());
});

test('non-text maps and sets: nested values, wrong shapes are empty', () => {
  assert.equal(
    enc(T.map(T.int, T.float), { '0': 1, '1': 0.5 }),
    S(['0', '<value><double>1</double></value>'], ['1', '<value><double>0.5</double></value>']),
  );
  assert.equal(enc(T.map(T.string, T.set(T.string)), { 'k&': ['v'] }), S(['k&amp;', A('<value>v</value>')]));
  assert.equal(enc(T.map(T.string, T.int), 'ab'), S());
  assert.equal(enc(T.map(T.string, T.int), null), S());
  assert.equal(enc(T.map(T.string, T.int), {}), S());
  assert.equal(enc(T.map(T.string, T.string), 'ab'), S());
  assert.equal(enc(T.set(T.int), []), A());
  assert.equal(enc(T.set(T.set(T.int)), [[1], []]), A(A('<value>1</value>'), A()));
});

test('records: an empty layout, a self-referencing layout, special and wrapped encoders', () => {
  assert.equal(enc(T.record('no_such_class'), { a: 1 }), S());
  const tree = {
    recordFields: (cls: string) =>
      cls === 'node'
        ? [
            { name: 'name', type: T.string },
            { name: 'children', type: T.set(T.record('node')) },
          ]
        : [],
  };
  const leaf = (n: string) => S(['name', `<value>${n}</value>`], ['children', A()]);
  assert.equal(
    xmlEncoder(T.record('node'), tree)({ name: 'a', children: [{ name: 'b', children: [] }, { name: 'c' }] }),
    S(['name', '<value>a</value>'], ['children', A(leaf('b'), leaf('c'))]),
  );
  const special = {
    ...ctx,
    special: (cls: string) => (cls === 'event_batch' ? () => '<value>batch</value>' : undefined),
  };
  assert.equal(
    xmlEncoder(T.set(T.record('event_batch')), special)([1, 2]),
    A('<value>batch</value>', '<value>batch</value>'),
  );
  assert.equal(
    xmlEncoder(T.record('VM_metrics'), special)({ uuid: 'u' }),
    S(['uuid', '<value>u</value>'], ['progress', '<value><double>0</double></value>']),
  );
  const wrapped = {
    ...ctx,
    wrapRecord: (cls: string, e: (v: unknown) => string) => (v: unknown) => cls + e(v),
  };
  assert.equal(
    xmlEncoder(T.record('VM_metrics'), wrapped)({ uuid: 'u' }),
    `VM_metrics${S(['uuid', '<value>u</value>'], ['progress', '<value><double>0</double></value>'])}`,
  );
});

test('scalars: int32 and datetime from loose values, escaping only where needed', () => {
  assert.equal(enc(T.int32, '7'), '<value><i4>7</i4></value>');
  assert.equal(enc(T.int32, 2 ** 31), '<value><i4>-2147483648</i4></value>');
  assert.equal(
    enc(T.datetime, new Date(Date.UTC(1999, 11, 9, 8, 7, 6, 5))),
    '<value><dateTime.iso8601>19991209T08:07:06Z</dateTime.iso8601></value>',
  );
  assert.equal(enc(T.bool, 1), '<value><boolean>1</boolean></value>');
  assert.equal(enc(T.bool, 0), '<value><boolean>0</boolean></value>');
  assert.equal(escapeXml('a\u0000b\u0008c\u000bd\u000ce\u000ef\u001fg'), 'abcdefg');
  assert.equal(escapeXml('\t\n\r'), '\t\n\r');
  assert.equal(escapeXml('>'), '&gt;');
  assert.equal(escapeXml('"'), '&quot;');
  assert.equal(xmlSuccess('<value>x</value>'), `${XML_SUCCESS_HEAD}<value>x</value>${XML_SUCCESS_TAIL}`);
  assert.equal(
    xmlFailure([]).endsWith(
      '<value><array><data></data></array></value></member></struct></value></param></params></methodResponse>',
    ),
    true,
  );
  assert.equal(xmlListMethods([]), xmlBare(A()));
});

test('untyped values (task results, listMethods)', () => {
  assert.equal(
    xmlUntyped(['OpaqueRef:a']),
    '<value><array><data><value>OpaqueRef:a</value></data></array></value>',
  );
  assert.equal(
    xmlUntyped({ a: 1, b: 1.5, c: true, d: null, e: 'x' }),
    '<value><struct><member><name>a</name><value>1</value></member><member><name>b</name><value><double>1.5</double></value></member><member><name>c</name><value><boolean>1</boolean></value></member><member><name>d</name><value></value></member><member><name>e</name><value>x</value></member></struct></value>',
  );
  assert.equal(escapeXml('plain'), 'plain');
});

test('%.16g and %.17g match C printf (Python is the oracle), ties included', () => {
  // Seeded pseudo-random doubles of every magnitude, plus hand-picked edge cases.
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const xs = [
    0,
    -0,
    1,
    -1,
    0.5,
    0.1,
    1 / 3,
    2 / 3,
    1e-4,
    1e-5,
    0.0001 - 2 ** -66,
    2 ** 56 + 8,
    1e16,
    1e15,
    9999999999999998,
    2 ** -24,
    2 ** -30,
    5e-324,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    0.30000000000000004,
    60.1,
    1.5e300,
    2.5,
    1234.5,
  ];
  for (let i = 0; i < 400; i++) xs.push((rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20));
  for (let i = 0; i < 100; i++) xs.push(Math.floor(rnd() * 2 ** 53) * 2 ** -Math.floor(rnd() * 60)); // exact binary fractions: ties
  const input = xs.map((x) => (Object.is(x, -0) ? '-0.0' : x.toExponential(20))).join('\n');
  const out = python(
    'import sys\nfor l in sys.stdin.read().split():\n x=float(l)\n print("%.16g %.17g" % (x, x))',
    input,
  )
    .trim()
    .split('\n');
  xs.forEach((x, i) => {
    const [g16, g17] = out[i].split(' ');
    assert.equal(formatG(x, 16), g16, `%.16g of ${x}`);
    assert.equal(formatG(x, 17), g17, `%.17g of ${x}`);
  });
  assert.equal(xmlDouble(Number.NaN), 'nan');
  assert.equal(xmlDouble(Number.NEGATIVE_INFINITY), '-inf');
  assert.equal(jsonFloat(1), '1.0');
  assert.equal(jsonFloat(0.1), '0.1');
  assert.equal(jsonFloat(1e21), '1e+21');
  assert.equal(jsonFloat(0.30000000000000004), '0.30000000000000004');
});

test("Python's xmlrpc.client decodes the encoders' output to the same values", () => {
  const vm = {
    uuid: 'c0ffee00-0000-4000-8000-000000000001',
    name_label: 'web <01> & "db" \u00e9\u{1F600}',
    power_state: 'Running',
    memory_static_max: 8589934592,
    VCPUs_utilisation: { '0': 0.25, '1': 1 },
    is_a_template: false,
    last_boot: '20240131T23:05:09Z',
    VBDs: ['OpaqueRef:a', 'OpaqueRef:b'],
    other_config: { 'xo:tag': 'a\tb\nc', empty: '' },
    resident_on: 'OpaqueRef:NULL',
    metrics: undefined,
  };
  const xml = xmlSuccess(xmlEncoder(T.map(T.ref('VM'), T.record('VM')), ctx)({ 'OpaqueRef:vm1': vm }));
  const program = `
import sys, json, xmlrpc.client
(v,), _ = xmlrpc.client.loads(sys.stdin.read())
def plain(x):
    if isinstance(x, xmlrpc.client.DateTime): return 'DT:' + x.value
    if isinstance(x, dict): return {k: plain(y) for k, y in x.items()}
    if isinstance(x, list): return [plain(y) for y in x]
    return x
print(json.dumps(plain(v)))`;
  const decoded = JSON.parse(python(program, xml));
  assert.deepEqual(decoded, {
    Status: 'Success',
    Value: {
      'OpaqueRef:vm1': {
        ...vm,
        memory_static_max: '8589934592', // int64 travels as a bare string, as with xapi
        last_boot: 'DT:20240131T23:05:09Z',
        metrics: [],
      },
    },
  });
  // Our own response parser agrees.
  const ours = parseMethodResponse(xml);
  assert.equal(ours.ok, true);
});
