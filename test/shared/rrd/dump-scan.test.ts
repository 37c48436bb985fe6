// The fast dump reader (dump-scan.ts): same RRDs as the SAX reader, its number reader exact, and
// RRDs it reads render `/rrd_updates` as the RRDs they were dumped from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dumpJson, dumpXml, parseDumpXml } from '../../../src/shared/rrd/dump.js';
import { canonicalNumber, scanDump, wasCanonical } from '../../../src/shared/rrd/dump-scan.js';
import { formatFloat } from '../../../src/shared/rrd/format.js';
import { createRrd, type Rrd, updateRrd } from '../../../src/shared/rrd/rrd.js';
import type { DsDef } from '../../../src/shared/rrd/types.js';
import { rrdUpdates } from '../../../src/shared/rrd/xport.js';

const T0 = 1_700_000_000;
const DS: DsDef[] = [
  { name: 'cpu0', type: 'DERIVE', min: 0, max: 1 },
  { name: 'memory', type: 'GAUGE', min: 0, max: Number.POSITIVE_INFINITY },
  { name: 'tiny', type: 'GAUGE', min: 0, max: Number.POSITIVE_INFINITY },
  { name: 'vif_0_rx', type: 'ABSOLUTE', min: 0, max: Number.POSITIVE_INFINITY },
];

/** Readings of every shape: fractions, big and tiny (exponent form), unknowns, out of range. */
function sample(minMax: boolean, updates: number): Rrd {
  const rrd = createRrd({ time: T0 + 2, ds: DS, minMax });
  let cpu = 100;
  for (let i = 1; i <= updates; i++) {
    cpu += (i % 7) * 0.37;
    const values = new Map<string, number>([
      ['cpu0', cpu],
      ['memory', 1_073_741_824 - i * 4096.5],
      ['tiny', i % 5 === 0 ? 1e-7 * i : i % 5 === 1 ? 3e17 + i : -i / 3],
      ['vif_0_rx', i % 11 === 0 ? -1 : i * 1234.5],
    ]);
    if (i % 13 === 0) values.delete('memory');
    updateRrd(rrd, T0 + 2 + 5 * i + (i % 3) * 0.25, values);
  }
  return rrd;
}

/** The same dump the fast reader leaves to saxes (one newline after <rrd>). */
const viaSax = (xml: string) => xml.replace('<rrd>', '<rrd>\n');

test('the fast reader takes dumpXml output; the SAX reader gets the rest', () => {
  const xml = dumpXml(sample(true, 50), { internal: true });
  assert.ok(scanDump(xml, 12));
  assert.ok(scanDump(dumpXml(sample(false, 50)), 12));
  assert.equal(scanDump(viaSax(xml), 12), undefined);
  assert.equal(scanDump(xml.replace('<name>cpu0</name>', '<name>c&amp;pu0</name>'), 12), undefined);
  assert.equal(scanDump(xml.replace('<v>NaN</v>', '<v>abc</v>'), 12), undefined);
  assert.equal(scanDump(`${xml}<!-- -->`, 12), undefined);
});

test('both readers give the same RRD, and it renders /rrd_updates as the original', () => {
  for (const minMax of [false, true]) {
    const rrd = sample(minMax, 900);
    for (const internal of [false, true]) {
      const xml = dumpXml(rrd, { internal });
      const fast = parseDumpXml(xml);
      const sax = parseDumpXml(viaSax(xml));
      assert.equal(dumpXml(fast, { internal: true }), dumpXml(sax, { internal: true }));
      assert.equal(dumpJson(fast), dumpJson(sax));
      for (const q of [
        { start: T0 + 4000, interval: 5 },
        { start: T0, interval: 60 },
        { start: T0 + 4400, interval: 5 },
      ]) {
        for (const json of [false, true]) {
          const want = rrdUpdates([{ owner: 'vm', uuid: 'u', rrd }], q, json);
          assert.equal(rrdUpdates([{ owner: 'vm', uuid: 'u', rrd: fast }], q, json), want);
          assert.equal(rrdUpdates([{ owner: 'vm', uuid: 'u', rrd: sax }], q, json), want);
        }
      }
    }
  }
});

test('a reloaded RRD renders every row (the second newest too)', () => {
  const rrd = createRrd({ time: T0, ds: [DS[1]], minMax: false });
  for (let i = 1; i <= 50; i++) updateRrd(rrd, T0 + 5 * i, new Map([['memory', i]]));
  for (const text of [dumpXml(rrd), viaSax(dumpXml(rrd))]) {
    const body = rrdUpdates(
      [{ owner: 'vm', uuid: 'u', rrd: parseDumpXml(text) }],
      { start: T0 + 200, interval: 5 },
      false,
    );
    assert.match(body, /<row><t>1700000245<\/t><v>49<\/v><\/row>/);
    assert.doesNotMatch(body, /<\/t><\/row>/);
  }
});

test('canonicalNumber: exact; canonical only for formatFloat’s own text, its fixed forms always', () => {
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  let fixed = 0;
  for (let k = 0; k < 200_000; k++) {
    const mag = 10 ** Math.floor(rnd() * 50 - 25);
    const x = (rnd() - 0.3) * mag * (k % 3 === 0 ? 1 : Math.round(rnd() * 1e6) / 1e6);
    for (const s of [formatFloat(x), String(x), x.toFixed(3), x.toPrecision(17)]) {
      const v = canonicalNumber(s, 0, s.length);
      assert.ok(Object.is(v, Number(s)) || (v === 0 && Number(s) === 0), `${s} read as ${v}`);
      if (wasCanonical()) assert.equal(formatFloat(v as number), s);
      if (s === formatFloat(x) && !s.includes('e')) {
        assert.ok(wasCanonical(), `${s} is formatFloat's`);
        fixed++;
      }
    }
  }
  assert.ok(fixed > 50_000, `${fixed} fixed forms`);
  const yes = [
    '0.0',
    '1',
    '1.5',
    '-7.25',
    '0.0001',
    '123456789012345',
    '0.123456789012345',
    'NaN',
    'Infinity',
    '-Infinity',
  ];
  const no = [
    '0',
    '-0.0',
    '01',
    '1.50',
    '0.00001',
    '1e-05',
    '1234567890123456',
    '0.1234567890123456',
    'nan',
    'inf',
    '+1',
    '5.',
    '.5',
    '1e+15',
  ];
  for (const s of yes) {
    canonicalNumber(s, 0, s.length);
    assert.ok(wasCanonical(), s);
  }
  for (const s of no) {
    canonicalNumber(s, 0, s.length);
    assert.ok(!wasCanonical(), s);
  }
});
