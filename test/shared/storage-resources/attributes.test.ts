import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as attributes from '../../../src/shared/storage-resources/api/attributes.js';
import { defaultLabel, sizeofFmt } from '../../../src/shared/storage-resources/api/attributes.js';
import { defineResource } from '../../../src/shared/storage-resources/api/resource.js';
import { GlobalId } from '../../../src/shared/storage-resources/api/identifiers.js';

const rejects = (attr: { validate(v: unknown): void }, value: unknown, message: string) =>
  assert.throws(() => attr.validate(value), { message });

test('String: max_length', () => {
  const s = attributes.String({ maxLength: 4 });
  s.validate('abcd');
  rejects(s, 'abcde', "Value 'abcde' too long (max 4)");
  attributes.String().validate('x'.repeat(10_000));
  assert.throws(() => attributes.String({ maxLength: 1.5 }));
  rejects(s, 5, 'Value 5 is not a string');
});

test('Integer and Bytes: inclusive bounds, cast', () => {
  const i = attributes.Integer({ minVal: 10, maxVal: 20 });
  i.validate(10);
  i.validate(20);
  rejects(i, 5, 'Value 5 too low (min 10)');
  rejects(i, 22, 'Value 22 too high (max 20)');
  rejects(i, 1.5, 'Value 1.5 is not an integer');
  assert.equal(i.cast('1'), 1);
  const b = attributes.Bytes({ minVal: 0 });
  rejects(b, -1, 'Value -1 too low (min 0)');
  assert.equal(b.toMarkup(1024), '1.0KB');
  assert.equal(b.humanReadable(0), '0.0bytes');
  assert.equal(sizeofFmt(1024 ** 4), '1.0TB');
  // The original's unit list has no PB: 1024 TB reads as EB.
  assert.equal(sizeofFmt(1024 ** 5), '1.0EB');
});

test('Enum: options, messages as a Python tuple', () => {
  const e = attributes.Enum(['good', 'bad', 'ugly']);
  e.validate('good');
  rejects(e, 'other', "Value 'other' is not one of ('good', 'bad', 'ugly')");
  rejects(e, null, "Value 'None' is not one of ('good', 'bad', 'ugly')");
  rejects(e, '', "Value '' is not one of ('good', 'bad', 'ugly')");
  rejects(attributes.Enum([0, 1]), 2, "Value '2' is not one of (0, 1)");
  rejects(attributes.Enum(['a']), 'b', "Value 'b' is not one of ('a',)");
  assert.throws(() => attributes.Enum([]));
  assert.deepEqual(attributes.Enum([0, 1]).info('index').options, ['0', '1']);
});

test('Uuid: any hyphenation, 32 characters left', () => {
  const u = attributes.Uuid();
  u.validate('b44f7d8e-a40d-4b96-b241-2ab462b4c1c1');
  u.validate('b44f7d8ea40d4b96b2412ab462b4c1c1');
  u.validate('b44f-7d8ea40d4b96b2412ab462b4c1c1---');
  rejects(u, 'other', 'other is not a valid UUID');
});

test('Hostname: labels and length', () => {
  const h = attributes.Hostname();
  for (const ok of ['whamcloud.com', '127.0.0.1', 'my-laptop']) h.validate(ok);
  for (const bad of ['whamcloud.-com', 'my_laptop', `${'a'.repeat(64)}.com`]) {
    rejects(h, bad, `${bad} is an invalid hostname`);
  }
  const long = 'x.'.repeat(128);
  rejects(h, long, `${long} is too long to be a hostname`);
});

test('Boolean is stored as true/false; PosixPath takes any string; Password needs encrypt_fn', () => {
  const R = defineResource({
    name: 'R',
    identifier: GlobalId('p'),
    attributes: {
      p: attributes.PosixPath(),
      b: attributes.Boolean(),
      pw: attributes.Password({ encryptFn: (s) => s.split('').reverse().join('') }),
    },
  });
  const r = new R({ p: 'any thing/..', b: 1 as unknown as boolean, pw: 'x' });
  assert.equal(r.b, true);
  assert.equal(R.meta.attributes.pw.encrypt('abc'), 'cba');
  assert.throws(() => attributes.Password({} as never), {
    message: 'Password requires a callable encrypt_fn',
  });
});

test('ResourceReference: None only if optional, only resources', () => {
  const mandatory = attributes.ResourceReference();
  rejects(mandatory, null, 'ResourceReference set to None but not optional');
  rejects(mandatory, 'x', 'Cannot take ResourceReference to x');
  attributes.ResourceReference({ optional: true }).validate(null);
});

test('default labels and options', () => {
  assert.equal(defaultLabel('my_attribute'), 'My attribute');
  assert.equal(defaultLabel('file_size'), 'File size');
  assert.equal(defaultLabel('serial'), 'Serial');
  assert.equal(defaultLabel('wwn_ID_x'), 'Wwn ID x');
  const a = attributes.String({ label: 'Fancy name', hidden: true, userReadOnly: true, optional: true });
  assert.deepEqual(a.info('my_internal_name'), {
    type: 'String',
    optional: true,
    label: 'Fancy name',
    hidden: true,
    userReadOnly: true,
  });
  assert.equal(attributes.String().toMarkup('<b>'), '&lt;b&gt;');
});
