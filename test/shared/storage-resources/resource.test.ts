import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alertConditions,
  attributes,
  defineResource,
  identifiers,
  resources,
  statistics,
} from '../../../src/shared/storage-resources/api/index.js';
import { storageIdString } from '../../../src/shared/storage-resources/api/identifiers.js';

const Disk = defineResource({
  name: 'Disk',
  extends: resources.PhysicalDisk,
  identifier: identifiers.GlobalId('serial'),
  attributes: {
    serial: attributes.String(),
    size: attributes.Bytes(),
    vendor: attributes.String({ optional: true, default: 'never used: optional wins' }),
    model: attributes.String({ default: (s) => `model of ${s.serial}` }),
  },
  statistics: { temperature: statistics.Gauge({ units: 'C' }) },
  alertConditions: [alertConditions.UpperBoundCondition('size', { errorBound: 100, message: 'Too big' })],
});

test('construction: unknown attribute is the original KeyError text; mandatory checked by validate()', () => {
  assert.throws(() => new Disk({ serial: 'a', size: 1, model: 'm', colour: 'red' } as never), {
    message: "Unknown attribute colour (not one of ['serial', 'size', 'vendor', 'model'])",
  });
  const d = new Disk({ serial: 'a' } as never);
  assert.throws(() => d.validate(), { message: 'Missing mandatory attribute size' });
  assert.throws(() => new Disk({ serial: 'a', size: 1.5, model: 'm' }), {
    message: 'Value 1.5 is not an integer',
  });
});

test('getattr: stored, optional → null (over default), default (callable gets storage)', () => {
  const d = new Disk({ serial: 'S1', size: 5 } as never);
  assert.equal(d.vendor, null);
  assert.equal(d.model, 'model of S1');
  d.model = 'X';
  assert.equal(d.model, 'X');
});

test('labels: class label + id value, or the id tuple', () => {
  const d = new Disk({ serial: 'S1', size: 5, model: 'm' });
  assert.equal(d.getLabel(), 'Disk S1');
  const Two = defineResource({
    name: 'TestDefaults2',
    identifier: identifiers.GlobalId('a', 'b'),
    attributes: { a: attributes.String(), b: attributes.String() },
  });
  assert.equal(new Two({ a: 'foo', b: 'bar' }).getLabel(), "TestDefaults2 ('foo', 'bar')");
  assert.equal(resources.PhysicalDisk.meta.label, 'Physical disk');
  assert.equal(resources.StoragePool.meta.label, 'Storage pool');
});

test('identifiers: tuple, missing, invalid; persisted key as json.dumps', () => {
  const d = new Disk({ serial: 'S1', size: 5, model: 'm' });
  assert.deepEqual(d.idTuple(), ['S1']);
  assert.throws(() => new Disk({ size: 5 } as never).idTuple(), { message: "Missing ID attribute 'serial'" });
  assert.deepEqual(new Disk({ size: 5 } as never).idTuple(true), [null]);
  const Bad = defineResource({
    name: 'Bad',
    identifier: identifiers.GlobalId('nope' as never),
    attributes: { a: attributes.String() },
  });
  assert.throws(() => new Bad({ a: 'x' }).idTuple(), {
    message: 'Invalid attribute nope named in identifier for Bad',
  });
  assert.equal(storageIdString(['192.168.0.1', '192.168.0.2']), '["192.168.0.1", "192.168.0.2"]');
  assert.equal(storageIdString([12, 3]), '[12, 3]');
  const Auto = defineResource({
    name: 'Auto',
    extends: resources.ScannableResource,
    identifier: identifiers.AutoId(),
  });
  assert.deepEqual(Auto.meta.identifier!.attributes, ['chroma_auto_id']);
  assert.equal((Auto.meta.attributes as Record<string, { hidden: boolean }>).chroma_auto_id.hidden, true);
});

test('deltas: equal assignment is a no-op unless delta calculation is off; parents dedup', () => {
  const d = new Disk({ serial: 'S1', size: 5, model: 'm' });
  d.flushDeltas();
  d.size = 5;
  assert.deepEqual(d.flushDeltas(), { attributes: {}, parents: [] });
  d.size = 6;
  assert.deepEqual(d.flushDeltas().attributes, { size: 6 });
  const p = new Disk({ serial: 'P', size: 1, model: 'm' });
  d.addParent(p);
  d.addParent(p);
  d.removeParent(new Disk({ serial: 'Q', size: 1, model: 'm' }));
  assert.deepEqual(d.flushDeltas().parents, [p]);
  assert.equal(d.getParent(Disk), p);
  const off = new Disk({ serial: 'S2', size: 5, model: 'm' }, { calcChangesDelta: () => false });
  off.flushDeltas();
  off.size = 5;
  assert.deepEqual(off.flushDeltas().attributes, { size: 5 });
  assert.throws(() => d.addParent(d));
});

test('statistics: assignments recorded with timestamps, drained by flushStats', () => {
  const d = new Disk({ serial: 'S1', size: 5, model: 'm' });
  d.temperature = 20;
  d.temperature = 21;
  const s = d.flushStats();
  assert.deepEqual(
    s.temperature.map(([, v]) => v),
    [20, 21],
  );
  assert.ok(Math.abs(s.temperature[0][0] - Date.now() / 1000) < 5);
  assert.deepEqual(d.flushStats(), {});
  assert.throws(() => statistics.Gauge({ samplePeriod: 'x' }), {
    message: "sample period 'x' is not an integer!",
  });
  const h = statistics.BytesHistogram({ bins: [[0, 512], [513, 1024], [1025]] });
  assert.throws(() => h.sampleValue([1, 2]), { message: 'Invalid histogram value, got 2 bins, expected 3' });
  assert.deepEqual(h.info(), { type: 'BytesHistogram', bins: [[0, 512], [513, 1024], [1025]] });
  assert.deepEqual(statistics.Counter({ units: statistics.UNITS_BYTES }).info(), {
    type: 'Counter',
    units: 'bytes',
  });
});

