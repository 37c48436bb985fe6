// Storage resources in /metrics (docs/storage-plugins.md "In /metrics"): a real resource store's
// statistics, active alerts and class counts rendered as exposition text (exact lines, escaping,
// promtool), then a real manager's own /metrics route scraped by the real Prometheus (Basic auth
// as root), which reads back the store's values and labels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { catalogDescribe } from '../../../../src/manager/stats/prometheus/describe.js';
import { renderExposition } from '../../../../src/manager/stats/prometheus/exposition.js';
import { scrapeText } from '../../../../src/manager/stats/prometheus/handler.js';
import {
  statisticFamilyName,
  storageResourceFamilies,
} from '../../../../src/manager/stats/prometheus/storage-families.js';
import { ResourceStore } from '../../../../src/manager/storage-resources/store.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';
import { startManager } from '../../../helpers/manager.js';
import {
  eventually,
  havePrometheus,
  promtoolCheck,
  startPrometheus,
} from '../../../helpers/prometheus-server.js';
import { attr, cls } from '../../../helpers/resource-classes.js';
import { tempDir } from '../../../helpers/tmp.js';

const Box = cls('box', 'Box', 'global', ['address'], { address: attr('Hostname') }, { scannable: true });
const Disk = cls(
  'box',
  'Disk',
  'scoped',
  ['slot'],
  { slot: attr('Integer'), status: attr('Enum') },
  {
    alertClasses: [
      { alertClass: '_None_status_40', attribute: 'status', severity: 40, message: 'Disk "failed"' },
    ],
    statistics: {
      temperature: { type: 'Gauge', units: 'C' },
      readOps: { type: 'Counter' },
      io_size: { type: 'BytesHistogram', bins: [[0, 512], [513, 4096], [4097]] },
    },
  },
);
const CLASSES = [Box, Disk];
const TS = 1_700_000_000;

function report(): ReportedResource[] {
  return [
    { handle: 1, class: 'box.Box', attributes: { address: 'box.example' }, parents: [] },
    ...[0, 1].map((slot) => ({
      handle: 2 + slot,
      class: 'box.Disk',
      attributes: { slot, status: 'OK' },
      parents: [1],
      statistics: {
        temperature: [[TS, 30.5 + slot] as [number, number]],
        readOps: [[TS, 1000 * (slot + 1)] as [number, number]],
        io_size: [[TS, [5, 7, 1 + slot]] as [number, number[]]],
      },
    })),
  ];
}

/** Opens `root` with the report, sets disk 0's alias (quotes, newline), raises its alert. */
async function fill(store: ResourceStore, root: string): Promise<{ disk0: number; disk1: number }> {
  await store.sessionOpen(root, CLASSES, report(), 5);
  const [disk0, disk1] = store.queries.resourcesOfClass('box.Disk').map((r) => r.id);
  await store.setAlias(disk0, 'slot "0"\nleft');
  await store.sessionNotifyAlert(root, 2, {
    alertClass: '_None_status_40',
    attribute: 'status',
    active: true,
    severity: 40,
  });
  return { disk0, disk1 };
}

test('statistic names: sanitised, snake_case, counters end in _total, histograms in _bins', () => {
  assert.equal(statisticFamilyName('temperature', 'Gauge'), 'berth_storage_resource_temperature');
  assert.equal(statisticFamilyName('readOps', 'Counter'), 'berth_storage_resource_read_ops_total');
  assert.equal(statisticFamilyName('errors_total', 'Counter'), 'berth_storage_resource_errors_total');
  assert.equal(statisticFamilyName('io-size', 'BytesHistogram'), 'berth_storage_resource_io_size_bins');
});

