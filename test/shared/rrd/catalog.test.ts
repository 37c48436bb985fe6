import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dataSourceSpec,
  describe as describeDs,
  IO_KEYS,
  mustSpec,
  XAPI_STANDARD_NOT_PRODUCED,
} from '../../../src/shared/rrd/catalog.js';

test('host cpuN and cpu_avg: DERIVE fractions with inverse, xapi descriptions', () => {
  const c3 = dataSourceSpec('host', 'cpu3');
  assert.deepEqual(c3, {
    name: 'cpu3',
    type: 'DERIVE',
    min: 0,
    max: 1,
    transform: 'inverse',
    description: 'Physical cpu usage for cpu 3',
    units: '(fraction)',
    standard: true,
  });
  assert.equal(dataSourceSpec('host', 'cpu_avg')?.transform, 'inverse');
  assert.equal(dataSourceSpec('host', 'cpu_avg')?.description, 'Average physical cpu usage');
  assert.equal(dataSourceSpec('host', 'cpu03'), undefined, 'no leading zeros');
  assert.equal(dataSourceSpec('host', 'cpu'), undefined);
});

test('VM cpuN has no inverse and the VM wording', () => {
  const c = dataSourceSpec('vm', 'cpu1');
  assert.equal(c?.transform, undefined);
  assert.equal(c?.description, 'CPU1 usage');
  assert.equal(c?.max, 1);
  assert.equal(dataSourceSpec('vm', 'cpu_usage')?.description, 'Domain CPU usage');
});

test('unbounded sides follow xapi Ds.ds_make defaults', () => {
  const l = dataSourceSpec('host', 'loadavg')!;
  assert.equal(l.min, Number.NEGATIVE_INFINITY);
  assert.equal(l.max, Number.POSITIVE_INFINITY);
  assert.equal(l.type, 'GAUGE');
  assert.equal(dataSourceSpec('host', 'hostload')?.min, 0);
  assert.equal(dataSourceSpec('host', 'memory_free_kib')?.units, 'KiB');
});

test('PIF patterns: rx/tx standard, errors optional, aggr fixed', () => {
  const rx = dataSourceSpec('host', 'pif_eth0_rx')!;
  assert.equal(rx.description, 'Bytes per second received on physical interface eth0');
  assert.equal(rx.standard, true);
  assert.equal(rx.type, 'DERIVE');
  assert.equal(
    dataSourceSpec('host', 'pif_enp0s3_tx')?.description,
    'Bytes per second sent on physical interface enp0s3',
  );
  const err = dataSourceSpec('host', 'pif_bond0_rx_errors')!;
  assert.equal(err.standard, false);
  assert.equal(err.units, 'err/s');
  assert.equal(
    dataSourceSpec('host', 'pif_aggr_rx')?.description,
    'Bytes per second received on all physical interfaces',
  );
  assert.equal(dataSourceSpec('host', 'pif_aggr_rx_errors'), undefined);
  assert.equal(dataSourceSpec('vm', 'pif_eth0_rx'), undefined, 'owner matters');
});

test('SR I/O on the host RRD: every key with an 8-hex suffix', () => {
  for (const key of IO_KEYS) {
    const s = dataSourceSpec('host', `${key}_0a1b2c3d`);
    assert.ok(s, key);
    assert.equal(s.standard, true);
  }
  assert.equal(dataSourceSpec('host', 'read_0a1b2c3d')?.description, 'Reads from device SR, in B/s');
  assert.equal(dataSourceSpec('host', 'read_latency_0a1b2c3d')?.units, 'μs');
  assert.equal(dataSourceSpec('host', 'io_throughput_total_0a1b2c3d')?.type, 'ABSOLUTE');
  assert.equal(dataSourceSpec('host', 'io_throughput_total_0a1b2c3d')?.description, 'All SR I/O, in MiB/s');
  assert.equal(dataSourceSpec('host', 'read_0A1B2C3D'), undefined, 'uuids are lower-case');
  assert.equal(dataSourceSpec('host', 'read_0a1b2c3'), undefined);
  assert.equal(dataSourceSpec('host', 'inflight_0a1b2c3d'), undefined, 'not produced');
});

test('VM VIF and VBD patterns', () => {
  const tx = dataSourceSpec('vm', 'vif_2_tx')!;
  assert.equal(tx.description, "Bytes per second transmitted on virtual interface number '2'");
  assert.equal(dataSourceSpec('vm', 'vif_2_tx_errors')?.standard, false);
  assert.equal(dataSourceSpec('vm', 'vif_x_tx'), undefined);
  const r = dataSourceSpec('vm', 'vbd_xvda_read')!;
  assert.equal(r.description, 'Reads from device VDI, in B/s');
  assert.equal(
    dataSourceSpec('vm', 'vbd_xvdb_write_latency')?.description,
    'Write latency from device VDI, in microseconds',
  );
  assert.equal(dataSourceSpec('vm', 'vbd_hda_iops_total')?.units, 'requests/s');
  assert.equal(dataSourceSpec('vm', 'vbd_xvda_avgqu_sz')?.units, 'requests');
  assert.equal(dataSourceSpec('vm', 'vbd_xvda_bogus'), undefined);
  assert.equal(dataSourceSpec('vm', 'memory_target')?.units, 'B');
});

test('SR RRD sources', () => {
  assert.equal(dataSourceSpec('sr', 'physical_utilisation')?.units, 'B');
  assert.equal(dataSourceSpec('sr', 'size')?.type, 'GAUGE');
  assert.equal(dataSourceSpec('sr', 'cpu0'), undefined);
});

test('describe gives xapi placeholders for unknown names; mustSpec throws', () => {
  assert.deepEqual(describeDs('host', 'nope'), {
    description: 'description not available',
    units: 'unknown',
    standard: false,
  });
  assert.equal(describeDs('vm', 'memory').description, 'Memory currently allocated to VM');
  assert.throws(() => mustSpec('sr', 'nope'), /no data source sr:nope/);
  assert.equal(dataSourceSpec('host', undefined as unknown as string), undefined);
});

test('the not-produced list names nothing the catalog resolves', () => {
  for (const n of XAPI_STANDARD_NOT_PRODUCED)
    for (const name of n.name.split(', '))
      if (!name.includes('<')) assert.equal(dataSourceSpec(n.owner, name), undefined, name);
});
