// The guide's example plugin (examples/storage-plugins/example-controller.ts, shown whole in
// docs/storage-plugins.md) validates and runs: initial scan, then updates seen by a recording sink.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type ArrayState,
  arrays,
  Couplet,
  type ExamplePlugin,
} from '../../../examples/storage-plugins/example-controller.js';
import { main } from '../../../src/clients/storage-plugin/main.js';
import type { ReportedResource } from '../../../src/shared/storage-resources/session.js';
import { PluginLoader } from '../../../src/shared/storage-resources/loader.js';
import { RecordingSink } from '../../../src/shared/storage-resources/recording-sink.js';

const examplePath = join(import.meta.dirname, '../../../examples/storage-plugins/example-controller.ts');

function sampleArray(): ArrayState {
  return {
    controllers: [
      { index: 0, status: 'OK' },
      { index: 1, status: 'OK' },
    ],
    shelves: [
      { shelf: 0, fans: [3000, 3100] },
      { shelf: 1, fans: [2900] },
    ],
    drives: [
      { serial: 'WD-A1', shelf: 0, bytes: 4e12, status: 'OK', celsius: 31 },
      { serial: 'WD-A2', shelf: 0, bytes: 4e12, status: 'OK', celsius: 33 },
      { serial: 'WD-B1', shelf: 1, bytes: 4e12, status: 'OK', celsius: 30 },
    ],
    pools: [{ id: 0, raid: 'raid5', drives: ['WD-A1', 'WD-A2', 'WD-B1'] }],
    luns: [
      { id: 0, name: 'lun0', serial: '600A0B800011', pool: 0, bytes: 2e12 },
      { id: 1, name: 'lun1', serial: '600A0B800012', pool: 0, bytes: 2e12 },
    ],
  };
}

test('berth-storage-plugin validate accepts the example', async () => {
  const lines: string[] = [];
  assert.equal(await main(['validate', examplePath], (l) => lines.push(l)), 0);
  assert.deepEqual(lines, ["Validating plugin 'example-controller'...", 'OK']);
});

