import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alertConditions,
  attributes,
  defineResource,
  identifiers,
  linux,
  Plugin,
  type Resource,
  resources,
  statistics,
} from '../../../src/shared/storage-resources/api/index.js';
import { setClassPlugin } from '../../../src/shared/storage-resources/api/resource.js';
import { RecordingSink } from '../../../src/shared/storage-resources/recording-sink.js';

const Box = defineResource({
  name: 'Box',
  extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('address'),
  attributes: { address: attributes.Hostname() },
});
const Shelf = defineResource({
  name: 'Shelf',
  identifier: identifiers.ScopedId('n'),
  attributes: { n: attributes.Integer() },
});
const Drive = defineResource({
  name: 'Drive',
  extends: resources.PhysicalDisk,
  identifier: identifiers.GlobalId('serial'),
  attributes: {
    serial: attributes.String(),
    status: attributes.Enum(['OK', 'FAILED']),
    shelf: attributes.ResourceReference({ optional: true }),
  },
  statistics: { temperature: statistics.Gauge() },
  alertConditions: [
    alertConditions.ValueCondition('status', { errorStates: ['FAILED'], message: 'Drive failure' }),
  ],
});
for (const c of [Box, Shelf, Drive]) setClassPlugin(c, 'boxes');

type Step = (p: BoxPlugin, root: Resource) => void;

class BoxPlugin extends Plugin {
  onInitial: Step = () => {};
  onUpdate: Step = () => {};
  tornDown = 0;
  agentCalls: [number, unknown][] = [];
  override initialScan(root: Resource) {
    this.onInitial(this, root);
  }
  override updateScan(root: Resource) {
    this.onUpdate(this, root);
  }
  override agentSessionStart(hostId: number, data: unknown) {
    this.agentCalls.push([hostId, data]);
  }
  override agentSessionContinue(hostId: number, data: unknown) {
    this.agentCalls.push([hostId, data]);
  }
  override teardown() {
    this.tornDown++;
  }
}

function setup(root: Resource = new Box({ address: 'box1' })) {
  const sink = new RecordingSink();
  const plugin = new BoxPlugin({
    sink,
    root: 'root-1',
    rootResource: root,
    classes: [],
    pluginName: 'boxes',
  });
  return { sink, plugin, root };
}

test('updateOrCreate: created only the first time in the session; updates attributes and parents', async () => {
  const { plugin, root } = setup();
  const a = plugin.updateOrCreate(Drive, { serial: 'A', status: 'OK' }, [root]);
  assert.equal(a.created, true);
  assert.equal(a.resource.handle, 2);
  const again = plugin.updateOrCreate(Drive, { serial: 'A', status: 'FAILED' });
  assert.equal(again.created, false);
  assert.equal(again.resource, a.resource);
  assert.equal(a.resource.status, 'FAILED');
  assert.throws(() => plugin.updateOrCreate(Drive, { serial: 'B' } as never), {
    message: 'Missing mandatory attribute status',
  });
  assert.throws(() => plugin.updateOrCreate(Drive, { status: 'OK' } as never), {
    message: "Missing ID attribute 'serial'",
  });
  assert.throws(() => plugin.updateOrCreate(Drive, { serial: 'C', status: 'bad' as never }), {
    message: "Value 'bad' is not one of ('OK', 'FAILED')",
  });
  assert.throws(() => plugin.updateOrCreate(Drive, { serial: 'A', status: 'OK' }, [a.resource]), {
    message: 'A resource cannot be its own parent',
  });
  const stranger = new Shelf({ n: 9 });
  assert.throws(() => plugin.updateOrCreate(Drive, { serial: 'D', status: 'OK', shelf: stranger }), {
    message: "Reference resource 'Shelf 9' is not reported in this session",
  });
});

test('remove, removeByAttr, findByAttr (exact class, partial identifiers)', () => {
  const { plugin } = setup();
  const Pair = defineResource({
    name: 'Pair',
    identifier: identifiers.ScopedId('a', 'b'),
    attributes: { a: attributes.Integer(), b: attributes.Integer() },
  });
  for (const a of [1, 2]) for (const b of [1, 2]) plugin.updateOrCreate(Pair, { a, b });
  assert.equal(plugin.findByAttr(Pair, { a: 1 }).length, 2);
  assert.equal(plugin.findByAttr(Pair, { b: 2 }).length, 2);
  assert.equal(plugin.findByAttr(Pair).length, 4);
  assert.equal(plugin.findByAttr(Drive).length, 0);
  assert.equal(plugin.removeByAttr(Pair, { a: 1, b: 1 }), true);
  assert.equal(plugin.removeByAttr(Pair, { a: 1, b: 1 }), false);
  const [r] = plugin.findByAttr(Pair, { a: 2, b: 2 });
  plugin.remove(r);
  assert.throws(() => plugin.remove(r), { message: 'Remove non-existent resource' });
});

