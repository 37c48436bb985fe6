// planDelta: which ranges a differential export sends without reading and which it compares.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planDelta } from '../../../src/manager/dataplane/raw-vdi-extents.js';

const M = 1024 * 1024;
const e = (offset: number, length: number, depth: number) => ({
  offset: offset * M,
  length: length * M,
  depth,
});
const r = (offset: number, length: number) => ({ offset: offset * M, length: length * M });

test('thin SR: top-layer ranges of either disk are sent, deeper ranges compared', () => {
  // VDI: own writes at 4-6, a deeper layer at 0-4 and 6-8; base: own writes at 10-11, deeper 0-8.
  const vdi = [e(0, 4, 2), e(4, 2, 1), e(6, 2, 2), e(8, 8, 0)];
  const base = [e(0, 8, 2), e(8, 2, 0), e(10, 1, 1), e(11, 5, 0)];
  const p = planDelta(vdi, base, true);
  assert.deepEqual(p.direct, [r(4, 2), r(10, 1)]);
  assert.deepEqual(p.compare, [r(0, 4), r(6, 2)]);
});

test('thick SR: everything allocated in either disk is compared, nothing sent unread', () => {
  const vdi = [e(0, 4, 1), e(4, 12, 0)];
  const base = [e(0, 2, 1), e(2, 6, 0), e(8, 1, 1), e(9, 7, 0)];
  const p = planDelta(vdi, base, false);
  assert.deepEqual(p.direct, []);
  assert.deepEqual(p.compare, [r(0, 4), r(8, 1)]);
});

test('nothing allocated: nothing to send or compare', () => {
  const p = planDelta([e(0, 16, 0)], [e(0, 16, 0)], true);
  assert.deepEqual(p, { direct: [], compare: [] });
});
