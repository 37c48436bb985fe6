import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/shared/errors.js';
import { datetimeOfString, decodeJson, decodeXml } from '../../../src/shared/wire/decode.js';
import { parseMethodCall } from '../../../src/shared/wire/xml-parse.js';
import { ctx, T } from './helpers.js';

const xmlParam = (value: string) =>
  parseMethodCall(
    Buffer.from(
      `<methodCall><methodName>m</methodName><params><param>${value}</param></params></methodCall>`,
    ),
  ).params[0];
const fromXml = (type: Parameters<typeof decodeXml>[0], value: string) =>
  decodeXml(type, xmlParam(value), ctx);
const fromJson = (type: Parameters<typeof decodeJson>[0], v: unknown) => decodeJson(type, v, ctx);
const internal = (text: string) => (e: unknown) =>
  e instanceof XenApiError && e.code === 'INTERNAL_ERROR' && e.params[0] === text;

test('int64 accepts <int> or a decimal string; floats accept double, int or string', () => {
  assert.equal(fromXml(T.int, '<value><int>5</int></value>'), 5);
  assert.equal(fromXml(T.int, '<value>8589934592</value>'), 8589934592);
  assert.equal(fromXml(T.int, '<value><i8>-3</i8></value>'), -3);
  assert.equal(fromJson(T.int, 7), 7);
  assert.equal(fromJson(T.int, '7'), 7);
  assert.equal(fromXml(T.float, '<value><double>60.1</double></value>'), 60.1);
  assert.equal(fromXml(T.float, '<value><int>2</int></value>'), 2);
  assert.equal(fromXml(T.float, '<value>0.5</value>'), 0.5);
  assert.equal(fromJson(T.float, 60.1), 60.1);
  assert.equal(fromJson(T.float, '1e3'), 1000);
  assert.equal(fromJson(T.float, 'inf'), Number.POSITIVE_INFINITY);
  assert.equal(fromJson(T.int32, 12), 12);
});

test('type mismatches are INTERNAL_ERROR with xapi-like texts', () => {
  assert.throws(
    () => fromXml(T.string, '<value><int>5</int></value>'),
    internal(`Failure("Expected string, got 'I(5)'")`),
  );
  assert.throws(() => fromXml(T.int, '<value>abc</value>'), internal('Failure("Int64.of_string")'));
  assert.throws(
    () => fromXml(T.int, '<value><boolean>1</boolean></value>'),
    internal(`Failure("Expected int64, got 'B(true)'")`),
  );
  assert.throws(
    () => fromXml(T.bool, '<value>true</value>'),
    internal(`Failure("Expected bool, got 'S(true)'")`),
  );
  assert.throws(() => fromJson(T.bool, 'true'), internal(`Failure("Expected bool, got 'S(true)'")`));
  assert.throws(() => fromJson(T.bool, 1), internal(`Failure("Expected bool, got 'I(1)'")`));
  assert.throws(() => fromJson(T.string, null), internal(`Failure("Expected string, got 'N'")`));
  assert.throws(() => fromJson(T.int, 1.5), internal(`Failure("Expected int64, got 'F(1.5)'")`));
  assert.throws(() => fromJson(T.int, 2 ** 60), /out of supported range/);
  assert.throws(() => fromJson(T.int32, 2 ** 31), internal('Failure("Int32.of_string")'));
  assert.throws(() => fromJson(T.float, 'x'), internal('Failure("float_of_string")'));
  assert.throws(() => fromJson(T.float, true), internal(`Failure("Expected float, got 'B(true)'")`));
  assert.throws(() => fromJson(T.set(T.string), 'a'), internal(`Failure("Expected Enum, got 'S(a)'")`));
  assert.throws(
    () => fromJson(T.map(T.string, T.string), ['a']),
    internal(`Failure("Expected Dict, got '[S(a)]'")`),
  );
  assert.throws(
    () => fromXml(T.set(T.string), '<value><array><data><value><i4>1</i4></value></data></array></value>'),
    /Expected string, got 'I\(1\)'/,
  );
});

