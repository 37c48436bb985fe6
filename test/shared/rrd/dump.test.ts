// Full dumps (§6.3): byte layout (goldens), round trip, xapi's reading rules, rrdtool's reading of
// Berth's dump, and hostile input. Regenerate goldens after an intended change with
// UPDATE_GOLDEN=1 and review the diff (refused under CI).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { dumpJson, dumpXml, parseDumpXml, RrdFormatError } from '../../../src/shared/rrd/dump.js';
import { createRrd, dsDefs, lastValue, type Rrd, updateRrd } from '../../../src/shared/rrd/rrd.js';
import type { DsDef } from '../../../src/shared/rrd/types.js';
import { assertGolden } from '../../helpers/golden.js';
import { tempDir } from '../../helpers/tmp.js';
import { berthArchives, compareArchives, rrdtoolRestore } from './rrdtool.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const T0 = 1_700_000_000;

const DS: DsDef[] = [
  { name: 'cpu0', type: 'DERIVE', min: 0, max: 1 },
  { name: 'memory', type: 'GAUGE', min: 0, max: Number.POSITIVE_INFINITY },
  { name: 'vif_0_rx', type: 'ABSOLUTE', min: 0, max: Number.POSITIVE_INFINITY },
];

/** A small RRD with known, unknown and out-of-range readings (deterministic). */
function sample(minMax: boolean, updates = 200): Rrd {
  const rrd = createRrd({ time: T0 + 2, ds: DS, minMax });
  let cpu = 100;
  for (let i = 1; i <= updates; i++) {
    cpu += (i % 7) * 0.5;
    const values = new Map<string, number>([
      ['cpu0', cpu],
      ['memory', 1_073_741_824 - i * 4096],
      ['vif_0_rx', i % 11 === 0 ? -1 : i * 1234.5],
    ]);
    if (i % 13 === 0) values.delete('memory');
    updateRrd(rrd, T0 + 2 + 5 * i + (i % 3) * 0.25, values);
  }
  return rrd;
}

test('dump layouts match the goldens (XML, internal XML, JSON)', () => {
  const vm = sample(false);
  assertGolden(join(GOLDEN, 'vm-dump.xml'), dumpXml(vm));
  assertGolden(join(GOLDEN, 'vm-dump-internal.xml'), dumpXml(vm, { internal: true }));
  assertGolden(join(GOLDEN, 'vm-dump.json'), dumpJson(vm));
  const xml = dumpXml(vm);
  assert.ok(
    xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<rrd><version>0003</version><step>5</step>'),
  );
  assert.equal(xml.split('\n').length, 2, 'one line after the declaration');
  // JSON: every scalar is a string.
  const j = JSON.parse(dumpJson(sample(true)));
  const scalars: unknown[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    else scalars.push(v);
  };
  walk(j);
  assert.ok(scalars.length > 1000);
  assert.ok(scalars.every((s) => typeof s === 'string'));
  assert.equal(j.rra.length, 10, 'host layout: AVG 5 s, AVG/MIN/MAX for 1 min, 1 h, 1 day');
});

test('parseDumpXml(dumpXml(x)) renders identically, internal and external', () => {
  for (const minMax of [false, true]) {
    const rrd = sample(minMax, 400);
    for (const internal of [false, true]) {
      const text = dumpXml(rrd, { internal });
      const back = parseDumpXml(text);
      assert.equal(dumpXml(back, { internal }), text);
      assert.equal(dumpJson(parseDumpXml(dumpXml(rrd, { internal: true }))), dumpJson(rrd));
    }
    assert.deepEqual(
      dsDefs(parseDumpXml(dumpXml(rrd))),
      DS.map((d) => ({ ...d })),
    );
  }
});

test('a reloaded RRD goes on as the original (internal dump keeps fractional times)', () => {
  const a = sample(true, 100);
  const b = parseDumpXml(dumpXml(a, { internal: true }));
  for (let i = 101; i < 400; i++) {
    const m = new Map([
      ['cpu0', 1000 + i * 2],
      ['memory', 5e8],
      ['vif_0_rx', 100 * i],
    ]);
    const t = T0 + 2 + 5 * i + (i % 3) * 0.25;
    updateRrd(a, t, m);
    updateRrd(b, t, m);
  }
  // CDPs in preparation went through 15-digit text: equal within float tolerance.
  const { diffs, known } = compareArchives(
    berthArchives(b),
    berthArchives(a),
    DS.map((d) => d.name),
  );
  assert.deepEqual(diffs, []);
  assert.ok(known > 300, `compared ${known}`);
  assert.equal(b.lastUpdated, a.lastUpdated);
  assert.equal(lastValue(b, 'memory'), 5e8);
});

/** Old and pretty-printed dumps: xff as `0.5000`, whitespace between elements. */
function oldStyle(xml: string): string {
  return xml.replaceAll('<xff>0.5</xff>', '<xff>0.5000</xff>').replaceAll('><', '>\n\t<');
}

test('reads older dumps: xff 0.5000, whitespace, no last_updated', () => {
  const rrd = sample(false);
  const back = parseDumpXml(oldStyle(dumpXml(rrd)));
  assert.equal(dumpXml(back), dumpXml(rrd));
});

