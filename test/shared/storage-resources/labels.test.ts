// A resource's own label (getLabel() overridden, IML's get_label) travels with its report and,
// when it changes, with its update; classes keeping the default label send none (the store
// computes `<class label> <id>` itself).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attributes,
  defineResource,
  identifiers,
  Plugin,
  type Resource,
  resources,
} from '../../../src/shared/storage-resources/api/index.js';
import { hasOwnLabel, setClassPlugin } from '../../../src/shared/storage-resources/api/resource.js';
import { RecordingSink, type SinkCall } from '../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../src/shared/storage-resources/session.js';

const Box = defineResource({
  name: 'Box',
  extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('address'),
  attributes: { address: attributes.Hostname() },
});
/** Default label: `Shelf <n>`. */
const Shelf = defineResource({
  name: 'Shelf',
  identifier: identifiers.ScopedId('n'),
  attributes: { n: attributes.Integer() },
});
/** Its label is its name attribute, which the array may rename. */
class Lun extends defineResource({
  name: 'Lun',
  extends: resources.LogicalDrive,
  identifier: identifiers.ScopedId('local_id'),
  attributes: { local_id: attributes.Integer(), name: attributes.String() },
}) {
  override getLabel(): string {
    return this.name;
  }
}
/** A subclass inherits its base's own label. */
class ThinLun extends Lun {}
/** IML's RaidPool returns an int (`return self.local_id`): shown as Python's str(). */
class Pool extends defineResource({
  name: 'Pool',
  identifier: identifiers.ScopedId('local_id'),
  attributes: { local_id: attributes.Integer() },
}) {
  override getLabel(): string {
    return this.local_id as unknown as string;
  }
}
/** A label that depends on the parent: re-evaluated even when the resource's attributes stay. */
class Slot extends defineResource({
  name: 'Slot',
  identifier: identifiers.ScopedId('n'),
  attributes: { n: attributes.Integer() },
}) {
  override getLabel(): string {
    const shelf = this.getParents()[0] as InstanceType<typeof Shelf> | undefined;
    if (!shelf) throw new Error('no shelf yet');
    return `shelf ${shelf.n} slot ${this.n}`;
  }
}
/** A label read from the resource it references: changes with that resource, not with itself. */
const Group = defineResource({
  name: 'Group',
  identifier: identifiers.ScopedId('gid'),
  attributes: { gid: attributes.Integer(), title: attributes.String() },
});
class Member extends defineResource({
  name: 'Member',
  identifier: identifiers.ScopedId('group', 'n'),
  attributes: { group: attributes.ResourceReference(), n: attributes.Integer() },
}) {
  override getLabel(): string {
    return `${(this.group as InstanceType<typeof Group>).title}#${this.n}`;
  }
}
for (const c of [Box, Shelf, Lun, ThinLun, Pool, Slot, Group, Member]) setClassPlugin(c, 'labels');

class LabelPlugin extends Plugin {
  step: (p: LabelPlugin, root: Resource) => void = () => {};
  override initialScan(root: Resource) {
    this.step(this, root);
  }
  override updateScan(root: Resource) {
    this.step(this, root);
  }
}

function setup() {
  const sink = new RecordingSink();
  const plugin = new LabelPlugin({
    sink,
    root: 'root-l',
    rootResource: new Box({ address: 'box1' }),
    classes: [],
    pluginName: 'labels',
  });
  return { sink, plugin };
}

const updates = (calls: SinkCall[]) => calls.filter((c) => c[0] === 'sessionUpdateResource');

test('hasOwnLabel: an override (or an inherited one) counts, the default does not', () => {
  assert.equal(hasOwnLabel(new Shelf({ n: 1 })), false);
  assert.equal(hasOwnLabel(new Box({ address: 'b' })), false);
  assert.equal(hasOwnLabel(new Lun({ local_id: 1, name: 'a', size: 1 })), true);
  assert.equal(hasOwnLabel(new ThinLun({ local_id: 1, name: 'a', size: 1 })), true);
});

test('the initial report carries own labels (strings, Python str() of others) and no default ones', async () => {
  const { sink, plugin } = setup();
  plugin.step = (p, root) => {
    p.updateOrCreate(Shelf, { n: 0 }, [root]);
    p.updateOrCreate(Lun, { local_id: 7, name: 'lun-seven', size: 1 << 20 } as never, [root]);
    p.updateOrCreate(ThinLun, { local_id: 8, name: 'thin', size: 1 << 20 } as never, [root]);
    p.updateOrCreate(Pool, { local_id: 1 }, [root]);
  };
  await plugin.doInitialScan();
  const open = sink.calls[0] as ['sessionOpen', string, unknown, ReportedResource[], number];
  assert.equal(open[0], 'sessionOpen');
  // Root, shelf, LUN, thin LUN (a subclass of the defined class: class Lun), pool.
  assert.deepEqual(
    open[3].map((r) => [r.class, 'label' in r ? r.label : 'none']),
    [
      ['labels.Box', 'none'],
      ['labels.Shelf', 'none'],
      ['labels.Lun', 'lun-seven'],
      ['labels.Lun', 'thin'],
      ['labels.Pool', '1'],
    ],
  );
});

