// BERTH_METRICS_PERIOD_MS: only a finite period of at least a second is taken; anything else is
// the default 5 s with one warning (a NaN period made setTimeout spin every millisecond).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricsPeriodMs } from '../../../src/manager/stats/metrics-fields.js';

test('metricsPeriodMs: valid periods taken, bad ones the default with one warning', () => {
  const warnings: unknown[] = [];
  const parse = (text: string | undefined) => metricsPeriodMs(text, (m, f) => warnings.push([m, f]));
  assert.equal(parse(undefined), 5000);
  assert.equal(parse(''), 5000);
  assert.equal(parse('1000'), 1000);
  assert.equal(parse('2500'), 2500);
  assert.equal(warnings.length, 0, 'valid or absent: no warning');
  for (const bad of ['abc', 'NaN', 'Infinity', '-5000', '0', '999', '5s']) {
    assert.equal(parse(bad), 5000, bad);
    assert.equal(warnings.length, 1, `one warning for ${bad}`);
    assert.equal((warnings.pop() as [string, { value: string }])[1].value, bad);
  }
});
