// `/rrd_updates` bodies (§6.4) as xapi's Rrd_updates: archive choice, start/end/step arithmetic,
// newest-first rows, legend and column order, XML/JSON layouts (goldens; UPDATE_GOLDEN=1 rewrites
// them, refused under CI), and the queries xapi answers with No_RRA_Available.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { dumpXml, parseDumpXml } from '../../../src/shared/rrd/dump.js';
import { createRrd, type Rrd, updateRrd } from '../../../src/shared/rrd/rrd.js';
import type { DsDef } from '../../../src/shared/rrd/types.js';
import {
  findBestRras,
  NoRraAvailableError,
  rrdUpdates,
  type XportSource,
} from '../../../src/shared/rrd/xport.js';
import { assertGolden } from '../../helpers/golden.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const T0 = 1_700_000_000;
const HOST = '11111111-2222-3333-4444-555555555555';
const VM1 = 'aaaaaaaa-0000-0000-0000-000000000001';
const VM2 = 'aaaaaaaa-0000-0000-0000-000000000002';
const SR = 'bbbbbbbb-0000-0000-0000-000000000001';

/** An RRD fed every 5 s for `seconds` (deterministic values per data source). */
function filled(ds: DsDef[], minMax: boolean, seconds: number, seed: number): Rrd {
  const rrd = createRrd({ time: T0, ds, minMax });
  for (let t = 5; t <= seconds; t += 5) {
    const m = new Map<string, number>();
    ds.forEach((d, k) => {
      m.set(d.name, d.type === 'DERIVE' ? (t * (seed + k)) / 100 : ((t / 5) % 17) + seed * 10 + k);
    });
    updateRrd(rrd, T0 + t, m);
  }
  return rrd;
}

const g = (name: string): DsDef => ({ name, type: 'GAUGE', min: 0, max: Number.POSITIVE_INFINITY });
const cpu = (name: string): DsDef => ({ name, type: 'DERIVE', min: 0, max: 1 });

function pool(seconds = 3 * 3600): XportSource[] {
  return [
    { owner: 'host', uuid: HOST, rrd: filled([cpu('cpu0'), g('memory_free_kib')], true, seconds, 1) },
    { owner: 'vm', uuid: VM1, rrd: filled([cpu('cpu0'), g('memory')], false, seconds, 2) },
    { owner: 'vm', uuid: VM2, rrd: filled([g('memory')], false, seconds, 3) },
    { owner: 'sr', uuid: SR, rrd: filled([g('size')], false, seconds, 4) },
  ];
}

const END = T0 + 3 * 3600;

test('layouts match the goldens (XML and JSON, 5 s and 1 min with every CF)', () => {
  const src = pool();
  assertGolden(join(GOLDEN, 'updates-5s.xml'), rrdUpdates(src, { start: END - 60, interval: 0 }, false));
  assertGolden(join(GOLDEN, 'updates-5s.json'), rrdUpdates(src, { start: END - 60, interval: 0 }, true));
  assertGolden(join(GOLDEN, 'updates-1m.xml'), rrdUpdates(src, { start: END - 600, interval: 60 }, false));
  assertGolden(join(GOLDEN, 'updates-1m.json'), rrdUpdates(src, { start: END - 600, interval: 60 }, true));
});

/** meta and rows of a JSON body. */
function meta(body: string) {
  const j = JSON.parse(body);
  return {
    start: Number(j.meta.start),
    step: Number(j.meta.step),
    end: Number(j.meta.end),
    rows: Number(j.meta.rows),
    columns: Number(j.meta.columns),
    legend: j.meta.legend as string[],
    times: (j.data as Array<{ t: string; values: string[] }>).map((r) => Number(r.t)),
    widths: (j.data as Array<{ t: string; values: string[] }>).map((r) => r.values.length),
  };
}

test('legend order: host, VMs, SRs; per RRD each archive of the resolution, DS in RRD order', () => {
  const m = meta(rrdUpdates(pool(), { start: END - 600, interval: 60 }, true));
  assert.deepEqual(m.legend, [
    `AVERAGE:host:${HOST}:cpu0`,
    `AVERAGE:host:${HOST}:memory_free_kib`,
    `MIN:host:${HOST}:cpu0`,
    `MIN:host:${HOST}:memory_free_kib`,
    `MAX:host:${HOST}:cpu0`,
    `MAX:host:${HOST}:memory_free_kib`,
    `AVERAGE:vm:${VM1}:cpu0`,
    `AVERAGE:vm:${VM1}:memory`,
    `AVERAGE:vm:${VM2}:memory`,
    `AVERAGE:sr:${SR}:size`,
  ]);
  assert.equal(m.columns, 10);
  assert.ok(m.widths.every((w) => w === 10));
  // cf=MAX: only the host has MAX archives, but xapi asks every RRD for MAX: No_RRA_Available.
  assert.throws(
    () => rrdUpdates(pool(), { start: END - 600, interval: 60, cf: 'MAX' }, true),
    NoRraAvailableError,
  );
  const maxOnly = meta(rrdUpdates(pool().slice(0, 1), { start: END - 600, interval: 60, cf: 'MAX' }, true));
  assert.deepEqual(maxOnly.legend, [`MAX:host:${HOST}:cpu0`, `MAX:host:${HOST}:memory_free_kib`]);
});

