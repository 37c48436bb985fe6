// Markup and control characters in every place a string can appear on the wire (string values,
// refs, set elements, map keys and values of text and non-text maps, record members, options,
// untyped task results, error descriptions), through both encoders. The XML output is read back by
// Python's xmlrpc.client (expat: an independent parser), the JSON output by JSON.parse. A deliberate
// bug such as "map values left unescaped" must fail here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';
import { jsonEncoder, jsonFailure, jsonSuccess, jsonUntyped } from '../../../src/shared/wire/json-rpc.js';
import {
  escapeXml,
  xmlEncoder,
  xmlFailure,
  xmlListMethods,
  xmlSuccess,
  xmlUntyped,
} from '../../../src/shared/wire/xml-encode.js';
import { ctx, python, T } from './helpers.js';
import { CONTROLS, NASTY } from './nasty-strings.js';

const WITH_CONTROLS = `a${CONTROLS.join('')}b\u007f<c>`;
/** What xapi's XML writer makes of WITH_CONTROLS: controls dropped, DEL kept (it is legal XML). */
const WITH_CONTROLS_XML = 'ab\u007f<c>';

const ALL = [...NASTY, WITH_CONTROLS];
const xmlSeen = (s: string) => (s === WITH_CONTROLS ? WITH_CONTROLS_XML : s);

/** Reads XML-RPC method responses with Python's xmlrpc.client; returns the decoded values. */
function pythonLoads(docs: string[]): unknown[] {
  const program = [
    'import json, sys, xmlrpc.client',
    'out = []',
    'for d in json.load(sys.stdin):',
    '    (v,), _ = xmlrpc.client.loads(d)',
    '    out.append(v)',
    'print(json.dumps(out, default=str))',
  ].join('\n');
  return JSON.parse(python(program, JSON.stringify(docs)));
}

const fmt = (types: Record<string, TypeDesc>) => types;
const TYPES = fmt({
  string: T.string,
  ref: T.ref('VM'),
  enum: T.enum('vm_power_state'),
  stringSet: T.set(T.string),
  refSet: T.set(T.ref('VBD')),
  mapStringString: T.map(T.string, T.string),
  mapStringBool: T.map(T.string, T.bool),
  mapStringSet: T.map(T.string, T.set(T.string)),
  optionString: T.option(T.string),
  setOfMaps: T.set(T.map(T.string, T.string)),
});

/** One value of each shape, with `s` in every string position. */
function valuesWith(s: string): [string, TypeDesc, unknown, unknown][] {
  // [name, type, internal value, expected decoded value (before control-character handling)]
  return [
    ['string', TYPES.string, s, s],
    ['ref', TYPES.ref, s, s],
    ['enum', TYPES.enum, s, s],
    ['stringSet', TYPES.stringSet, [s, 'x', s], [s, 'x', s]],
    ['refSet', TYPES.refSet, [s], [s]],
    ['mapStringString value', TYPES.mapStringString, { k: s }, { k: s }],
    ['mapStringString key', TYPES.mapStringString, { [s || 'e']: 'v' }, { [s || 'e']: 'v' }],
    ['mapStringBool key', TYPES.mapStringBool, { [s || 'e']: true }, { [s || 'e']: true }],
    ['mapStringSet', TYPES.mapStringSet, { [s || 'e']: [s] }, { [s || 'e']: [s] }],
    ['optionString', TYPES.optionString, s, [s]],
    ['setOfMaps', TYPES.setOfMaps, [{ [s || 'e']: s }], [{ [s || 'e']: s }]],
  ];
}

/** Applies XML's control-character dropping to every string (keys too) of a decoded value. */
function xmlView(v: unknown): unknown {
  if (typeof v === 'string') return xmlSeen(v);
  if (Array.isArray(v)) return v.map(xmlView);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [xmlSeen(k), xmlView(x)]));
  return v;
}

test('escapeXml escapes exactly < > & " and drops controls XML 1.0 cannot carry', () => {
  assert.equal(escapeXml('<'), '&lt;');
  assert.equal(escapeXml('>'), '&gt;');
  assert.equal(escapeXml('&'), '&amp;');
  assert.equal(escapeXml('"'), '&quot;');
  assert.equal(escapeXml("'"), "'", 'xapi leaves the apostrophe alone');
  assert.equal(escapeXml('&amp;'), '&amp;amp;', 'no double-unescaping of entities');
  assert.equal(escapeXml('a<b>c&d"e'), 'a&lt;b&gt;c&amp;d&quot;e');
  assert.equal(escapeXml('\t\n\r'), '\t\n\r', 'TAB/LF/CR are legal XML and kept');
  for (const c of CONTROLS) assert.equal(escapeXml(`x${c}y`), 'xy', `U+${c.charCodeAt(0).toString(16)}`);
  assert.equal(escapeXml('\u007f'), '\u007f', 'DEL is legal XML 1.0');
  assert.equal(escapeXml(WITH_CONTROLS), 'ab\u007f&lt;c&gt;');
});

