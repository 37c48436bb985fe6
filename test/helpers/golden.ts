// Golden-file comparison shared by the golden tests. UPDATE_GOLDEN=1 rewrites the file for a
// developer to review; under CI (CI set and not "false"/"0") it is refused, so a CI run can never
// turn a regression into a new golden and pass.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

const truthy = (v: string | undefined) => v !== undefined && v !== '' && v !== '0' && v !== 'false';

/** Throws if the environment asks to rewrite goldens while running under CI. */
export function assertGoldenUpdateAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!truthy(env.UPDATE_GOLDEN)) return false;
  if (truthy(env.CI)) {
    throw new Error(
      'UPDATE_GOLDEN is refused under CI (CI is set): goldens are updated by a developer, not by CI',
    );
  }
  return true;
}

/** Asserts `actual` equals the golden file at `path` (rewritten first when UPDATE_GOLDEN allows). */
export function assertGolden(path: string, actual: string, message?: string): void {
  if (assertGoldenUpdateAllowed()) writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'), message ?? `differs from golden ${path}`);
}
