// The /metrics renderer, pure: names, escaping, unknown values, families and the host-up gauge,
// against a golden scrape (checked by promtool where it is installed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  metricName,
  renderExposition,
} from '../../../../src/manager/stats/prometheus/exposition.js';
import { type HostScrape, metricFamilies } from '../../../../src/manager/stats/prometheus/families.js';
import { assertGolden } from '../../../helpers/golden.js';

const GOLDEN = join(import.meta.dirname, 'golden', 'scrape.prom');
const H1 = '11111111-1111-4111-8111-111111111111';
const H2 = '22222222-2222-4222-8222-222222222222';
const VM = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const GONE_VM = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const SR = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

const describe = (owner: string, name: string) =>
  owner === 'host' && name === 'cpu_avg'
    ? { description: 'Average physical CPU usage', units: '(fraction)' }
    : owner === 'vm' && name === 'memory'
      ? { description: 'Memory currently allocated\\ to the "VM"\nin bytes', units: 'B' }
      : undefined;

function scrape(): HostScrape[] {
  return [
    {
      uuid: H1,
      nameLabel: 'rack "A"\\host\none',
      latest: {
        time: 1_700_000_000,
        host: {
          cpu_avg: 0.25,
          cpu0: 0.5,
          'cpu0-C1': 1e-7,
          'statefile/x/latency': null,
          memory_free_kib: 1048576,
        },
        vms: {
          [GONE_VM]: { cpu0: 0.125 },
          [VM]: { cpu0: 0.75, memory: 268435456, vif_0_rx: Number.NaN },
        },
        srs: { [SR]: { physical_utilisation: 4096 } },
      },
    },
    { uuid: H2, nameLabel: 'offline', latest: undefined },
  ];
}

const names = {
  vm: (uuid: string) => (uuid === VM ? 'web "front"' : undefined),
  sr: (uuid: string) => (uuid === SR ? 'Local storage' : undefined),
};

test('metric names: berth_<owner>_<name> with anything outside [a-zA-Z0-9_] as _', () => {
  assert.equal(metricName('host', 'cpu0'), 'berth_host_cpu0');
  assert.equal(metricName('host', 'CPU1-avg-freq'), 'berth_host_CPU1_avg_freq');
  assert.equal(metricName('host', 'statefile/0b5f/latency'), 'berth_host_statefile_0b5f_latency');
  assert.equal(metricName('vm', 'vbd_xvda.read'), 'berth_vm_vbd_xvda_read');
  assert.equal(metricName('sr', 'µs'), 'berth_sr__s');
});

test('escaping: label values escape \\, " and newline; HELP escapes \\ and newline only', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeHelp('a\\b"c\nd'), 'a\\\\b"c\\nd');
  assert.equal(escapeLabelValue('plain é'), 'plain é');
});

test('values: shortest round-trip decimals, NaN and ±Inf spelled as Prometheus reads them', () => {
  assert.equal(formatValue(0.1), '0.1');
  assert.equal(formatValue(1e-7), '1e-7');
  assert.equal(formatValue(268435456), '268435456');
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(Number.POSITIVE_INFINITY), '+Inf');
  assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
  assert.equal(Number.parseFloat(formatValue(1 / 3)), 1 / 3);
});

test('a scrape renders as the golden file: unknowns left out, offline host up 0', () => {
  const text = renderExposition(metricFamilies(scrape(), names, describe));
  assertGolden(GOLDEN, text);
  assert.doesNotMatch(text, /NaN|statefile|vif_0_rx/);
});

test('families: the same sanitised name twice keeps one sample per label set', () => {
  const text = renderExposition(
    metricFamilies(
      [{ uuid: H1, nameLabel: 'h', latest: { time: 0, host: { 'a-b': 1, a_b: 2 }, vms: {}, srs: {} } }],
      names,
      () => undefined,
    ),
  );
  assert.equal(text.match(/^berth_host_a_b\{/gm)?.length, 1);
  assert.match(text, /^berth_host_a_b\{host="[^"]+",name_label="h"\} 1$/m);
});

test('no host at all: nothing but the (empty) up family, which is left out', () => {
  assert.equal(renderExposition(metricFamilies([], names, () => undefined)), '');
});

test('promtool check metrics accepts the golden scrape', { skip: !existsSync('/usr/bin/promtool') }, () => {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], {
    input: renderExposition(metricFamilies(scrape(), names, describe)),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