test('start/step/end arithmetic and newest-first rows', () => {
  const src = pool();
  for (const [start, interval, step] of [
    [END - 300, 0, 5],
    [END - 301, 5, 5],
    [END - 3600, 5, 60], // beyond the 10 min of the 5 s archive
    [END - 3600, 60, 60],
    [END - 7000, 0, 60],
    [END - 7300, 0, 3600], // beyond 2 h
    [END - 3 * 3600, 3600, 3600],
    [END - 30 * 86400, 0, 86400], // beyond the week: the year archive
    [1, 0, 86400], // far past
  ] as const) {
    const m = meta(rrdUpdates(src, { start, interval }, true));
    assert.equal(m.step, step, `start ${start} interval ${interval}`);
    assert.equal(m.end, Math.floor(END / step) * step);
    assert.equal(m.start, Math.floor(start / step) * step + step);
    assert.equal(m.rows, m.times.length);
    m.times.forEach((t, i) => {
      assert.equal(t, m.end - i * step);
      assert.ok(t >= start);
    });
    const archiveRows = step === 86400 ? 366 : step === 3600 ? 168 : 120;
    assert.ok(m.rows <= archiveRows);
    if (m.end - archiveRows * step >= start) assert.equal(m.rows, archiveRows);
    else assert.equal(m.rows, Math.floor((m.end - start) / step) + 1);
  }
});

test('negative start is relative to the last update; a future start gives no rows', () => {
  const src = pool();
  const rel = meta(rrdUpdates(src, { start: -120, interval: 0 }, true));
  const abs = meta(rrdUpdates(src, { start: END - 120, interval: 0 }, true));
  assert.deepEqual(rel, abs);
  assert.equal(rel.rows, 25);

  const future = rrdUpdates(src, { start: END + 1000, interval: 0 }, false);
  assert.match(future, /<rows>0<\/rows><columns>6<\/columns>/);
  assert.ok(future.endsWith('</meta><data/></xport>'));
  assert.equal(meta(rrdUpdates(src, { start: END + 1000, interval: 0 }, true)).rows, 0);
});

test('interval: 0 picks the finest archive holding start; huge ones have no archive', () => {
  const src = pool();
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: 0 }, true)).step, 5);
  // Rows of at least ⌊interval/5⌋ PDPs: 4 s → 5 s rows, 59 s (11 PDPs) → 1 min, 65 s (13) → 1 h.
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: 9 }, true)).step, 5);
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: 59 }, true)).step, 60);
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: 64 }, true)).step, 60);
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: 65 }, true)).step, 3600);
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: 86400 }, true)).step, 86400);
  assert.throws(() => rrdUpdates(src, { start: END - 60, interval: 86400 * 2 }, true), NoRraAvailableError);
  assert.throws(() => rrdUpdates(src, { start: END - 60, interval: 1e15 }, true), NoRraAvailableError);
  assert.throws(() => rrdUpdates([], { start: 0, interval: 0 }, true), NoRraAvailableError);
  // Negative intervals count as 0.
  assert.equal(meta(rrdUpdates(src, { start: END - 60, interval: -50 }, true)).step, 5);
});

test('findBestRras falls back to the coarsest span; rows read values newest first', () => {
  const rrd = filled([g('x')], true, 600, 0);
  const rras = findBestRras(rrd, 0, undefined, 0);
  assert.deepEqual(
    rras.map((r) => [r.cf, r.pdpPerRow]),
    [
      ['AVERAGE', 17280],
      ['MIN', 17280],
      ['MAX', 17280],
    ],
  );
  const body = meta(rrdUpdates([{ owner: 'host', uuid: HOST, rrd }], { start: T0 + 580, interval: 0 }, true));
  assert.deepEqual(body.times, [T0 + 600, T0 + 595, T0 + 590, T0 + 585, T0 + 580]);
  const values = JSON.parse(
    rrdUpdates([{ owner: 'host', uuid: HOST, rrd }], { start: T0 + 580, interval: 0 }, true),
  ).data.map((r: { values: string[] }) => r.values[0]);
  // Readings at T0+t are (t/5) % 17: 120 % 17 = 1, 119 % 17 = 0, 118 % 17 = 16, 117 % 17 = 15…
  assert.deepEqual(values, ['1', '0.0', '16', '15', '14']);
});

test('an RRD without data sources gives no columns but rows; XML escapes the legend', () => {
  const empty = createRrd({ time: T0, ds: [], minMax: false });
  const host = filled([g('a<b&c')], false, 60, 1);
  const body = rrdUpdates(
    [
      { owner: 'host', uuid: HOST, rrd: host },
      { owner: 'vm', uuid: VM1, rrd: empty },
    ],
    { start: T0 + 50, interval: 0 },
    false,
  );
  assert.match(body, /<legend><entry>AVERAGE:host:[^<]*:a&lt;b&amp;c<\/entry><\/legend>/);
  assert.match(body, /<rows>3<\/rows><columns>1<\/columns>/);
});

test('an RRD read back from its dump (an archive, a migrated VM) exports every row in full', () => {
  // A parsed RRD starts its row count at 0: the row one back had the serial of a never-formatted
  // row, so /rrd_updates sent it empty ("…",] in JSON: not JSON at all).
  const before = filled([g('memory'), cpu('cpu0')], false, 600, 2);
  const reread = parseDumpXml(dumpXml(before, { internal: true }));
  const q = { start: T0, interval: 0 };
  const src = [{ owner: 'vm' as const, uuid: VM1, rrd: reread }];
  const x = JSON.parse(rrdUpdates(src, q, true)) as { data: { values: string[] }[] };
  assert.ok(x.data.length > 2);
  for (const row of x.data) assert.equal(row.values.length, 2);
  assert.equal(rrdUpdates(src, q, false), rrdUpdates([{ owner: 'vm', uuid: VM1, rrd: before }], q, false));
});
