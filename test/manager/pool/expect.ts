import assert from 'node:assert/strict';
import { XenApiError } from '../../../src/clients/sdk/client.js';

/** Awaits `p` and asserts it failed with the XenAPI error `code`. */
export async function expectError(p: Promise<unknown>, code: string): Promise<XenApiError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof XenApiError, `expected ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code} ${e.params}`);
    return e;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}
