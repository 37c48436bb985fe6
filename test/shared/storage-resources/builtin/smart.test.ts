import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { linux, Plugin } from '../../../../src/shared/storage-resources/api/index.js';
import { ToolOutputError } from '../../../../src/shared/storage-resources/builtin/output-error.js';
import {
  parseSmartInformation,
  reportSmartDisks,
  type SmartReport,
} from '../../../../src/shared/storage-resources/builtin/smart.js';
import { RecordingSink, type SinkCall } from '../../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';

// Real smartctl --json -a outputs recorded for the smartctl host plugin's own tests.
const agentFixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../agent/plugins/fixtures/${name}`, import.meta.url), 'utf8'));

/** The host plugin's `information` answer for these devices. */
function information(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    '/dev/sda:sat': agentFixture('smartctl-sda-sat.json'),
    '/dev/nvme1:nvme': agentFixture('smartctl-nvme1-nvme.json'),
    '/dev/sda:scsi': agentFixture('smartctl-health-failed.json'),
    ...extra,
  });
}

async function run(
  disks: SmartReport[],
): Promise<{ rs: ReportedResource[]; calls: SinkCall[]; skipped: SmartReport[] }> {
  let skipped: SmartReport[] = [];
  class Linux extends Plugin {
    override initialScan() {}
    override agentSessionStart() {
      skipped = reportSmartDisks(this, root, disks).unidentified;
    }
  }
  const root = new linux.PluginAgentResources({ host_id: 3, plugin_name: 'linux' });
  const sink = new RecordingSink();
  const plugin = new Linux({ sink, root: 'host-3', rootResource: root, classes: [], pluginName: 'linux' });
  await plugin.doAgentSessionStart({});
  const open = sink.calls.find((c) => c[0] === 'sessionOpen');
  assert.ok(open);
  return { rs: open[3] as ReportedResource[], calls: sink.calls, skipped };
}

test('SMART (recorded sat + nvme + failed-health outputs): disks, statistics, identifiers', async () => {
  const disks = parseSmartInformation(information());
  assert.deepEqual(
    disks.map((d) => [d.device, d.serial, d.health, d.temperatureC]),
    [
      ['/dev/sda', 'S45PNA0M612345', 'PASSED', 35],
      ['/dev/nvme1', 'PHLJ9123004Y1P0FGN', 'PASSED', 31],
      ['/dev/sda', null, 'FAILED', null],
    ],
  );
  const { rs, calls, skipped } = await run(disks);
  // Healthy disks at 35 and 31 °C: no alert active.
  assert.deepEqual(
    calls.filter((c) => c[0] === 'sessionNotifyAlert' && c[3].active),
    [],
  );
  assert.deepEqual(
    skipped.map((d) => d.key),
    ['/dev/sda:scsi'],
  );
  const smart = rs.filter((r) => r.class === 'linux.SmartDisk');
  assert.deepEqual(
    smart.map((r) => [
      r.attributes.serial,
      r.attributes.device,
      r.attributes.size,
      r.attributes.temperature_c,
    ]),
    [
      ['S45PNA0M612345', '/dev/sda', 480103981056, 35],
      ['PHLJ9123004Y1P0FGN', '/dev/nvme1', smart[1].attributes.size, 31],
    ],
  );
  for (const r of smart) {
    assert.deepEqual(r.parents, [rs[0].handle]);
    assert.deepEqual(Object.keys(r.statistics ?? {}).sort(), ['health_ok', 'temperature']);
  }
  assert.deepEqual(
    smart[0].statistics?.temperature.map(([, v]) => v),
    [35],
  );
});

test('SMART: a failing, hot disk raises the health error and the temperature alerts', async () => {
  // A simulated failure: the recorded sda output with smart_status failed and 70 °C.
  const sda = agentFixture('smartctl-sda-sat.json');
  sda.smart_status = { passed: false };
  sda.temperature = { current: 70 };
  const { rs, calls } = await run(parseSmartInformation(JSON.stringify({ '/dev/sda:sat': sda })));
  const disk = rs.find((r) => r.class === 'linux.SmartDisk');
  assert.ok(disk);
  assert.deepEqual(
    disk.statistics?.health_ok.map(([, v]) => v),
    [0],
  );
  const active = calls
    .filter((c) => c[0] === 'sessionNotifyAlert' && c[2] === disk.handle && c[3].active)
    .map((c) => (c[0] === 'sessionNotifyAlert' ? [c[3].attribute, c[3].severity] : []));
  // ERROR = 40, WARNING = 30: 70 °C is beyond both temperature bounds.
  assert.deepEqual(active.sort(), [
    ['health', 40],
    ['temperature_c', 30],
    ['temperature_c', 40],
  ]);
});

test('SMART: hostile information → ToolOutputError', () => {
  const cases: [string, RegExp][] = [
    ['', /^smartctl: empty output$/],
    ['{"a":', /^smartctl: output is not JSON/],
    ['[1]', /^smartctl: information is not an object/],
    ['{"/dev/sda:sat": 5}', /report is not an object/],
    ['{"/dev/sda:sat": {"smart_status": {}}}', /no smart_status.passed/],
    ['{"x:sat": {"smart_status": {"passed": true}, "device": {"name": "../etc"}}}', /is not under \/dev/],
  ];
  for (const [text, re] of cases)
    assert.throws(
      () => parseSmartInformation(text),
      (e: unknown) => e instanceof ToolOutputError && re.test(e.message),
    );
});