test('the example runs: full report, relations to linux.ScsiDevice, a failing drive, a LUN removed', async () => {
  const loader = new PluginLoader();
  const loaded = await loader.load(examplePath);
  const classes = loader.describeClasses();
  // Lun's Provide became a Subscribe on linux.ScsiDevice (serial, case-insensitive).
  assert.deepEqual(classes.find((c) => c.plugin === 'linux' && c.name === 'ScsiDevice')!.subscribes, [
    { to: { plugin: 'example-controller', name: 'Lun' }, attributes: ['serial'], ignorecase: true },
  ]);
  const hd = classes.find((c) => c.name === 'HardDrive')!;
  assert.deepEqual(
    hd.alertClasses.map((a) => a.alertClass),
    ['_nearfailure_status_30', '_failure_status_40'],
  );
  assert.deepEqual(hd.statistics, { temperature: { type: 'Gauge', units: 'C' } });
  assert.equal(hd.charts, undefined);

  const state = sampleArray();
  arrays.set('10.0.0.1', state);
  const sink = new RecordingSink();
  const root = new Couplet({ address_1: '10.0.0.1', address_2: '10.0.0.2' });
  const plugin = new loaded.pluginClass({
    sink,
    root: 'couplet-1',
    rootResource: root,
    classes,
    pluginName: loaded.name,
  }) as ExamplePlugin;
  await plugin.doInitialScan();

  const open = sink.calls[0] as ['sessionOpen', string, unknown, ReportedResource[], number];
  assert.equal(open[0], 'sessionOpen');
  assert.equal(open[4], 10);
  const byClass = (c: string) => open[3].filter((r) => r.class === `example-controller.${c}`);
  assert.deepEqual(
    ['Couplet', 'Controller', 'Enclosure', 'Fan', 'HardDrive', 'RaidPool', 'Lun'].map(
      (c) => byClass(c).length,
    ),
    [1, 2, 2, 3, 3, 1, 2],
  );
  const lun0 = byClass('Lun')[0];
  assert.deepEqual(lun0.attributes, { local_id: 0, name: 'lun0', serial: '600A0B800011', size: 2e12 });
  const pool = byClass('RaidPool')[0];
  assert.deepEqual(lun0.parents, [pool.handle]);
  assert.deepEqual(
    pool.parents,
    byClass('HardDrive').map((d) => d.handle),
  );
  assert.equal(pool.attributes.capacity, 12e12);
  // RaidPool and Lun override getLabel(): their labels travel with the report (the sink keeps
  // them); classes with the default label send none (the store computes it).
  assert.deepEqual([pool.label, lun0.label, byClass('HardDrive')[0].label], ['0', 'lun0', undefined]);
  // Fans are parents of their enclosure; enclosures of their drives.
  const [enc0] = byClass('Enclosure');
  assert.deepEqual(enc0.parents, [
    1,
    ...byClass('Fan')
      .slice(0, 2)
      .map((f) => f.handle),
  ]);
  assert.deepEqual(byClass('HardDrive')[0].parents, [enc0.handle]);
  assert.equal(byClass('HardDrive')[0].statistics?.temperature[0][1], 31);
  // First evaluation: every alert state, all inactive.
  const alerts = sink.calls.slice(1);
  assert.ok(alerts.length > 0 && alerts.every((c) => c[0] === 'sessionNotifyAlert' && c[3].active === false));

  // A drive fails and lun1 is deleted on the array.
  sink.clear();
  state.drives[1].status = 'FAILED';
  state.drives[1].celsius = 35;
  state.luns.pop();
  await plugin.doPeriodicUpdate();
  const a2 = byClass('HardDrive')[1].handle;
  const lun1 = byClass('Lun')[1].handle;
  assert.deepEqual(sink.names(), [
    'sessionRemoveLocalResources',
    'sessionUpdateResource',
    ...Array(3).fill('sessionUpdateResource'), // each drive's temperature sample
    'sessionNotifyAlert',
  ]);
  assert.deepEqual(sink.calls[0], ['sessionRemoveLocalResources', 'couplet-1', [lun1]]);
  assert.deepEqual(sink.calls[1], ['sessionUpdateResource', 'couplet-1', a2, { status: 'FAILED' }]);
  assert.deepEqual(sink.calls.at(-1), [
    'sessionNotifyAlert',
    'couplet-1',
    a2,
    { alertClass: '_failure_status_40', attribute: 'status', active: true, severity: 40 },
  ]);

  // The array becomes unreachable: the update throws (the scan loop then tears down).
  sink.clear();
  arrays.delete('10.0.0.1');
  await assert.rejects(plugin.doPeriodicUpdate(), { message: 'Cannot reach 10.0.0.1' });
  await plugin.doTeardown();
  assert.deepEqual(sink.calls, [['sessionClose', 'couplet-1']]);
});

test('thousand_drives: 2,011 resources in one sessionOpen', async () => {
  const loader = new PluginLoader();
  const loaded = await loader.load(join(import.meta.dirname, 'plugins/thousand_drives.ts'));
  const classes = loader.describeClasses();
  const Root = loaded.resourceClasses.find((c) => c.meta.name === 'Array1000')!;
  const sink = new RecordingSink();
  const plugin = new loaded.pluginClass({
    sink,
    root: 'a',
    rootResource: new Root({ name: 'array' }),
    classes,
    pluginName: loaded.name,
  });
  await plugin.doInitialScan();
  assert.deepEqual(sink.names(), ['sessionOpen']);
  const reported = sink.calls[0][3] as ReportedResource[];
  assert.equal(reported.length, 1 + 10 + 2000);
  const drive = reported.find((r) => r.class === 'thousand_drives.Drive')!;
  assert.deepEqual(drive.attributes.shelf, { handle: drive.parents[0] });
});

test('docs/storage-plugins.md shows the example plugin exactly as committed', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(join(import.meta.dirname, '../../../docs/storage-plugins.md'), 'utf8');
  const m =
    /<!-- example-controller\.ts begins -->\n```ts\n([\s\S]*?)```\n<!-- example-controller\.ts ends -->/.exec(
      doc,
    );
  assert.ok(m, 'example block in the guide');
  assert.equal(m[1], readFileSync(examplePath, 'utf8'));
});
