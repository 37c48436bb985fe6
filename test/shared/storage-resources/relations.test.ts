import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attributes,
  defineResource,
  identifiers,
  relations,
  resources,
} from '../../../src/shared/storage-resources/api/index.js';
import { relationKey, relationValue } from '../../../src/shared/storage-resources/api/relations.js';
import { PluginLoader } from '../../../src/shared/storage-resources/loader.js';

test('relation key and value: attribute values in order, lower-cased strings when ignorecase', () => {
  assert.equal(relationKey('Lun', ['serial']), "Lun_['serial']");
  assert.deepEqual(relationValue({ serial: 'ABC', n: 3 }, ['serial', 'n'], false), ['ABC', 3]);
  assert.deepEqual(relationValue({ serial: 'ABC', n: 3 }, ['serial', 'n'], true), ['abc', 3]);
  assert.deepEqual(relationValue({}, ['serial'], true), [null]);
  // A single name may be given as a string, as in the guide's example.
  assert.deepEqual(relations.Provide(['linux', 'ScsiDevice'], 'serial').attributes, ['serial']);
  assert.equal(relations.Subscribe(['x', 'Y'], ['a'], { ignorecase: true }).ignorecase, true);
});

test('Subscribe and Provide resolved across a plugin: subclasses of the target included', async () => {
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(import.meta.dirname, 'plugins/tmp-'));
  try {
    const file = join(dir, 'presentations.mjs');
    writeFileSync(
      file,
      `import { attributes, defineResource, identifiers, Plugin, relations, resources } from '../../../../../src/shared/storage-resources/api/index.js';
export const version = 1;
export const Lun = defineResource({ name: 'Lun', extends: resources.LogicalDrive, identifier: identifiers.GlobalId('lun_id'),
  attributes: { lun_id: attributes.String() } });
export const BigLun = defineResource({ name: 'BigLun', extends: Lun });
export const Presentation = defineResource({ name: 'Presentation', identifier: identifiers.ScopedId('lun_id', 'path'),
  attributes: { lun_id: attributes.String(), path: attributes.PosixPath() },
  relations: [relations.Subscribe(Lun, ['lun_id'])] });
export const Node = defineResource({ name: 'Node', identifier: identifiers.ScopedId('path'), attributes: { path: attributes.PosixPath() } });
export const NodeWithSerial = defineResource({ name: 'NodeWithSerial', extends: Node, attributes: { lun_id: attributes.String() } });
export const Target = defineResource({ name: 'Target', identifier: identifiers.GlobalId('lun_id'), attributes: { lun_id: attributes.String() },
  relations: [relations.Provide(Node, 'lun_id', { ignorecase: true })] });
export class P extends Plugin { initialScan() {} }
`,
    );
    const loader = new PluginLoader();
    await loader.load(file);
    const infos = loader.describeClasses();
    const of = (n: string) => infos.find((c) => c.plugin === 'presentations' && c.name === n)!.subscribes;
    // (A module namespace lists its exports alphabetically: BigLun before Lun.)
    assert.deepEqual(of('Presentation'), [
      { to: { plugin: 'presentations', name: 'BigLun' }, attributes: ['lun_id'], ignorecase: false },
      { to: { plugin: 'presentations', name: 'Lun' }, attributes: ['lun_id'], ignorecase: false },
    ]);
    // Provide(Node): only the subclass declaring lun_id subscribes; Node itself lacks it.
    assert.deepEqual(of('Node'), []);
    assert.deepEqual(of('NodeWithSerial'), [
      { to: { plugin: 'presentations', name: 'Target' }, attributes: ['lun_id'], ignorecase: true },
    ]);
    assert.deepEqual(of('Target'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('relations are inherited with the attributes', () => {
  const Base = defineResource({
    name: 'Base',
    extends: resources.LogicalDrive,
    identifier: identifiers.GlobalId('serial'),
    attributes: { serial: attributes.String() },
    relations: [relations.Provide(['linux', 'ScsiDevice'], ['serial'])],
  });
  const Child = defineResource({ name: 'Child', extends: Base });
  assert.equal(Child.meta.relations.length, 1);
  assert.equal(Child.meta.relations[0].kind, 'provide');
});
