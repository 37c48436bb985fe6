// What TypeScript rejects at compile time (each @ts-expect-error must be an error, or `tsc` fails),
// and that the same mistakes in plain JavaScript fail at runtime with the original's messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alertConditions,
  attributes,
  defineResource,
  identifiers,
  Plugin,
  type Resource,
} from '../../../src/shared/storage-resources/api/index.js';

const Disk = defineResource({
  name: 'Disk',
  identifier: identifiers.GlobalId('serial'),
  attributes: {
    serial: attributes.String(),
    size: attributes.Bytes(),
    status: attributes.Enum(['OK', 'FAILED']),
    note: attributes.String({ optional: true }),
  },
});

test('identifiers and alert conditions may only name declared attributes', () => {
  assert.throws(
    () =>
      new (defineResource({
        name: 'X',
        // @ts-expect-error: 'serail' is not an attribute
        identifier: identifiers.GlobalId('serail'),
        attributes: { serial: attributes.String() },
      }))({ serial: 'a' }).idTuple(),
    { message: 'Invalid attribute serail named in identifier for X' },
  );
  assert.throws(
    () =>
      defineResource({
        name: 'Y',
        identifier: identifiers.GlobalId('serial'),
        attributes: { serial: attributes.String() },
        // @ts-expect-error: 'state' is not an attribute
        alertConditions: [alertConditions.ValueCondition('state', { errorStates: ['FAILED'] })],
      }),
    { message: "Resource class 'Y': alert condition on unknown attribute 'state'" },
  );
});

test('constructors and updateOrCreate take exactly the declared attributes, typed', () => {
  // @ts-expect-error: size is mandatory
  assert.throws(() => new Disk({ serial: 'a', status: 'OK' }).validate(), {
    message: 'Missing mandatory attribute size',
  });
  // @ts-expect-error: 'BROKEN' is not one of the Enum's options
  assert.throws(() => new Disk({ serial: 'a', size: 1, status: 'BROKEN' }), {
    message: "Value 'BROKEN' is not one of ('OK', 'FAILED')",
  });
  // @ts-expect-error: size is a number
  assert.throws(() => new Disk({ serial: 'a', size: '1', status: 'OK' }), {
    message: "Value '1' is not an integer",
  });
  const d = new Disk({ serial: 'a', size: 1, status: 'OK' });
  const note: string | null = d.note; // optional: may be null
  const serial: string = d.serial; // mandatory: never null
  assert.deepEqual([note, serial], [null, 'a']);
  class P extends Plugin {
    override initialScan(_root: Resource) {
      // @ts-expect-error: unknown attribute
      this.updateOrCreate(Disk, { serial: 'b', size: 1, status: 'OK', colour: 'red' });
    }
  }
  assert.equal(typeof P, 'function');
});