test('initial scan: one sessionOpen with everything (root first), then every alert state', async () => {
  const { sink, plugin } = setup();
  plugin.onInitial = (p, root) => {
    p.updatePeriod = 7;
    const { resource: shelf } = p.updateOrCreate(Shelf, { n: 0 }, [root]);
    const { resource: d } = p.updateOrCreate(Drive, { serial: 'A', status: 'FAILED', shelf }, [shelf]);
    d.temperature = 30;
  };
  await plugin.doInitialScan();
  assert.deepEqual(sink.names(), ['sessionOpen', 'sessionNotifyAlert']);
  const [, root, classes, reported, period] = sink.calls[0] as [string, string, unknown[], any[], number];
  assert.equal(root, 'root-1');
  assert.deepEqual(classes, []);
  assert.equal(period, 7);
  assert.deepEqual(
    reported.map((r) => ({ ...r, statistics: r.statistics && Object.keys(r.statistics) })),
    [
      { handle: 1, class: 'boxes.Box', attributes: { address: 'box1' }, parents: [], statistics: undefined },
      { handle: 2, class: 'boxes.Shelf', attributes: { n: 0 }, parents: [1], statistics: undefined },
      {
        handle: 3,
        class: 'boxes.Drive',
        attributes: { serial: 'A', status: 'FAILED', shelf: { handle: 2 } },
        parents: [2],
        statistics: ['temperature'],
      },
    ],
  );
  assert.deepEqual(sink.calls[1], [
    'sessionNotifyAlert',
    'root-1',
    3,
    { alertClass: '_None_status_40', attribute: 'status', active: true, severity: 40 },
  ]);
  await assert.rejects(plugin.doInitialScan(), { message: 'Plugin session already initialised' });
});

test('periodic update: deletes, creates, attributes, parents, statistics, alerts — in that order, changes only', async () => {
  const { sink, plugin } = setup();
  let shelf0!: Resource;
  let shelf1!: Resource;
  let keep!: InstanceType<typeof Drive>;
  plugin.onInitial = (p, root) => {
    shelf0 = p.updateOrCreate(Shelf, { n: 0 }, [root]).resource;
    shelf1 = p.updateOrCreate(Shelf, { n: 1 }, [root]).resource;
    keep = p.updateOrCreate(Drive, { serial: 'K', status: 'OK' }, [shelf0]).resource;
    p.updateOrCreate(Drive, { serial: 'G', status: 'OK' }, [shelf0]);
  };
  await plugin.doInitialScan();
  assert.deepEqual(sink.names(), ['sessionOpen', 'sessionNotifyAlert', 'sessionNotifyAlert']);
  sink.clear();

  plugin.onUpdate = (p) => {
    p.remove(shelf1); // scoped → local
    p.removeByAttr(Drive, { serial: 'G' }); // global
    p.updateOrCreate(Drive, { serial: 'N', status: 'OK' }, [shelf0]);
    keep.status = 'FAILED';
    keep.removeParent(shelf0);
    keep.addParent(p.findByAttr(Shelf, { n: 0 })[0]); // re-added: net no change, still reported once
    keep.temperature = 41;
  };
  await plugin.doPeriodicUpdate();
  assert.deepEqual(sink.names(), [
    'sessionRemoveLocalResources',
    'sessionRemoveGlobalResources',
    'sessionAddResources',
    'sessionUpdateResource',
    'sessionResourceAddParent',
    'sessionUpdateResource',
    'sessionNotifyAlert',
    'sessionNotifyAlert',
  ]);
  assert.deepEqual(sink.calls[0], ['sessionRemoveLocalResources', 'root-1', [3]]);
  assert.deepEqual(sink.calls[1], ['sessionRemoveGlobalResources', 'root-1', [5]]);
  assert.deepEqual(sink.calls[2], [
    'sessionAddResources',
    'root-1',
    [{ handle: 6, class: 'boxes.Drive', attributes: { serial: 'N', status: 'OK' }, parents: [2] }],
  ]);
  assert.deepEqual(sink.calls[3], ['sessionUpdateResource', 'root-1', 4, { status: 'FAILED' }]);
  assert.deepEqual(sink.calls[4], ['sessionResourceAddParent', 'root-1', 4, 2]);
  const stats = sink.calls[5] as [string, string, number, object, Record<string, [number, number][]>];
  assert.deepEqual([stats[2], stats[3], stats[4].temperature.map(([, v]) => v)], [4, {}, [41]]);
  // Only what changed: K's alert went active; N's first evaluation is sent (inactive).
  assert.deepEqual(
    sink.calls.slice(6).map((c) => [c[2], (c[3] as { active: boolean }).active]),
    [
      [4, true],
      [6, false],
    ],
  );

  sink.clear();
  plugin.onUpdate = (p) => {
    keep.status = 'FAILED';
    keep.removeParent(p.findByAttr(Shelf, { n: 0 })[0]);
  };
  await plugin.doPeriodicUpdate();
  assert.deepEqual(sink.calls, [['sessionResourceRemoveParent', 'root-1', 4, 2]]);

  sink.clear();
  plugin.onUpdate = () => {
    keep.status = 'OK';
  };
  await plugin.doPeriodicUpdate();
  assert.deepEqual(sink.names(), ['sessionUpdateResource', 'sessionNotifyAlert']);
  assert.equal((sink.calls[1][3] as unknown as { active: boolean }).active, false);

  sink.clear();
  await plugin.doTeardown();
  assert.deepEqual(sink.calls, [['sessionClose', 'root-1']]);
  assert.equal(plugin.tornDown, 1);
});

