// docs/node-daemon-parity.md stays true: its table has the seed's 83 functions in order, every
// covered row names an existing test file and procedures present in the source, every row left
// out gives its reason, and the coverage figure is the one computed from the table.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  SEED_FUNCTIONS,
  coverage,
  coverageLine,
  parseParityTable,
  problems,
  procedureSources,
} from '../../tools/parity-coverage.js';

const root = join(import.meta.dirname, '..', '..');
const md = readFileSync(join(root, 'docs', 'node-daemon-parity.md'), 'utf8');

test('the parity table is complete, its rows hold, its figure is computed', () => {
  assert.equal(SEED_FUNCTIONS.length, 83);
  assert.equal(new Set(SEED_FUNCTIONS).size, 83);
  assert.deepEqual(problems(md, root, procedureSources(root)), []);
});

test('the checks catch a stale figure, a missing row, a missing test and a reasonless omission', () => {
  const src = procedureSources(root);
  const c = coverage(parseParityTable(md));
  assert.equal(c.covered + c.inProgress + c.leftOut, 83);
  const stale = md.replace(coverageLine(c), coverageLine({ ...c, covered: c.covered + 1 }));
  assert.ok(problems(stale, root, src).some((p) => p.startsWith('stale figure')));
  const dropped = md.replace(/^\| 83 \|.*\n/m, '');
  assert.ok(problems(dropped, root, src).some((p) => p.includes("differ from the seed's 83")));
  const noTest = md.replace(
    'test/agent/node-storage/rpc.test.ts |\n| 36',
    'test/agent/nowhere.test.ts |\n| 36',
  );
  assert.ok(problems(noTest, root, src).some((p) => p.includes("test file 'test/agent/nowhere.test.ts'")));
  const noProc = md.replace('| `blockdev_wipe` |', '| `blockdev_obliterate` |');
  assert.ok(problems(noProc, root, src).some((p) => p.includes('blockdev_obliterate not found')));
  const noReason = md.replace(/\| — \(DRBD, see 77\) \|/, '| — |');
  assert.ok(problems(noReason, root, src).some((p) => p.includes('left out without a reason')));
  assert.throws(() => parseParityTable('| 1 | X | maybe | a | b | c |'), /unknown status/);
});
