// The plugin session's identity index (api/identity-index.ts): what the earlier JSON string key
// made equal is equal (class name, primitive values, the same referenced object), what it told
// apart stays apart, and removal leaves nothing behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attributes,
  defineResource,
  identifiers,
  type Resource,
} from '../../../src/shared/storage-resources/api/index.js';
import { IdentityIndex, identityPlan } from '../../../src/shared/storage-resources/api/identity-index.js';

const Shelf = defineResource({
  name: 'Shelf',
  identifier: identifiers.ScopedId('n'),
  attributes: { n: attributes.Integer() },
});
const Slot = defineResource({
  name: 'Slot',
  identifier: identifiers.ScopedId('shelf', 'n', 'front'),
  attributes: {
    shelf: attributes.ResourceReference(),
    n: attributes.Integer(),
    front: attributes.Boolean(),
    tag: attributes.String({ optional: true }),
  },
});
const Tagged = defineResource({
  name: 'Tagged',
  identifier: identifiers.GlobalId('tag'),
  attributes: { tag: attributes.String({ optional: true }) },
});

test('single and composite identifiers; references by object; Booleans coerced; 1 is not "1"', () => {
  const index = new IdentityIndex();
  const shelfPlan = identityPlan(Shelf);
  const slotPlan = identityPlan(Slot);
  assert.equal(identityPlan(Shelf), shelfPlan, 'one plan per class');
  const s0 = new Shelf({ n: 0 });
  const s1 = new Shelf({ n: 1 });
  index.add(shelfPlan, index.tupleOf(shelfPlan, { n: 0 }), s0);
  index.add(shelfPlan, index.tupleOf(shelfPlan, { n: 1 }), s1);
  const slot = new Slot({ shelf: s0, n: 3, front: true });
  index.add(slotPlan, index.tupleOf(slotPlan, { shelf: s0, n: 3, front: true }), slot);

  assert.equal(index.find(shelfPlan, { n: 1 }), s1);
  assert.equal(index.find(shelfPlan, { n: '1' } as never), undefined);
  assert.equal(index.find(slotPlan, { shelf: s0, n: 3, front: 1 } as never), slot);
  assert.equal(index.find(slotPlan, { shelf: s1, n: 3, front: true }), undefined);
  assert.equal(index.find(slotPlan, { shelf: new Shelf({ n: 0 }), n: 3, front: true }), undefined);
  assert.throws(
    () => index.find(slotPlan, { shelf: s0, n: 3 } as never),
    /^Error: Missing ID attribute 'front'$/,
  );
  assert.throws(
    () => index.add(shelfPlan, [0], new Shelf({ n: 0 })),
    /^Error: Duplicate resource added to index$/,
  );
  assert.deepEqual([...index.values()], [s0, s1, slot]);
});

test('an optional identifier value missing is null; delete forgets and re-adding goes last', () => {
  const index = new IdentityIndex();
  const plan = identityPlan(Tagged);
  const none = new Tagged({});
  const a = new Tagged({ tag: 'a' });
  index.add(plan, index.tupleOf(plan, {}), none);
  index.add(plan, index.tupleOf(plan, { tag: 'a' }), a);
  assert.equal(index.find(plan, { tag: null }), none);
  assert.equal(index.has(none), true);
  assert.equal(index.delete(none), true);
  assert.equal(index.delete(none), false);
  assert.equal(index.find(plan, {}), undefined);
  index.add(plan, [null], none);
  assert.deepEqual([...index.values()], [a, none] as Resource[]);
});

test('composite identities: deleting one keeps its siblings; the emptied class takes new ones again', () => {
  const index = new IdentityIndex();
  const shelfPlan = identityPlan(Shelf);
  const slotPlan = identityPlan(Slot);
  const s0 = new Shelf({ n: 0 });
  index.add(shelfPlan, [0], s0);
  const slots = [1, 2].map((n) => {
    const r = new Slot({ shelf: s0, n, front: false });
    index.add(slotPlan, index.tupleOf(slotPlan, { shelf: s0, n, front: false }), r);
    return r;
  });
  index.delete(slots[0]);
  assert.equal(index.find(slotPlan, { shelf: s0, n: 2, front: false }), slots[1]);
  index.delete(slots[1]);
  assert.equal(index.find(slotPlan, { shelf: s0, n: 2, front: false }), undefined);
  index.add(slotPlan, [s0, 1, false], slots[0]);
  assert.equal(index.find(slotPlan, { shelf: s0, n: 1, front: false }), slots[0]);
  assert.deepEqual([...index.values()], [s0, slots[0]] as Resource[]);
});

test('two classes of one name: apart with different identifier lengths, one key space with equal ones', () => {
  const index = new IdentityIndex();
  const One = defineResource({
    name: 'Disk',
    identifier: identifiers.GlobalId('serial'),
    attributes: { serial: attributes.String() },
  });
  const Two = defineResource({
    name: 'Disk',
    identifier: identifiers.GlobalId('serial', 'lun'),
    attributes: { serial: attributes.String(), lun: attributes.Integer() },
  });
  const Again = defineResource({
    name: 'Disk',
    identifier: identifiers.GlobalId('wwn'),
    attributes: { wwn: attributes.String() },
  });
  const one = new One({ serial: 'S' });
  const two = new Two({ serial: 'S', lun: 0 });
  index.add(identityPlan(One), ['S'], one);
  index.add(identityPlan(Two), ['S', 0], two);
  assert.equal(index.find(identityPlan(One), { serial: 'S' }), one);
  assert.equal(index.find(identityPlan(Two), { serial: 'S', lun: 0 }), two);
  // As with the former `<name>\0<JSON tuple>` key: same name, same values → the same identity.
  assert.equal(index.find(identityPlan(Again), { wwn: 'S' }), one);
});
