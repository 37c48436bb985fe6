// The engine's own API and the cases where Berth keeps rrdtool's arithmetic over xapi's accidents
// (docs/decisions.md, "rrd-engine (issue 16)"); the bulk of the arithmetic is checked against
// rrdtool in rrd-vs-rrdtool.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addDs,
  createRrd,
  dsDefs,
  lastValue,
  type Rrd,
  removeDs,
  rowValue,
  setDsTransform,
  updateRrd,
} from '../../../src/shared/rrd/rrd.js';
import type { DsDef } from '../../../src/shared/rrd/types.js';

const T0 = 1_700_000_000; // on a 5 s boundary, not on a minute
const gauge = (name: string, max = 100): DsDef => ({ name, type: 'GAUGE', min: 0, max });

/** Newest `n` rows (newest first) of archive k, data source i. */
function newestRows(rrd: Rrd, k: number, i: number, n: number): number[] {
  return Array.from({ length: n }, (_, age) => rowValue(rrd.rras[k], rrd.ds.length, age, i));
}

test('layouts: VM/SR AVERAGE only (4 archives), host AVERAGE/MIN/MAX (10)', () => {
  const vm = createRrd({ time: T0, ds: [gauge('memory')], minMax: false });
  assert.deepEqual(
    vm.rras.map((r) => [r.cf, r.rows, r.pdpPerRow, r.xff]),
    [
      ['AVERAGE', 120, 1, 0.5],
      ['AVERAGE', 120, 12, 0.5],
      ['AVERAGE', 168, 720, 0.5],
      ['AVERAGE', 366, 17280, 0.5],
    ],
  );
  const host = createRrd({ time: T0, ds: [gauge('memory')], minMax: true });
  assert.deepEqual(
    host.rras.map((r) => `${r.cf}/${r.pdpPerRow}/${r.xff}`),
    [
      'AVERAGE/1/0.5',
      'AVERAGE/12/1',
      'MIN/12/1',
      'MAX/12/1',
      'AVERAGE/720/1',
      'MIN/720/1',
      'MAX/720/1',
      'AVERAGE/17280/1',
      'MIN/17280/1',
      'MAX/17280/1',
    ],
  );
  assert.equal(host.ds[0].heartbeat, 300);
  assert.throws(() => createRrd({ time: T0, ds: [gauge('a'), gauge('a')], minMax: false }), RangeError);
  assert.throws(() => updateRrd(host, Number.NaN, new Map()), RangeError);
});

test('inverse records 1 − x; lastValue is the newest PDP; unknown names are ignored', () => {
  const rrd = createRrd({
    time: T0,
    ds: [{ ...gauge('cpu0', 1), transform: 'inverse' }, gauge('x')],
    minMax: true,
  });
  updateRrd(
    rrd,
    T0 + 5,
    new Map([
      ['cpu0', 0.25],
      ['nope', 3],
    ]),
  );
  assert.equal(lastValue(rrd, 'cpu0'), 0.75);
  assert.ok(Number.isNaN(lastValue(rrd, 'x') as number), 'absent from the update: unknown');
  assert.equal(lastValue(rrd, 'nope'), undefined);
  setDsTransform(rrd, 'cpu0', undefined);
  updateRrd(rrd, T0 + 10, new Map([['cpu0', 0.25]]));
  assert.equal(lastValue(rrd, 'cpu0'), 0.25);
  assert.deepEqual(dsDefs(rrd), [gauge('cpu0', 1), gauge('x')]);
});

test('addDs: idempotent, new column unknown, the rest kept; removeDs drops its column', () => {
  const rrd = createRrd({ time: T0, ds: [gauge('a'), gauge('b')], minMax: false });
  for (let i = 1; i <= 3; i++) {
    updateRrd(
      rrd,
      T0 + 5 * i,
      new Map([
        ['a', i],
        ['b', 10 * i],
      ]),
    );
  }
  addDs(rrd, gauge('c'), T0 + 15);
  addDs(rrd, gauge('a', 5), T0 + 15);
  assert.deepEqual(
    dsDefs(rrd).map((d) => [d.name, d.max]),
    [
      ['a', 100],
      ['b', 100],
      ['c', 100],
    ],
  );
  // xapi counts the PDPs of the current minute before the add as unknown (T0+15 is 3 PDPs in).
  assert.equal(rrd.rras[1].cdpUnknown[2], Math.trunc((T0 + 15) / 5) % 12);
  assert.deepEqual(newestRows(rrd, 0, 1, 3), [30, 20, 10]);
  assert.ok(newestRows(rrd, 0, 2, 3).every(Number.isNaN));
  updateRrd(
    rrd,
    T0 + 20,
    new Map([
      ['a', 4],
      ['b', 40],
      ['c', 7],
    ]),
  );
  assert.equal(lastValue(rrd, 'c'), 7);
  removeDs(rrd, 'a');
  removeDs(rrd, 'zz');
  assert.deepEqual(
    dsDefs(rrd).map((d) => d.name),
    ['b', 'c'],
  );
  assert.deepEqual(newestRows(rrd, 0, 0, 4), [40, 30, 20, 10]);
  assert.equal(lastValue(rrd, 'c'), 7);
});

test('unknown GAUGE readings are unknown PDPs (xapi would repeat the last value, then 0)', () => {
  const rrd = createRrd({ time: T0, ds: [gauge('g')], minMax: false });
  updateRrd(rrd, T0 + 5, new Map([['g', 42]]));
  updateRrd(rrd, T0 + 10, new Map());
  updateRrd(rrd, T0 + 15, new Map());
  updateRrd(rrd, T0 + 20, new Map([['g', Number.POSITIVE_INFINITY]]));
  const rows = newestRows(rrd, 0, 0, 4);
  assert.equal(rows[3], 42);
  assert.ok(rows.slice(0, 3).every(Number.isNaN));
});

test('MIN/MAX ignore unknown PDPs; a row none of whose PDPs is known is NaN', () => {
  // Start on a minute boundary so the 1-min rows line up with the updates below.
  const start = 1_700_000_040;
  assert.equal(start % 60, 0);
  const rrd = createRrd({ time: start, ds: [gauge('g')], minMax: true });
  for (let i = 1; i <= 24; i++) {
    const v = i <= 12 ? (i % 3 === 0 ? undefined : i) : undefined; // 2nd minute: all unknown
    updateRrd(rrd, start + 5 * i, v === undefined ? new Map() : new Map([['g', v]]));
  }
  const known = [1, 2, 4, 5, 7, 8, 10, 11];
  const [avg, min, max] = [1, 2, 3].map((k) => newestRows(rrd, k, 0, 2));
  assert.equal(avg[1], known.reduce((a, b) => a + b) / known.length);
  assert.equal(min[1], 1);
  assert.equal(max[1], 11);
  assert.ok([avg[0], min[0], max[0]].every(Number.isNaN));
});

test('a clock going backwards counts as 5 s and completes no PDP (xapi)', () => {
  const rrd = createRrd({ time: T0, ds: [gauge('g')], minMax: false });
  updateRrd(rrd, T0 + 10, new Map([['g', 1]]));
  const before = rrd.rras[0].pushes;
  updateRrd(rrd, T0 + 3, new Map([['g', 2]]));
  assert.equal(rrd.rras[0].pushes, before);
  assert.equal(rrd.lastUpdated, T0 + 3);
});

test('an RRD without data sources is not updated (xapi CA-408841)', () => {
  const rrd = createRrd({ time: T0, ds: [], minMax: false });
  updateRrd(rrd, T0 + 50, new Map([['x', 1]]));
  assert.equal(rrd.lastUpdated, 0);
});