test('negative min is read as 0 (negative history becomes NaN); repeated names keep the last', () => {
  const rrd = createRrd({ time: T0, ds: [{ name: 'g', type: 'GAUGE', min: -10, max: 10 }], minMax: false });
  updateRrd(rrd, T0 + 5, new Map([['g', -4]]));
  updateRrd(rrd, T0 + 10, new Map([['g', 3]]));
  const back = parseDumpXml(dumpXml(rrd));
  assert.equal(back.ds[0].min, 0);
  const rows = berthArchives(back)[0].rows;
  assert.ok(Number.isNaN(rows.get(T0 + 5)?.[0]));
  assert.equal(rows.get(T0 + 10)?.[0], 3);

  const two = createRrd({
    time: T0,
    ds: [
      { name: 'a', type: 'GAUGE', min: 0, max: 100 },
      { name: 'b', type: 'GAUGE', min: 0, max: 100 },
    ],
    minMax: false,
  });
  updateRrd(
    two,
    T0 + 5,
    new Map([
      ['a', 1],
      ['b', 2],
    ]),
  );
  const dup = dumpXml(two).replaceAll('<name>b</name>', '<name>a</name>');
  const read = parseDumpXml(dup);
  assert.deepEqual(
    read.ds.map((d) => d.name),
    ['a'],
  );
  assert.equal(lastValue(read, 'a'), 2, 'the last instance stays (xapi removes the first ones)');
});

test('rrdtool restore reads Berth dumps; its archives hold the same values', (t) => {
  for (const minMax of [false, true]) {
    const rrd = sample(minMax, 1500);
    const dir = tempDir(t, 'berth-rrd-engine-');
    const theirs = rrdtoolRestore(dir, dumpXml(rrd));
    const { diffs, known } = compareArchives(
      berthArchives(rrd),
      theirs,
      DS.map((d) => d.name),
    );
    assert.deepEqual(diffs, []);
    assert.ok(known > 500);
  }
});

/** Throws RrdFormatError, within `ms`. */
function refused(text: string, re?: RegExp, ms = 5000) {
  const t = performance.now();
  assert.throws(
    () => parseDumpXml(text),
    (e: unknown) => e instanceof RrdFormatError && (!re || re.test(e.message)),
  );
  const took = performance.now() - t;
  assert.ok(took < ms, `took ${took} ms`);
}

test('corrupt or hostile dumps are refused with RrdFormatError', () => {
  const good = dumpXml(sample(false, 50), { internal: true });
  // Truncated anywhere.
  for (let k = 1; k < 40; k++) refused(good.slice(0, Math.floor((good.length * k) / 40)));
  refused('');
  refused('not xml at all');
  refused('<rrd/>', /missing/);
  refused(good.replace('<type>DERIVE</type>', '<type>COUNTER</type>'), /bad type/);
  refused(good.replace('<step>5</step>', '<step>five</step>'), /step/);
  refused(good.replace('<step>5</step>', '<step>-5</step>'), /step/);
  refused(good.replace('<lastupdate>', '<lastupdate>x'), /lastupdate/);
  refused(good.replace('<min>0.0</min>', ''), /missing <min>/);
  refused(good.replace('<max>1</max>', '<max>-1</max>'), /min\/max/);
  refused(good.replace('<cf>AVERAGE</cf>', '<cf>MEDIAN</cf>'), /bad cf/);
  refused(good.replace('<pdp_per_row>12</pdp_per_row>', '<pdp_per_row>0</pdp_per_row>'), /pdp_per_row/);
  refused(good.replace('<xff>0.5</xff>', '<xff>2</xff>'), /xff/);
  refused(good.replace('<row><v>', '<row><v>1</v><v>'), /a row of 4 values/);
  refused(good.replace(/<v>[^<]*<\/v><\/row>/, '</row>'), /a row of 2 values/);
  refused(good.replace('<v>NaN</v>', '<v>12abc</v>'), /not a number/);
  refused(good.replace(/<cdp_prep><ds>.*?<\/ds>/, '<cdp_prep>'), /cdp_prep entries/);
  refused(good.replace(/<database>.*?<\/database>/, '<database></database>'), /no rows/);
  refused(good.replace('<rrd>', '<rrd><extra>1</extra>'), /unexpected <extra>/);
  refused(good.replace('<rrd>', '<rrd a="1">'), /attributes/);
  refused(`<!DOCTYPE rrd [<!ENTITY x "y">]>${good.slice(good.indexOf('<rrd>'))}`, /DOCTYPE/);
  refused(good.replace('<name>cpu0</name>', '<name>&bomb;</name>'));
  refused(`${good}<rrd></rrd>`);
  // 10 MB of garbage, and 10 MB of well-formed rows of the wrong width: refused, quickly.
  const rnd = Buffer.alloc(10 << 20);
  for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 2654435761) >>> 24;
  refused(rnd.toString('latin1'));
  const start = good.slice(0, good.indexOf('<database>') + '<database>'.length);
  refused(
    `${start}${'<row><v>1</v></row>'.repeat(550_000)}</database></rra></rrd>`,
    /a row of 1 values/,
    20_000,
  );
  assert.throws(() => parseDumpXml(42 as unknown as string), RrdFormatError);
});
