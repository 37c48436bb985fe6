import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_XML_LIMITS,
  parseMethodCall,
  parseMethodResponse,
  parseValueFragment,
  WireFormatError,
  type XmlValue,
} from '../../../src/shared/wire/xml-parse.js';

const call = (params: string, method = 'VM.start') =>
  Buffer.from(
    `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`,
  );
const one = (value: string) => parseMethodCall(call(`<param>${value}</param>`)).params[0];
const refuses = (body: Buffer | string, pattern?: RegExp) =>
  assert.throws(
    () => parseMethodCall(typeof body === 'string' ? Buffer.from(body) : body),
    (e: unknown) => e instanceof WireFormatError && (!pattern || pattern.test(e.message)),
  );

test('a Python xmlrpc.client request (one element per line, <string>, <int>) parses', () => {
  const body = `<?xml version='1.0'?>
<methodCall>
<methodName>session.login_with_password</methodName>
<params>
<param>
<value><string>root</string></value>
</param>
<param>
<value><int>42</int></value>
</param>
<param>
<value><double>60.1</double></value>
</param>
<param>
<value><boolean>1</boolean></value>
</param>
<param>
<value><nil/></value></param>
<param>
<value><array><data>
<value><string>a</string></value>
<value><string>b</string></value>
</data></array></value>
</param>
<param>
<value><struct>
<member>
<name>k</name>
<value><string> spaced </string></value>
</member>
</struct></value>
</param>
<param>
<value><dateTime.iso8601>20240131T23:05:09</dateTime.iso8601></value>
</param>
<param>
<value><base64>
aGVsbG8=
</base64></value>
</param>
</params>
</methodCall>
`;
  const c = parseMethodCall(Buffer.from(body));
  assert.equal(c.method, 'session.login_with_password');
  assert.deepEqual(c.params, [
    { t: 'string', v: 'root' },
    { t: 'int', v: '42' },
    { t: 'double', v: '60.1' },
    { t: 'bool', v: '1' },
    { t: 'nil' },
    {
      t: 'array',
      v: [
        { t: 'string', v: 'a' },
        { t: 'string', v: 'b' },
      ],
    },
    { t: 'struct', v: new Map([['k', { t: 'string', v: ' spaced ' }]]) },
    { t: 'datetime', v: '20240131T23:05:09' },
    { t: 'base64', v: 'aGVsbG8=' },
  ]);
  assert.equal(c.invalidUtf8Param, undefined);
});

test('a xen-api (Xen Orchestra) request: UTF-8 declaration, ints as strings, &apos;, <nil />', () => {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>VM.set_VCPUs_max</methodName><params>' +
    '<param><value>OpaqueRef:s</value></param><param><value>2</value></param>' +
    '<param><value>it&apos;s &lt;&amp;&gt; &quot;x&quot;</value></param><param><value><nil /></value></param>' +
    '</params></methodCall>';
  const c = parseMethodCall(Buffer.from(body));
  assert.deepEqual(c.params, [
    { t: 'string', v: 'OpaqueRef:s' },
    { t: 'string', v: '2' },
    { t: 'string', v: `it's <&> "x"` },
    { t: 'nil' },
  ]);
});

test('bare <value> text keeps its whitespace; empty forms are empty values', () => {
  assert.deepEqual(one('<value>  two  words </value>'), { t: 'string', v: '  two  words ' });
  assert.deepEqual(one('<value/>'), { t: 'string', v: '' });
  assert.deepEqual(one('<value></value>'), { t: 'string', v: '' });
  assert.deepEqual(one('<value><string/></value>'), { t: 'string', v: '' });
  assert.deepEqual(one('<value><array/></value>'), { t: 'array', v: [] });
  assert.deepEqual(one('<value><array><data/></array></value>'), { t: 'array', v: [] });
  assert.deepEqual(one('<value><struct/></value>'), { t: 'struct', v: new Map() });
  assert.deepEqual(one('<value><![CDATA[<raw>&]]></value>'), { t: 'string', v: '<raw>&' });
  assert.deepEqual(one('<value><i4>-7</i4></value>'), { t: 'int', v: '-7' });
  assert.deepEqual(one('<value><i8>9223372036854775807</i8></value>'), {
    t: 'int',
    v: '9223372036854775807',
  });
  assert.deepEqual(one('<value><boolean>true</boolean></value>'), { t: 'bool', v: 'true' });
  assert.deepEqual(one('<value>caf\u00e9 \u{1F600}</value>'), { t: 'string', v: 'caf\u00e9 \u{1F600}' });
  assert.deepEqual(parseMethodCall(call('')).params, []);
});

test('a struct keeps member order and the first of duplicate names, as xapi', () => {
  const v = one(
    '<value><struct><member><name>b</name><value>1</value></member><member><name>a</name><value>2</value></member>' +
      '<member><name>b</name><value>3</value></member></struct></value>',
  ) as Extract<XmlValue, { t: 'struct' }>;
  assert.deepEqual([...v.v.keys()], ['b', 'a']);
  assert.deepEqual(v.v.get('b'), { t: 'string', v: '1' });
});

test('DTDs, entity declarations and external entities are refused', () => {
  refuses(
    '<?xml version="1.0"?><!DOCTYPE methodCall><methodCall><methodName>x</methodName><params/></methodCall>',
    /DOCTYPE/,
  );
  const laughs =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' +
    '<methodCall><methodName>&lol3;</methodName><params/></methodCall>';
  refuses(laughs);
  refuses(
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodCall><methodName>&xxe;</methodName><params/></methodCall>',
  );
  // Without a DTD an entity reference is simply unknown.
  refuses(call('<param><value>&xxe;</value></param>'), /entity/i);
});

