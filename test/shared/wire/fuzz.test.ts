// Seeded mutation fuzzing of both parsers and the decoders: whatever the bytes, the only failures
// allowed are WireFormatError (HTTP 500) and XenApiError (in-band error), never a crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWhere } from '../../../src/manager/db/where.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { decodeJson, decodeXml } from '../../../src/shared/wire/decode.js';
import { WireFormatError } from '../../../src/shared/wire/errors.js';
import { parseJsonRpcRequest } from '../../../src/shared/wire/json-rpc.js';
import { parseMethodCall } from '../../../src/shared/wire/xml-parse.js';
import { ctx, T } from './helpers.js';

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const XML_SEEDS = [
  '<?xml version="1.0"?><methodCall><methodName>VM.create</methodName><params><param><value>OpaqueRef:s</value></param><param><value><struct><member><name>name_label</name><value>a</value></member><member><name>memory_static_max</name><value><int>5</int></value></member><member><name>is_a_template</name><value><boolean>1</boolean></value></member><member><name>VBDs</name><value><array><data><value>OpaqueRef:x</value></data></array></value></member><member><name>last_boot</name><value><dateTime.iso8601>20240101T00:00:00Z</dateTime.iso8601></value></member></struct></value></param><param><value><double>1.5</double></value></param></params></methodCall>',
  "<?xml version='1.0'?>\n<methodCall>\n<methodName>event.from</methodName>\n<params>\n<param>\n<value><array><data>\n<value><string>vm</string></value>\n</data></array></value>\n</param>\n<param>\n<value><nil/></value></param>\n</params>\n</methodCall>\n",
];
const JSON_SEEDS = [
  '{"id":0,"jsonrpc":"2.0","method":"VM.create","params":["OpaqueRef:s",{"name_label":"a","memory_static_max":5,"is_a_template":true,"VBDs":["OpaqueRef:x"],"other_config":{"k":"v"},"VCPUs_utilisation":{"0":0.5}},1.5]}',
  '{"method":"m","params":[[1,"2",null],{"a":{"b":[]}}],"id":"x"}',
];
const XML_SNIPPETS = [
  '<',
  '>',
  '</',
  '/>',
  '&',
  '&amp;',
  '&#0;',
  '&#x10FFFF;',
  '&lol;',
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '<![CDATA[',
  ']]>',
  '<value>',
  '</value>',
  '<array><data>',
  '<struct>',
  '<member>',
  '<name>',
  '<int>',
  '<i4>99999999999999999999</i4>',
  '<boolean>',
  '<double>',
  '"',
  "'",
  '<?pi?>',
  '<!--',
  '-->',
  '\u0000',
  '\uFFFD',
];
const JSON_SNIPPETS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\u',
  '\\ud800',
  'null',
  'true',
  '1e999',
  '-0',
  '"jsonrpc":"2.0"',
  '"params":',
  '"id":',
  '__proto__',
  '9007199254740993',
];
const TYPES = [
  T.string,
  T.int,
  T.float,
  T.bool,
  T.datetime,
  T.set(T.ref('VM')),
  T.map(T.string, T.string),
  T.record('VM'),
  T.option(T.string),
  T.enum('vm_power_state'),
];

// Text that keeps the document well-formed, so that mutants reach the decoders.
const VALUES = [
  '',
  'x',
  '-1',
  '007',
  '1e5',
  'nan',
  'true',
  'running',
  'HALTED',
  '20240101T00:00:00Z',
  '2024-13-01',
  '99999999999999999999',
  ' 5 ',
  '\u00e9',
  '&amp;&lt;',
];

function mutate(seed: Buffer, rnd: () => number, snippets: string[]): Buffer {
  let b = Buffer.from(seed);
  const n = 1 + Math.floor(rnd() * rnd() * 4); // mostly single mutations, so many mutants still parse
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * (b.length + 1));
    let gt = b.indexOf('>', at);
    while (gt >= 0 && b[gt + 1] === 0x3c) gt = b.indexOf('>', gt + 1); // a leaf's text, not structure
    switch (Math.floor(rnd() * 7)) {
      case 6: // more text in a leaf
        if (gt >= 0)
          b = Buffer.concat([
            b.subarray(0, gt + 1),
            Buffer.from(VALUES[Math.floor(rnd() * VALUES.length)]),
            b.subarray(gt + 1),
          ]);
        break;
      case 0: // flip a byte
        if (b.length) b[Math.min(at, b.length - 1)] = Math.floor(rnd() * 256);
        break;
      case 1: // insert a snippet
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(snippets[Math.floor(rnd() * snippets.length)]),
          b.subarray(at),
        ]);
        break;
      case 2: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + Math.floor(rnd() * 20))]);
        break;
      case 3: // duplicate a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + Math.floor(rnd() * 60)), b.subarray(at)]);
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      default: // random bytes
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => Math.floor(rnd() * 256))),
          b.subarray(at),
        ]);
    }
  }
  return b;
}

function allowed(e: unknown, input: Buffer): void {
  if (e instanceof WireFormatError || e instanceof XenApiError) return;
  assert.fail(
    `unexpected ${(e as Error)?.name}: ${(e as Error)?.message}\ninput: ${JSON.stringify(input.toString('latin1'))}`,
  );
}

test('mutated XML-RPC requests only ever fail with WireFormatError or XenApiError', () => {
  const rnd = prng(0xc0ffee);
  let parsed = 0;
  for (let i = 0; i < 3000; i++) {
    const input = mutate(Buffer.from(XML_SEEDS[i % XML_SEEDS.length]), rnd, XML_SNIPPETS);
    try {
      const c = parseMethodCall(input);
      parsed++;
      for (const p of c.params)
        for (const t of TYPES)
          try {
            decodeXml(t, p, ctx);
          } catch (e) {
            allowed(e, input);
          }
    } catch (e) {
      allowed(e, input);
    }
  }
  assert.ok(parsed > 150, `too few mutants parsed (${parsed}): the fuzz is not reaching the decoders`);
});

test('mutated JSON-RPC requests only ever fail with WireFormatError or XenApiError', () => {
  const rnd = prng(0xbeef);
  let parsed = 0;
  for (let i = 0; i < 3000; i++) {
    const input = mutate(Buffer.from(JSON_SEEDS[i % JSON_SEEDS.length]), rnd, JSON_SNIPPETS);
    try {
      const r = parseJsonRpcRequest(input);
      parsed++;
      for (const p of r.params)
        for (const t of TYPES)
          try {
            decodeJson(t, p, ctx);
          } catch (e) {
            allowed(e, input);
          }
    } catch (e) {
      allowed(e, input);
    }
  }
  assert.ok(parsed > 100, `too few mutants parsed (${parsed})`);
});

test('mutated where-expressions only ever fail with XenApiError', () => {
  const rnd = prng(7);
  const seed = Buffer.from(
    'field "is_a_template"="false" and not (field "is_control_domain"="true") or true',
  );
  for (let i = 0; i < 3000; i++) {
    const input = mutate(seed, rnd, ['(', ')', '"', '=', 'not ', ' and ', ' or ', 'field ', 'true']);
    try {
      parseWhere(input.toString('utf8'));
    } catch (e) {
      allowed(e, input);
    }
  }
});
