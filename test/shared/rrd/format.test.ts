// formatFloat (§6.2) against C's own %0.15g (awk's printf uses the C library on doubles).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { formatFloat } from '../../../src/shared/rrd/format.js';

test('xapi special forms: 0.0, NaN, Infinity, -Infinity; %0.15g otherwise', () => {
  assert.equal(formatFloat(0), '0.0');
  assert.equal(formatFloat(-0), '0.0');
  assert.equal(formatFloat(Number.NaN), 'NaN');
  assert.equal(formatFloat(Number.POSITIVE_INFINITY), 'Infinity');
  assert.equal(formatFloat(Number.NEGATIVE_INFINITY), '-Infinity');
  assert.equal(formatFloat(1), '1');
  assert.equal(formatFloat(300), '300');
  assert.equal(formatFloat(0.5), '0.5');
  assert.equal(formatFloat(1.23e-5), '1.23e-05');
  assert.equal(formatFloat(0.0001), '0.0001');
  assert.equal(formatFloat(1e15), '1e+15');
  assert.equal(formatFloat(123456789012345), '123456789012345');
  assert.equal(formatFloat(1 / 3), '0.333333333333333');
  assert.equal(formatFloat(-2.5e300), '-2.5e+300');
  // Exact ties at the 16th digit round half to even as C does (JS would round them up).
  assert.equal(formatFloat(476838481137920.5), '476838481137920');
  assert.equal(formatFloat(4970070564448.625), '4970070564448.62');
});

test('matches the C library on 20,000 numbers of every magnitude', () => {
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const xs: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const e = Math.floor(rnd() * 60) - 30;
    const x = (rnd() - 0.5) * 10 ** e;
    // Every 4th: a number with few binary digits, so exact ties at the 16th digit occur.
    xs.push(i % 4 === 0 ? Math.round(x * 8) / 8 : x);
  }
  xs.push(99999999999999.95, 0.00009999999999999999, 1e-5, 999999999999999.9, 5e-324, 1.7976931348623157e308);
  const c = execFileSync('awk', ['{ printf "%.15g\\n", $1 }'], {
    input: `${xs.map((x) => String(x)).join('\n')}\n`,
  })
    .toString()
    .trim()
    .split('\n');
  const bad = xs.filter((x, i) => x !== 0 && formatFloat(x) !== c[i]).map((x) => `${x}: ${formatFloat(x)}`);
  assert.deepEqual(bad.slice(0, 10), []);
});
