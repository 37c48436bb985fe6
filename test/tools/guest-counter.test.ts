// The serial-counter reading of bench:migrate and the migration e2e tests (test/helpers/
// guest-counter.ts): lines split across chunks and across QEMUs, timestamps, gaps, going back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Chunk, counterLines, counterStats, switchGap, switchGaps } from '../helpers/guest-counter.js';
import { pairLayout, pairOwner } from '../../bench/migrate/veth-pair.js';

const c = (side: string, at: number, text: string): Chunk => ({ side, at, text });

test('a counter line split across chunks takes the time of its last character', () => {
  const lines = counterLines([c('src', 1, '@C1.\n@C'), c('src', 11, '2.\n@C3'), c('dst', 500, '.\n@C4.\n')]);
  assert.deepEqual(lines, [
    { n: 1, at: 1, side: 'src' },
    { n: 2, at: 11, side: 'src' },
    { n: 3, at: 500, side: 'dst' }, // begun by the source, finished by the destination
    { n: 4, at: 500, side: 'dst' },
  ]);
});

test('other console output (echoed input, prompts) between counter lines is ignored', () => {
  const lines = counterLines([c('a', 5, '/ # echo hi\nhi\n@C7.\n/ # @C8.\r\n')]);
  assert.deepEqual(
    lines.map((l) => l.n),
    [7, 8],
  );
});

test('stats: the longest gap, values going back, values skipped', () => {
  const lines = counterLines([
    c('m0', 0, '@C1.\n'),
    c('m0', 10, '@C2.\n'),
    c('m1', 400, '@C3.\n'),
    c('m1', 410, '@C2.\n'),
    c('m1', 420, '@C5.\n'),
  ]);
  const s = counterStats(lines);
  assert.deepEqual(s.maxGap, { ms: 390, from: 2, to: 3, fromSide: 'm0', toSide: 'm1' });
  assert.deepEqual(s.backwards, [{ from: 3, to: 2 }]);
  assert.deepEqual(s.skipped, [{ from: 2, to: 5 }]);
  assert.equal(s.medianStepMs, 10);
  assert.deepEqual(switchGap(lines, 'm0', 'm1'), { ms: 390, from: 2, to: 3 });
  assert.deepEqual(switchGaps(lines), [{ ms: 390, from: 'm0', to: 'm1' }]);
});

test('no lines from the destination: no switch-over gap', () => {
  const lines = counterLines([c('src', 0, '@C1.\n@C2.\n')]);
  assert.equal(switchGap(lines, 'src', 'dst'), undefined);
  assert.deepEqual(switchGaps(lines), []);
  assert.equal(counterStats([]).maxGap.ms, 0);
});

test('the peer namespaces: names carry the pid, interface names fit in 15 characters', () => {
  const l = pairLayout(4194304);
  assert.equal(l.nsA, 'bm-4194304-a');
  assert.equal(pairOwner(l.nsB), 4194304);
  assert.equal(pairOwner('berth-hx-1-2-sw'), undefined);
  const veth = l.setup.find((a) => a.includes('veth'))!;
  for (const name of [veth[4], veth[9]]) assert.ok(name.length <= 15 && name.startsWith('bm'), name);
});