test('XML-RPC: every string position survives a real XML-RPC parser unchanged', () => {
  const cases: [string, string, unknown][] = [];
  for (const s of ALL)
    for (const [name, type, value, expected] of valuesWith(s))
      cases.push([`${name} ${JSON.stringify(s)}`, xmlSuccess(xmlEncoder(type, ctx)(value)), expected]);
  const decoded = pythonLoads(cases.map(([, doc]) => doc));
  cases.forEach(([label, , expected], i) => {
    assert.deepEqual(decoded[i], { Status: 'Success', Value: xmlView(expected) }, label);
  });
});

test('XML-RPC: record members, a record’s map values, untyped results, failures and listMethods', () => {
  // One Python process reads every document (a process per document made this test take 16 s).
  const FIELDS = ['uuid', 'name_label', 'power_state', 'other_config', 'VBDs', 'resident_on'];
  const enc = xmlEncoder(T.record('VM'), ctx);
  const vmOf = (s: string) => ({
    uuid: s,
    name_label: s,
    power_state: s,
    other_config: { [s || 'e']: s, folder: s },
    VBDs: [s],
    resident_on: s,
  });
  const untypedOf = (s: string) => ({ [s || 'e']: [s, { [s || 'e']: s }] });
  const docs = [
    ...ALL.map((s) => xmlSuccess(enc(vmOf(s)))),
    ...ALL.map((s) => xmlSuccess(xmlUntyped(untypedOf(s)))),
    ...ALL.map((s) => xmlFailure(['CODE', s])),
    xmlListMethods(['a<b', 'c&d']),
  ];
  const out = pythonLoads(docs);
  const n = ALL.length;
  for (const [i, s] of ALL.entries()) {
    const rec = out[i] as { Value: Record<string, unknown> };
    // only the string-bearing fields matter here; the others carry defaults
    assert.deepEqual(
      Object.fromEntries(FIELDS.map((k) => [k, rec.Value[k]])),
      xmlView(vmOf(s)),
      `record with ${JSON.stringify(s)}`,
    );
    assert.deepEqual(
      out[n + i],
      { Status: 'Success', Value: xmlView(untypedOf(s)) },
      `untyped ${JSON.stringify(s)}`,
    );
    // failures: Python's binding reads ErrorDescription from the struct
    assert.deepEqual(
      out[2 * n + i],
      { Status: 'Failure', ErrorDescription: ['CODE', xmlSeen(s)] },
      `failure ${JSON.stringify(s)}`,
    );
  }
  assert.deepEqual(out[3 * n], ['a<b', 'c&d']);
});

test('JSON-RPC: every string position round-trips exactly, control characters escaped', () => {
  for (const s of ALL) {
    for (const [name, type, value, expected] of valuesWith(s)) {
      const text = jsonSuccess(2, 1, jsonEncoder(type, ctx)(value));
      assert.doesNotMatch(text, /[\u0000-\u001f\u007f]/, `${name}: raw control character in JSON`);
      // xapi's JSON options are one-element arrays like XML's
      assert.deepEqual(JSON.parse(text).result, expected, `${name} ${JSON.stringify(s)}`);
    }
    const untyped = jsonSuccess(1, 'id', jsonUntyped({ [s || 'e']: [s] }));
    assert.doesNotMatch(untyped, /[\u0000-\u001f\u007f]/);
    assert.deepEqual(JSON.parse(untyped).result, { [s || 'e']: [s] });
    for (const version of [1, 2] as const) {
      const f = jsonFailure(version, 7, ['CODE', s]);
      assert.doesNotMatch(f, /[\u0000-\u001f\u007f]/);
      const parsed = JSON.parse(f);
      assert.deepEqual(version === 1 ? parsed.error : [parsed.error.message, ...parsed.error.data], [
        'CODE',
        s,
      ]);
    }
  }
});

test('JSON-RPC: DEL and C0 controls use yojson’s \\u00XX escapes', () => {
  const text = jsonSuccess(1, 1, jsonEncoder(T.map(T.string, T.string), ctx)({ k: '\u0001\u001f\u007f' }));
  assert.match(text, /"k":"\\u0001\\u001f\\u007f"/);
});