test('bools are "1" only; anything else in <boolean> is false, as xapi', () => {
  assert.equal(fromXml(T.bool, '<value><boolean>1</boolean></value>'), true);
  assert.equal(fromXml(T.bool, '<value><boolean>0</boolean></value>'), false);
  assert.equal(fromXml(T.bool, '<value><boolean>true</boolean></value>'), false);
  assert.equal(fromJson(T.bool, false), false);
});

test('enums match case-insensitively and come back in datamodel spelling', () => {
  assert.equal(fromXml(T.enum('vm_power_state'), '<value>running</value>'), 'Running');
  assert.equal(fromJson(T.enum('bond_mode'), 'BALANCE-SLB'), 'balance-slb');
  assert.throws(
    () => fromJson(T.enum('vm_power_state'), 'sleeping'),
    internal(`Failure("Unknown value 'sleeping' for enum vm_power_state")`),
  );
  assert.deepEqual(fromJson(T.map(T.enum('vm_power_state'), T.int), { halted: '1' }), { Halted: 1 });
});

test('datetimes: xapi form, ISO 8601 with dashes, fractions and zones, all normalised to UTC', () => {
  assert.equal(
    fromXml(T.datetime, '<value><dateTime.iso8601>20240131T23:05:09Z</dateTime.iso8601></value>'),
    '20240131T23:05:09Z',
  );
  assert.equal(
    fromXml(T.datetime, '<value><dateTime.iso8601>20240131T23:05:09</dateTime.iso8601></value>'),
    '20240131T23:05:09Z',
  );
  assert.equal(fromJson(T.datetime, '2024-01-01T00:00:00.000Z'), '20240101T00:00:00Z');
  assert.equal(datetimeOfString('2024-01-01T01:30:00+02:00'), '20231231T23:30:00Z');
  assert.throws(() => datetimeOfString('2024-02-30T00:00:00Z'), /Invalid ISO 8601/);
  assert.throws(() => fromJson(T.datetime, 'yesterday'), /Invalid ISO 8601/);
  assert.throws(() => fromXml(T.datetime, '<value><int>1</int></value>'), /Expected DateTime/);
});

test('records decode present keys by field type and ignore unknown keys', () => {
  const xml =
    '<value><struct><member><name>name_label</name><value>web</value></member><member><name>memory_static_max</name><value>1024</value></member>' +
    '<member><name>power_state</name><value>halted</value></member><member><name>bogus</name><value><i4>1</i4></value></member>' +
    '<member><name>other_config</name><value><struct><member><name>__proto__</name><value>x</value></member></struct></value></member></struct></value>';
  const r = fromXml(T.record('VM'), xml) as Record<string, unknown>;
  assert.deepEqual(Object.keys(r), ['name_label', 'power_state', 'memory_static_max', 'other_config']); // layout order
  assert.equal(r.memory_static_max, 1024);
  assert.equal(r.power_state, 'Halted');
  const oc = r.other_config as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(oc), Object.prototype); // the key did not replace the prototype
  assert.deepEqual(Object.keys(oc), ['__proto__']);
  assert.deepEqual(fromJson(T.record('VM'), { is_a_template: true, VBDs: ['OpaqueRef:a'], extra: 1 }), {
    is_a_template: true,
    VBDs: ['OpaqueRef:a'],
  });
  assert.throws(() => fromJson(T.record('VM'), { is_a_template: 'yes' }), /Expected bool/);
});

test('options and void', () => {
  assert.equal(fromXml(T.option(T.string), '<value><nil/></value>'), undefined);
  assert.equal(
    fromXml(T.option(T.string), '<value><array><data><value>x</value></data></array></value>'),
    'x',
  );
  assert.equal(fromXml(T.option(T.string), '<value>x</value>'), 'x');
  assert.equal(fromJson(T.option(T.int), null), undefined);
  assert.equal(fromJson(T.option(T.int), []), undefined);
  assert.equal(fromJson(T.option(T.int), 3), 3);
  assert.equal(fromJson(T.void, 'anything'), undefined);
});