test('a resource created and removed before a commit is never sent', async () => {
  const { sink, plugin } = setup();
  await plugin.doInitialScan();
  sink.clear();
  plugin.onUpdate = (p) => {
    const { resource } = p.updateOrCreate(Drive, { serial: 'T', status: 'OK' });
    p.remove(resource);
  };
  await plugin.doPeriodicUpdate();
  assert.deepEqual(sink.calls, []);
});

test('a failing initial scan opens no session; teardown still runs and closes nothing', async () => {
  const { sink, plugin } = setup();
  plugin.onInitial = () => {
    throw new Error('controller unreachable');
  };
  await assert.rejects(plugin.doInitialScan(), { message: 'controller unreachable' });
  await assert.rejects(plugin.doPeriodicUpdate(), {
    message: 'Plugin session not open: run the initial scan first',
  });
  await plugin.doTeardown();
  assert.deepEqual(sink.calls, []);
  assert.equal(plugin.tornDown, 1);
});

test('agent sessions: start opens the session, continue commits; host id from the root', async () => {
  const root = new linux.PluginAgentResources({ host_id: 12, plugin_name: 'boxes' });
  const { sink, plugin } = setup(root);
  await plugin.doAgentSessionStart({ devices: 1 });
  await plugin.doAgentSessionContinue({ devices: 2 });
  assert.deepEqual(plugin.agentCalls, [
    [12, { devices: 1 }],
    [12, { devices: 2 }],
  ]);
  assert.equal(sink.names()[0], 'sessionOpen');
  const reported = sink.calls[0][3] as { class: string }[];
  assert.equal(reported[0].class, 'linux.PluginAgentResources');
  assert.equal(plugin.updatePeriod, 5);
});

test('delta calculation off: every assignment is sent', async () => {
  class Eager extends BoxPlugin {
    constructor(...a: ConstructorParameters<typeof BoxPlugin>) {
      super(...a);
      this.calcChangesDelta = false;
    }
  }
  const sink = new RecordingSink();
  const plugin = new Eager({
    sink,
    root: 'r',
    rootResource: new Box({ address: 'b' }),
    classes: [],
    pluginName: 'boxes',
  });
  let d!: InstanceType<typeof Drive>;
  plugin.onInitial = (p) => {
    d = p.updateOrCreate(Drive, { serial: 'A', status: 'OK' }).resource;
  };
  await plugin.doInitialScan();
  sink.clear();
  plugin.onUpdate = () => {
    d.status = 'OK';
  };
  await plugin.doPeriodicUpdate();
  assert.deepEqual(sink.calls, [['sessionUpdateResource', 'r', 2, { status: 'OK' }]]);
});

test('references: a non-resource gets the attribute message; an existing resource updated with a stranger fails', () => {
  const { plugin } = setup();
  assert.throws(() => plugin.updateOrCreate(Drive, { serial: 'A', status: 'OK', shelf: 'x' as never }), {
    message: 'Cannot take ResourceReference to x',
  });
  plugin.updateOrCreate(Drive, { serial: 'A', status: 'OK' });
  assert.throws(
    () => plugin.updateOrCreate(Drive, { serial: 'A', status: 'OK', shelf: new Shelf({ n: 1 }) }),
    {
      message: "Reference resource 'Shelf 1' is not reported in this session",
    },
  );
});