test('alert conditions: class names, test(), strict bounds, severities in order', () => {
  const c = alertConditions.ValueCondition('status', { warnStates: ['FAILED'] });
  assert.deepEqual(
    c.alertClasses().map((a) => a.alertClass),
    ['_None_status_30'],
  );
  const t = alertConditions.UpperBoundCondition('temperature', {
    errorBound: 85,
    warnBound: 70,
    id: 'temp_high',
  });
  assert.deepEqual(
    t.alertClasses().map((a) => a.alertClass),
    ['_temp_high_temperature_40', '_temp_high_temperature_30'],
  );
  assert.deepEqual(t.test({ temperature: 85 }), [
    ['_temp_high_temperature_40', 'temperature', false, 40],
    ['_temp_high_temperature_30', 'temperature', true, 30],
  ]);
  const low = alertConditions.LowerBoundCondition('rate', { infoBound: 10, id: 'avac' });
  assert.deepEqual(low.test({ rate: 9 }), [['_avac_rate_20', 'rate', true, 20]]);
  assert.deepEqual(low.test({ rate: 10 }), [['_avac_rate_20', 'rate', false, 20]]);
  assert.deepEqual(
    alertConditions.ValueCondition('status', { errorStates: ['X'], infoStates: ['Y'] }).test({ status: 'Y' }),
    [
      ['_None_status_40', 'status', false, 40],
      ['_None_status_20', 'status', true, 20],
    ],
  );
});

test('alert class clash needs ids; inheritance of attributes, conditions and relations', () => {
  const attrs = { serial: attributes.String(), status: attributes.String() };
  assert.throws(
    () =>
      defineResource({
        name: 'Clash',
        identifier: identifiers.GlobalId('serial'),
        attributes: attrs,
        alertConditions: [
          alertConditions.ValueCondition('status', { warnStates: ['A'] }),
          alertConditions.ValueCondition('status', { warnStates: ['B'] }),
        ],
      }),
    {
      message:
        "Resource class 'Clash': Multiple AlertConditions on the same attribute must be disambiguated with 'id' parameters.",
    },
  );
  const Base = defineResource({
    name: 'Base',
    identifier: identifiers.GlobalId('serial'),
    attributes: attrs,
    alertConditions: [alertConditions.ValueCondition('status', { warnStates: ['A'], id: 'a' })],
  });
  const Child = defineResource({
    name: 'Child',
    extends: Base,
    attributes: { extra: attributes.Integer() },
    alertConditions: [alertConditions.ValueCondition('status', { warnStates: ['B'], id: 'b' })],
  });
  assert.deepEqual(Object.keys(Child.meta.attributes), ['serial', 'status', 'extra']);
  assert.deepEqual(
    Child.meta.alertClasses.map((a) => a.alertClass),
    ['_a_status_30', '_b_status_30'],
  );
  assert.equal(Child.meta.identifier, Base.meta.identifier);
  const c = new Child({ serial: 's', status: 'B', extra: 1 });
  assert.ok(c instanceof Base);
  assert.equal(c.serial, 's');
  assert.throws(() => defineResource({ name: 'R', attributes: { getLabel: attributes.String() } }), {
    message: "Resource class 'R': attribute name 'getLabel' is reserved",
  });
});

test('DeviceNode label drops the longest known /dev prefix', () => {
  const Node = defineResource({
    name: 'Node',
    extends: resources.DeviceNode,
    identifier: identifiers.ScopedId('path'),
  });
  class N extends Node {}
  assert.equal(new N({ host_id: 3, path: '/dev/disk/by-id/scsi-1' }).getLabel(), '3:scsi-1');
  assert.equal(new N({ host_id: 3, path: '/dev/sda' }).getLabel(), '3:sda');
  assert.equal(new N({ host_id: 3, path: '/srv/x' }).getLabel(), '3:/srv/x');
});

test('charts: declared ones reach the class info; unknown series refused', async () => {
  const { classInfo } = await import('../../../src/shared/storage-resources/loader.js');
  const Port = defineResource({
    name: 'Port',
    identifier: identifiers.ScopedId('n'),
    attributes: { n: attributes.Integer() },
    statistics: {
      read_bytes_per_sec: statistics.Gauge({ units: 'bytes/s' }),
      write_bytes_per_sec: statistics.Gauge({ units: 'bytes/s' }),
    },
    charts: [{ title: 'Bandwidth', series: ['read_bytes_per_sec', 'write_bytes_per_sec'] }],
  });
  assert.deepEqual(classInfo('p', Port, []).charts, [
    { title: 'Bandwidth', series: ['read_bytes_per_sec', 'write_bytes_per_sec'] },
  ]);
  assert.throws(
    () =>
      defineResource({
        name: 'Bad',
        statistics: { a: statistics.Counter() },
        // @ts-expect-error: 'b' is not a statistic
        charts: [{ title: 'T', series: ['b'] }],
      }),
    { message: "Resource class 'Bad': chart 'T' names unknown statistic 'b'" },
  );
});