test('a label is re-evaluated every commit and sent only when it changed, with the changes that made it', async () => {
  const { sink, plugin } = setup();
  let lunName = 'lun-seven';
  let shelfOfSlot = 0;
  plugin.step = (p, root) => {
    const shelves = [0, 1].map((n) => p.updateOrCreate(Shelf, { n }, [root]).resource);
    p.updateOrCreate(Lun, { local_id: 7, name: lunName, size: 1 << 20 } as never, [root]);
    const { resource: slot } = p.updateOrCreate(Slot, { n: 3 });
    for (const s of shelves) if (s !== shelves[shelfOfSlot]) slot.removeParent(s);
    slot.addParent(shelves[shelfOfSlot]);
  };
  await plugin.doInitialScan();
  const open = sink.calls[0] as ['sessionOpen', string, unknown, ReportedResource[], number];
  const lun = open[3].find((r) => r.class === 'labels.Lun')!;
  const slot = open[3].find((r) => r.class === 'labels.Slot')!;
  assert.equal(slot.label, 'shelf 0 slot 3');

  // Nothing changed: no update call at all.
  sink.clear();
  await plugin.doPeriodicUpdate();
  assert.deepEqual(updates(sink.calls), []);

  // The LUN renamed: its attribute change carries the new label.
  lunName = 'lun-renamed';
  sink.clear();
  await plugin.doPeriodicUpdate();
  assert.deepEqual(updates(sink.calls), [
    ['sessionUpdateResource', 'root-l', lun.handle, { name: 'lun-renamed' }, undefined, 'lun-renamed'],
  ]);

  // The slot moved to shelf 1: no attribute of its own changed, the label did (sent alone).
  shelfOfSlot = 1;
  sink.clear();
  await plugin.doPeriodicUpdate();
  assert.deepEqual(updates(sink.calls), [
    ['sessionUpdateResource', 'root-l', slot.handle, {}, undefined, 'shelf 1 slot 3'],
  ]);
  // And once sent, not again.
  sink.clear();
  await plugin.doPeriodicUpdate();
  assert.deepEqual(updates(sink.calls), []);
});

test('a resource created by an update carries its label in sessionAddResources; a failing getLabel sends none', async () => {
  const { sink, plugin } = setup();
  let withLun = false;
  plugin.step = (p, root) => {
    p.updateOrCreate(Slot, { n: 1 }); // no parent: getLabel throws
    if (withLun) p.updateOrCreate(Lun, { local_id: 9, name: 'nine', size: 1 } as never, [root]);
  };
  await plugin.doInitialScan();
  const open = sink.calls[0] as ['sessionOpen', string, unknown, ReportedResource[], number];
  assert.equal('label' in open[3].find((r) => r.class === 'labels.Slot')!, false);
  withLun = true;
  sink.clear();
  await plugin.doPeriodicUpdate();
  const add = sink.calls.find((c) => c[0] === 'sessionAddResources') as [
    'sessionAddResources',
    string,
    ReportedResource[],
  ];
  assert.deepEqual(
    add[2].map((r) => [r.class, r.label]),
    [['labels.Lun', 'nine']],
  );
  assert.deepEqual(updates(sink.calls), []);
});

test('labels longer than the store keeps are cut to 255 characters', async () => {
  const { sink, plugin } = setup();
  plugin.step = (p, root) => {
    p.updateOrCreate(Lun, { local_id: 1, name: 'x'.repeat(300), size: 1 } as never, [root]);
  };
  await plugin.doInitialScan();
  const open = sink.calls[0] as ['sessionOpen', string, unknown, ReportedResource[], number];
  assert.equal(open[3].find((r) => r.class === 'labels.Lun')!.label, 'x'.repeat(255));
});

test('a label read from another resource follows it, though the labelled resource itself is unchanged', async () => {
  const { sink, plugin } = setup();
  let title = 'alpha';
  plugin.step = (p, root) => {
    const { resource: group } = p.updateOrCreate(Group, { gid: 1, title }, [root]);
    p.updateOrCreate(Member, { group, n: 2 });
  };
  await plugin.doInitialScan();
  const open = sink.calls[0] as ['sessionOpen', string, unknown, ReportedResource[], number];
  const group = open[3].find((r) => r.class === 'labels.Group')!;
  const member = open[3].find((r) => r.class === 'labels.Member')!;
  assert.equal(member.label, 'alpha#2');
  title = 'beta';
  sink.clear();
  await plugin.doPeriodicUpdate();
  assert.deepEqual(updates(sink.calls), [
    ['sessionUpdateResource', 'root-l', group.handle, { title: 'beta' }],
    ['sessionUpdateResource', 'root-l', member.handle, {}, undefined, 'beta#2'],
  ]);
});