test('nesting and element counts are bounded', () => {
  const deep = '<value><array><data>'.repeat(30) + '<value>x</value>' + '</data></array></value>'.repeat(30);
  refuses(call(`<param>${deep}</param>`), /deep/);
  const shallow =
    '<value><array><data>'.repeat(15) + '<value>x</value>' + '</data></array></value>'.repeat(15);
  assert.equal(one(shallow).t, 'array');
  const many = `<param><value><array><data>${'<value/>'.repeat(DEFAULT_XML_LIMITS.maxElements)}</data></array></value></param>`;
  refuses(call(many), /too many/);
  assert.throws(
    () => parseMethodCall(call('<param><value/></param>'.repeat(20)), { maxDepth: 64, maxElements: 30 }),
    WireFormatError,
  );
});

test('malformed and structurally wrong requests are WireFormatErrors', () => {
  refuses('<?xml version="1.0"?><methodCall><methodName>x</methodName><params><param><value>', /parse/);
  refuses('<methodCall><methodName>x</methodName></methodCall>', /params/);
  refuses('<methodCall><params/></methodCall>', /methodName/);
  refuses('<methodResponse><params/></methodResponse>', /methodCall/);
  refuses('<methodCall><methodName>x</methodName><params/></methodCall><extra/>');
  refuses('<methodCall><methodName>x</methodName><params/><params/></methodCall>');
  refuses('');
  refuses('not xml at all');
  refuses('<methodCall><methodName>x</methodName><params><value>a</value></params></methodCall>', /param/);
  refuses('<methodCall><methodName>x</methodName><params><param></param></params></methodCall>', /value/);
  refuses(
    '<methodCall><methodName>x</methodName><params>text<param><value/></param></params></methodCall>',
    /text/,
  );
  refuses('<methodCall><methodName>x<b/></methodName><params/></methodCall>');
  refuses(call('<param><value>text<string>x</string></value></param>'), /text/);
  refuses(call('<param><value><string>a</string><string>b</string></value></param>'));
  refuses(call('<param><value><float>1</float></value></param>'), /unknown XML-RPC type/);
  refuses(call('<param><value><int>12a</int></value></param>'), /integer/);
  refuses(call('<param><value><int>9223372036854775808</int></value></param>'), /range/);
  refuses(call('<param><value><int/></value></param>'), /integer/);
  refuses(call('<param><value><double>1.2.3</double></value></param>'), /double/);
  refuses(call('<param><value><boolean></boolean></value></param>'), /boolean/);
  refuses(call('<param><value><base64>!!</base64></value></param>'), /base64/);
  refuses(call('<param><value><array><value/></array></value></param>'), /data/);
  refuses(call('<param><value><struct><member><value/></member></struct></value></param>'), /name/);
  refuses(call('<param><value><struct><name>a</name></struct></value></param>'), /member/);
  refuses(call('<param><value><nil>x</nil></value></param>'));
  refuses(call('<param><value>&#1;</value></param>'));
});

test('invalid UTF-8 is decoded leniently and the parameter holding it is reported', () => {
  const body = Buffer.concat([
    Buffer.from(
      '<methodCall><methodName>VM.set_name_label</methodName><params><param><value>OpaqueRef:a\u00e9</value></param><param><value>ab',
    ),
    Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('cd</value></param><param><value>\ufffd legit</value></param></params></methodCall>'),
  ]);
  const c = parseMethodCall(body);
  assert.equal(c.invalidUtf8Index, 1);
  assert.equal(c.invalidUtf8Param, 'S(ab\ufffd(\ufffdcd)');
  assert.deepEqual(c.params[0], { t: 'string', v: 'OpaqueRef:a\u00e9' });

  const nested = Buffer.concat([
    Buffer.from(
      '<methodCall><methodName>m</methodName><params><param><value>s</value></param><param><value><struct><member><name>k',
    ),
    Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate is not UTF-8
    Buffer.from('</name><value><i4>1</i4></value></member></struct></value></param></params></methodCall>'),
  ]);
  const n = parseMethodCall(nested);
  assert.equal(n.invalidUtf8Index, 1);
  assert.equal(n.invalidUtf8Param, '{k\ufffd\ufffd\ufffd:I(1)}');

  // A valid U+FFFD is not an error; bad bytes in the method name are not a parameter's.
  assert.equal(parseMethodCall(call('<param><value>\ufffd</value></param>')).invalidUtf8Param, undefined);
  const inName = Buffer.concat([
    Buffer.from('<methodCall><methodName>a'),
    Buffer.from([0x80]),
    Buffer.from('</methodName><params/></methodCall>'),
  ]);
  const m = parseMethodCall(inName);
  assert.equal(m.method, 'a\ufffd');
  assert.equal(m.invalidUtf8Param, undefined);
});

test('responses and value fragments parse into untyped JS', () => {
  const r = parseMethodResponse(
    '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member>' +
      '<member><name>Value</name><value><array><data><value>7</value><value><i4>7</i4></value><value><double>0.5</double></value>' +
      '<value><boolean>0</boolean></value><value><nil/></value></data></array></value></member></struct></value></param></params></methodResponse>\n',
  );
  assert.deepEqual(r, { ok: true, value: { Status: 'Success', Value: ['7', 7, 0.5, false, null] } });
  const f = parseMethodResponse(
    '<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member></struct></value></fault></methodResponse>',
  );
  assert.deepEqual(f, { ok: false, fault: { faultCode: 1 } });
  assert.deepEqual(
    parseValueFragment('<value><array><data><value>OpaqueRef:x</value></data></array></value>'),
    {
      t: 'array',
      v: [{ t: 'string', v: 'OpaqueRef:x' }],
    },
  );
  assert.throws(() => parseValueFragment('OpaqueRef:x'), WireFormatError);
});
