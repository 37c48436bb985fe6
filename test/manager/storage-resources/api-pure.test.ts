// The storage_resource API's pure parts: name-based identities (RFC 4122 v5, checked against
// Python's uuid module), create_root's text → typed attribute values, xe's tree layout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResourceIdentities, uuidV5 } from '../../../src/manager/api/storage-resource/ids.js';
import { rootAttributes } from '../../../src/manager/api/storage-resource/root-attributes.js';
import { treeLines } from '../../../src/manager/cli/commands/storage-resources.js';
import * as attributes from '../../../src/shared/storage-resources/api/attributes.js';
import { ScannableResource } from '../../../src/shared/storage-resources/api/builtin-resources.js';
import { GlobalId } from '../../../src/shared/storage-resources/api/identifiers.js';
import { defineResource } from '../../../src/shared/storage-resources/api/resource.js';

test('uuidV5 is RFC 4122 version 5 (values from Python uuid.uuid5)', () => {
  assert.equal(
    uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'),
    '2ed6657d-e927-568b-95e1-2665a8aea6a2',
  );
  assert.equal(
    uuidV5('12345678-1234-5678-1234-567812345678', 'storage_resource/1'),
    '9c60e274-186c-541e-ab0e-a9a46848a6c1',
  );
  assert.throws(() => uuidV5('nope', 'x'), /not a uuid/);
});

test('identities: stable, distinct per pool, a deleted record resolves to nothing', () => {
  let live = [1, 2, 3];
  const a = new ResourceIdentities('12345678-1234-5678-1234-567812345678', () => live);
  const b = new ResourceIdentities('87654321-1234-5678-1234-567812345678', () => live);
  assert.equal(a.uuidOf(1), '9c60e274-186c-541e-ab0e-a9a46848a6c1');
  assert.notEqual(a.uuidOf(1), b.uuidOf(1));
  assert.notEqual(a.refOf(1), `OpaqueRef:${a.uuidOf(1)}`);
  // Looked up cold (nothing computed yet for 3): found from the live ids.
  const fresh = new ResourceIdentities('12345678-1234-5678-1234-567812345678', () => live);
  assert.equal(fresh.idOfRef(a.refOf(3)), 3);
  assert.equal(fresh.idOfUuid(a.uuidOf(2).toUpperCase()), 2);
  live = [1, 2];
  assert.equal(fresh.idOfRef(a.refOf(3)), undefined);
  assert.equal(fresh.idOfRef('OpaqueRef:nope'), undefined);
});

const Box = defineResource({
  name: 'Box',
  extends: ScannableResource,
  identifier: GlobalId('address'),
  attributes: {
    address: attributes.Hostname(),
    port: attributes.Integer({ minVal: 1, maxVal: 65535, optional: true }),
    secure: attributes.Boolean({ optional: true }),
    slot: attributes.Enum([0, 1], { optional: true }),
  },
});

test('root attributes: text cast to each type, then the class validates with its messages', () => {
  assert.deepEqual(rootAttributes(Box, { address: 'box.example', port: '443', secure: 'true', slot: '1' }), {
    address: 'box.example',
    port: 443,
    secure: true,
    slot: 1,
  });
  assert.throws(() => rootAttributes(Box, { address: 'box.example', port: 'x' }), {
    message: "port: invalid literal for int() with base 10: 'x'",
  });
  assert.throws(() => rootAttributes(Box, { address: 'box.example', port: '0' }), {
    message: 'port: Value 0 too low (min 1)',
  });
  assert.throws(() => rootAttributes(Box, { address: 'box.example', secure: 'maybe' }), {
    message: "secure: Value 'maybe' is not a boolean (true or false)",
  });
  assert.throws(() => rootAttributes(Box, { address: 'box.example', slot: '2' }), {
    message: "slot: Value '2' is not one of (0, 1)",
  });
  assert.throws(() => rootAttributes(Box, {}), { message: 'Missing mandatory attribute address' });
});

test('tree: children under parents, a resource met again shown once with ^', () => {
  const rec = (uuid: string, parents: string[], children: string[], alerts: string[] = []) => ({
    ref: `r-${uuid}`,
    r: {
      uuid,
      class_name: `p.${uuid[0].toUpperCase()}`,
      class_label: '',
      label: uuid,
      alias: '',
      root: 'root',
      reported_by: [],
      attributes: {},
      parents: parents.map((p) => `r-${p}`),
      children: children.map((c) => `r-${c}`),
      alerts,
    },
  });
  const lines = treeLines([
    rec('a', [], ['e']),
    rec('f', [], ['e'], ['Fan slow']),
    rec('e', ['a', 'f'], ['d']),
    rec('d', ['e'], []),
  ]);
  assert.deepEqual(lines, [
    'a [p.A] a',
    '  e [p.E] e',
    '    d [p.D] d',
    'f [p.F] f ! 1 alert(s)',
    '  ^ e [p.E] e',
  ]);
});