test("a store's statistics, alerts and class counts as exposition text; promtool accepts it", async (t) => {
  const store = new ResourceStore({ path: `${tempDir(t)}/berth.db` });
  t.after(() => store.close());
  const { disk0, disk1 } = await fill(store, 'root-a');
  await store.sessionOffline('root-gone', 'no route to "box"');
  const text = renderExposition(storageResourceFamilies(store.queries.metrics()));
  const d0 = `resource="${disk0}",class="box.Disk",label="slot \\"0\\"\\nleft",root="root-a"`;
  const d1 = `resource="${disk1}",class="box.Disk",label="Disk 1",root="root-a"`;
  const lines = text.split('\n');
  for (const want of [
    '# HELP berth_storage_resource_io_size_bins io_size: storage resource statistic (BytesHistogram, latest count per bin), latest value',
    '# TYPE berth_storage_resource_io_size_bins gauge',
    `berth_storage_resource_io_size_bins{${d0},bin_min="0",bin_max="512"} 5`,
    `berth_storage_resource_io_size_bins{${d0},bin_min="513",bin_max="4096"} 7`,
    `berth_storage_resource_io_size_bins{${d1},bin_min="4097",bin_max="+Inf"} 2`,
    '# TYPE berth_storage_resource_read_ops_total counter',
    `berth_storage_resource_read_ops_total{${d1}} 2000`,
    '# HELP berth_storage_resource_temperature temperature: storage resource statistic (Gauge, units: C), latest value',
    '# TYPE berth_storage_resource_temperature gauge',
    `berth_storage_resource_temperature{${d0}} 30.5`,
    `berth_storage_resource_temperature{${d1}} 31.5`,
    `berth_storage_resource_alerts_active{severity="ERROR"} 1`,
    `berth_storage_resource_alerts_active{severity="WARNING"} 1`,
    `berth_storage_resource_alerts_active{severity="INFO"} 0`,
    'berth_storage_resources{class="box.Box"} 1',
    'berth_storage_resources{class="box.Disk"} 2',
  ])
    assert.ok(lines.includes(want), `missing line: ${want}\n${text}`);
  const [offline, failed] = store.queries.alerts({ active: true });
  const alerts = lines.filter((l) => l.startsWith('berth_storage_resource_alert{'));
  assert.deepEqual(alerts, [
    `berth_storage_resource_alert{alert="${failed.id}",severity="ERROR",alert_class="_None_status_40",alert_type="condition",${d0},message="Disk \\"failed\\" (Disk slot \\"0\\"\\nleft)"} 1`,
    `berth_storage_resource_alert{alert="${offline.id}",severity="WARNING",alert_class="${offline.alertClass}",alert_type="offline",resource="",class="",label="",root="root-gone",message="root-gone not contactable"} 1`,
  ]);
  const check = promtoolCheck(text);
  assert.equal(check.status, 0, check.output);
});

test("a plugin's own label is the series' label, and follows the plugin's update (the alias still wins)", async (t) => {
  const store = new ResourceStore({ path: `${tempDir(t)}/berth.db` });
  t.after(() => store.close());
  const withLabel = report().map((r) => (r.handle === 3 ? { ...r, label: 'rear "bay"' } : r));
  await store.sessionOpen('root-l', CLASSES, withLabel, 5);
  const [, disk1] = store.queries.resourcesOfClass('box.Disk').map((r) => r.id);
  const temperature = () =>
    renderExposition(storageResourceFamilies(store.queries.metrics()))
      .split('\n')
      .find((l) => l.startsWith(`berth_storage_resource_temperature{resource="${disk1}"`));
  assert.equal(
    temperature(),
    `berth_storage_resource_temperature{resource="${disk1}",class="box.Disk",label="rear \\"bay\\"",root="root-l"} 31.5`,
  );
  await store.sessionUpdateResource('root-l', 3, { status: 'OK' }, undefined, 'front bay');
  assert.match(temperature()!, /,label="front bay",/);
  await store.setAlias(disk1, 'my disk');
  assert.match(temperature()!, /,label="my disk",/);
});

test('no resources: only the per-severity alert counts (zeros), so absence is not mistaken for health', async (t) => {
  const store = new ResourceStore({ path: `${tempDir(t)}/berth.db` });
  t.after(() => store.close());
  const text = renderExposition(storageResourceFamilies(store.queries.metrics()));
  assert.equal(
    text,
    [
      '# HELP berth_storage_resource_alerts_active Active storage-resource alerts by severity (own alerts, not counting propagation)',
      '# TYPE berth_storage_resource_alerts_active gauge',
      'berth_storage_resource_alerts_active{severity="ERROR"} 0',
      'berth_storage_resource_alerts_active{severity="WARNING"} 0',
      'berth_storage_resource_alerts_active{severity="INFO"} 0',
      '',
    ].join('\n'),
  );
});

