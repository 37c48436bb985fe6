// Every parser's fuzz target, briefly (the long run: npm run fuzz). Each case must end in the
// parser's documented error or an accepted input whose round trips hold, within the time limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runTarget, showInput } from './engine.js';
import { fuzzTargets } from './targets.js';

const CASES = Number(process.env.FUZZ_SUITE_CASES ?? 1500);
const SEED = Number(process.env.FUZZ_SEED ?? 20261205);

for (const target of fuzzTargets()) {
  test(`fuzz ${target.name}: ${CASES} mutated real requests`, () => {
    assert.ok(target.corpus.length > 0, 'the captured corpus is present');
    const stats = runTarget(target, { seed: SEED, cases: CASES, maxFailures: 3 });
    assert.deepEqual(
      stats.failures.map(
        (f) => `case ${f.index} ${f.kind}: ${f.error}\n  minimised: ${showInput(f.minimised)}`,
      ),
      [],
    );
    assert.equal(stats.cases, CASES);
    // The mutants reach both outcomes: some are refused, enough still parse to exercise the
    // decoders and round trips behind the parser.
    assert.ok(stats.accepted >= CASES * 0.05, `only ${stats.accepted} of ${CASES} accepted`);
    if (target.name !== 'http-query') assert.ok(stats.rejected > 0, 'no mutant was refused');
  });
}
