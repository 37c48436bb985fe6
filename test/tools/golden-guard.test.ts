// UPDATE_GOLDEN must be refused under CI, by the shared helper and by tools/run-tests.sh, so a CI run
// cannot rewrite a golden file and pass.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertGoldenUpdateAllowed } from '../helpers/golden.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
/** The environment for a child test run: without NODE_TEST_CONTEXT, or the child reports to us. */
const childEnv = (extra: Record<string, string>) => {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  return { ...env, ...extra };
};

test('the helper refuses UPDATE_GOLDEN when CI is set, allows it otherwise', () => {
  assert.throws(() => assertGoldenUpdateAllowed({ UPDATE_GOLDEN: '1', CI: 'true' }), /refused under CI/);
  assert.throws(() => assertGoldenUpdateAllowed({ UPDATE_GOLDEN: '1', CI: '1' }), /refused under CI/);
  assert.equal(assertGoldenUpdateAllowed({ UPDATE_GOLDEN: '1' }), true);
  assert.equal(assertGoldenUpdateAllowed({ UPDATE_GOLDEN: '1', CI: 'false' }), true);
  assert.equal(assertGoldenUpdateAllowed({ CI: 'true' }), false);
  assert.equal(assertGoldenUpdateAllowed({ UPDATE_GOLDEN: '0' }), false);
});

test('a golden test run with UPDATE_GOLDEN under CI fails and leaves the golden untouched', (t) => {
  const golden = join(ROOT, 'test/agent/qemu/golden/minimal-tcg.argv');
  const before = readFileSync(golden, 'utf8');
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', 'test/agent/qemu/command-line.test.ts'],
    { cwd: ROOT, env: childEnv({ UPDATE_GOLDEN: '1', CI: 'true' }), encoding: 'utf8', timeout: 120_000 },
  );
  assert.notEqual(run.status, 0, 'the golden test passed with UPDATE_GOLDEN under CI');
  assert.match(run.stdout + run.stderr, /UPDATE_GOLDEN is refused under CI/);
  assert.equal(readFileSync(golden, 'utf8'), before);
  // and tools/run-tests.sh refuses before running anything
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x.test.ts'), '');
  const sh = spawnSync('bash', [join(ROOT, 'tools/run-tests.sh'), dir], {
    env: childEnv({ UPDATE_GOLDEN: '1', CI: 'true' }),
    encoding: 'utf8',
  });
  assert.equal(sh.status, 2);
  assert.match(sh.stderr, /UPDATE_GOLDEN is refused under CI/);
});