test("Prometheus scrapes a manager's /metrics and reads the storage resources back", {
  skip: !havePrometheus(),
}, async (t) => {
  const tm = await startManager(t, { agent: false });
  const rt = tm.manager.storageResources;
  assert.ok(rt, 'the master runs the storage runtime');
  const { disk0 } = await fill(rt.store, 'root-prom');
  // The manager's own route (mounted in its constructor), as Prometheus will see it.
  const auth = `Basic ${Buffer.from(`root:${tm.rootPassword}`).toString('base64')}`;
  const served = await (await fetch(`${tm.httpUrl}/metrics`, { headers: { authorization: auth } })).text();
  assert.match(
    served,
    /^berth_storage_resource_temperature\{resource="\d+",class="box\.Disk",label="Disk 1",root="root-prom"\} 31\.5$/m,
  );
  const check = promtoolCheck(served);
  assert.equal(check.status, 0, check.output);

  const prom = await startPrometheus(t, new URL(tm.httpUrl).host, {
    basic: { user: 'root', password: tm.rootPassword },
  });
  const [temp] = await eventually(
    async () => {
      const r = await prom.query(`berth_storage_resource_temperature{resource="${disk0}"}`);
      return r.length ? r : undefined;
    },
    30_000,
    "a scrape with disk 0's temperature",
  ).catch((e) => assert.fail(`${e}\n${prom.log()}`));
  assert.equal(Number(temp.value[1]), 30.5);
  assert.deepEqual(
    { ...temp.metric },
    {
      __name__: 'berth_storage_resource_temperature',
      job: 'berth',
      instance: new URL(tm.httpUrl).host,
      resource: String(disk0),
      class: 'box.Disk',
      label: 'slot "0"\nleft',
      root: 'root-prom',
    },
  );
  const [alert] = await prom.query('berth_storage_resource_alert{severity="ERROR"}');
  assert.equal(alert.metric.message, 'Disk "failed" (Disk slot "0"\nleft)');
  assert.equal(alert.metric.resource, String(disk0));
  const [errors] = await prom.query('berth_storage_resource_alerts_active{severity="ERROR"}');
  assert.equal(errors.value[1], '1');
  const [bins] = await prom.query(`berth_storage_resource_io_size_bins{resource="${disk0}",bin_max="+Inf"}`);
  assert.equal(bins.value[1], '1');
  const [reads] = await prom.query(`berth_storage_resource_read_ops_total{resource="${disk0}"}`);
  assert.equal(reads.value[1], '1000');
  // The alert lowered: its series goes at the next scrapes, the ERROR count drops to 0.
  await rt.store.sessionNotifyAlert('root-prom', 2, {
    alertClass: '_None_status_40',
    attribute: 'status',
    active: false,
    severity: 40,
  });
  await eventually(
    async () =>
      (await prom.query('berth_storage_resource_alerts_active{severity="ERROR"}'))[0]?.value[1] === '0'
        ? true
        : undefined,
    10_000,
    'the ERROR count back to 0',
  );
});

test('no runtime, or a store read that fails: no storage families, the rest of the scrape served', async (t) => {
  const tm = await startManager(t, { agent: false, storageResources: false });
  assert.equal(tm.manager.storageResources, undefined);
  const auth = `Basic ${Buffer.from(`root:${tm.rootPassword}`).toString('base64')}`;
  const served = await (await fetch(`${tm.httpUrl}/metrics`, { headers: { authorization: auth } })).text();
  assert.match(served, /^berth_scrape_host_up\{/m);
  assert.doesNotMatch(served, /berth_storage/);
  const failing = await scrapeText(tm.manager.svc, {
    tokenFile: null,
    describe: catalogDescribe,
    storageResources: () => {
      throw new Error('disk I/O error');
    },
  });
  assert.match(failing, /^berth_scrape_host_up\{/m);
  assert.doesNotMatch(failing, /berth_storage/);
});
