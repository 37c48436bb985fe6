// Both encoders given missing or loosely typed internal values (a column added after a row was
// written, a number stored as text): each type gets its zero value in xapi's wire form, never
// "undefined", "null" or "NaN" on the wire. Written for mutants that survived in docs/testing.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonEncoder, jsonUntyped } from '../../../src/shared/wire/json-rpc.js';
import { xmlEncoder, xmlUntyped } from '../../../src/shared/wire/xml-encode.js';
import { ctx, T } from './helpers.js';

const NULL = 'OpaqueRef:NULL';
const x = (t: Parameters<typeof xmlEncoder>[0], v: unknown) => xmlEncoder(t, ctx)(v);
const j = (t: Parameters<typeof jsonEncoder>[0], v: unknown) => jsonEncoder(t, ctx)(v);

test('missing scalars encode as their zero values', () => {
  for (const v of [undefined, null]) {
    assert.equal(x(T.string, v), '<value></value>');
    assert.equal(j(T.string, v), '""');
    assert.equal(x(T.ref('VM'), v), `<value>${NULL}</value>`);
    assert.equal(j(T.ref('VM'), v), `"${NULL}"`);
    assert.equal(x(T.int, v), '<value>0</value>');
    assert.equal(j(T.int, v), '0');
    assert.equal(x(T.int32, v), '<value><i4>0</i4></value>');
    assert.equal(x(T.float, v), '<value><double>0</double></value>');
    assert.equal(j(T.float, v), '0.0');
    assert.equal(x(T.bool, v), '<value><boolean>0</boolean></value>');
    assert.equal(j(T.bool, v), 'false');
    assert.equal(x(T.datetime, v), '<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>');
    assert.equal(j(T.datetime, v), '"19700101T00:00:00Z"');
    assert.equal(x(T.set(T.string), v), '<value><array><data></data></array></value>');
    assert.equal(j(T.set(T.string), v), '[]');
    assert.equal(x(T.set(T.int), v), '<value><array><data></data></array></value>');
    assert.equal(j(T.set(T.int), v), '[]');
    assert.equal(x(T.map(T.string, T.string), v), '<value><struct></struct></value>');
    assert.equal(j(T.map(T.string, T.string), v), '{}');
    assert.equal(x(T.map(T.string, T.int), v), '<value><struct></struct></value>');
    assert.equal(j(T.map(T.string, T.int), v), '{}');
    assert.equal(x(T.option(T.string), v), '<value><array><data></data></array></value>');
    assert.equal(j(T.option(T.string), v), '[]');
  }
});

test('loosely typed values are converted, not passed through', () => {
  assert.equal(x(T.int, '42'), '<value>42</value>');
  assert.equal(j(T.int, '42'), '42');
  assert.equal(x(T.int, '4.7'), '<value>4</value>');
  assert.equal(j(T.int, 'junk'), '0');
  assert.equal(x(T.int, 'junk'), '<value>0</value>');
  assert.equal(x(T.float, '1.5'), '<value><double>1.5</double></value>');
  assert.equal(j(T.float, '1.5'), '1.5');
  assert.equal(x(T.string, 12), '<value>12</value>');
  assert.equal(j(T.string, 12), '"12"');
  assert.equal(x(T.string, 'a<b'), '<value>a&lt;b</value>');
  assert.equal(
    x(T.set(T.string), [undefined, 3]),
    '<value><array><data><value></value><value>3</value></data></array></value>',
  );
  assert.equal(x(T.set(T.int), ['7']), '<value><array><data><value>7</value></data></array></value>');
  assert.equal(x(T.set(T.int), 'notalist'), '<value><array><data></data></array></value>');
  assert.equal(j(T.set(T.string), 'notalist'), '[]');
  assert.equal(x(T.map(T.string, T.string), 'notamap'), '<value><struct></struct></value>');
  assert.equal(j(T.map(T.string, T.int), 'notamap'), '{}');
  assert.equal(j(T.map(T.string, T.int), { a: 1, b: 2 }), '{"a":1,"b":2}');
  assert.equal(
    x(T.map(T.string, T.string), { a: null }),
    '<value><struct><member><name>a</name><value></value></member></struct></value>',
  );
  assert.equal(x(T.option(T.int), 5), '<value><array><data><value>5</value></data></array></value>');
  assert.equal(j(T.option(T.int), 5), '[5]');
  assert.equal(
    x(T.record('VM_metrics'), undefined),
    '<value><struct><member><name>uuid</name><value></value></member><member><name>progress</name><value><double>0</double></value></member></struct></value>',
  );
  assert.equal(j(T.record('VM_metrics'), undefined), '{"uuid":"","progress":0.0}');
});

test('untyped values (task results): null, bigint, Date, nested', () => {
  assert.equal(xmlUntyped(null), '<value></value>');
  assert.equal(jsonUntyped(null), '""');
  assert.equal(xmlUntyped(2n ** 70n), `<value>${2n ** 70n}</value>`);
  assert.equal(xmlUntyped(true), '<value><boolean>1</boolean></value>');
  assert.equal(jsonUntyped(false), 'false');
  assert.equal(xmlUntyped(3), '<value>3</value>');
  assert.equal(xmlUntyped(1.5), '<value><double>1.5</double></value>');
  assert.equal(
    xmlUntyped(new Date(0)),
    '<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>',
  );
  assert.equal(jsonUntyped(new Date(0)), '"1970-01-01T00:00:00.000Z"');
  assert.equal(
    xmlUntyped({ a: [1, 'b'] }),
    '<value><struct><member><name>a</name><value><array><data><value>1</value><value>b</value></data></array></value></member></struct></value>',
  );
  assert.equal(jsonUntyped({ a: [1, 'b'], c: {} }), '{"a":[1,"b"],"c":{}}');
});
