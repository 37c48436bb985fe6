// `-h` of the real nouns (NOUNS, not the grammar tests' stand-ins) as golden files, so that a
// change to a real noun's or verb's help shows in review (UPDATE_GOLDEN=1 rewrites them).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NOUNS } from '../../../src/clients/berth/nouns/index.js';
import { assertGolden } from '../../helpers/golden.js';
import { runInProcess } from './fixtures.js';

const GOLDEN = join(import.meta.dirname, 'golden');

describe('-h of the real nouns (golden)', () => {
  const levels: [string, string[]][] = [
    ['real-help-global.txt', ['-h']],
    ['real-help-vm.txt', ['vm', '-h']],
    ['real-help-host.txt', ['host', '-h']],
  ];
  for (const [file, args] of levels)
    it(`berth ${args.join(' ')}`, async () => {
      const r = await runInProcess(args, { nouns: NOUNS });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assertGolden(join(GOLDEN, file), r.stdout);
    });
  it('the global help names every real noun', async () => {
    const { stdout } = await runInProcess(['-h'], { nouns: NOUNS });
    for (const n of NOUNS) assert.match(stdout, new RegExp(`\\n {4}${n.name}\\b`), n.name);
  });
});
