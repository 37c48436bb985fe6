// Helpers of the compute nouns' tests (vm, vdi, template…): a network to put NICs on, an object
// by name, and the CliError check every bad-input case makes.
import assert from 'node:assert/strict';
import type { Api, ApiObject } from '../../../src/clients/berth/api.js';
import { CliError } from '../../../src/clients/berth/errors.js';

export async function newNetwork(api: Api, name: string): Promise<string> {
  return (await api.call('network.create', {
    name_label: name,
    name_description: '',
    MTU: 1500,
    other_config: {},
    tags: [],
  })) as string;
}

export async function vmNamed(api: Api, name: string): Promise<ApiObject> {
  const refs = (await api.call('VM.get_by_name_label', name)) as string[];
  assert.equal(refs.length, 1, `one VM named ${name}`);
  return api.byRef('VM', refs[0]);
}

/** `p` fails with a CliError of exit code `code` whose message matches `re`. */
export async function rejectsCli(p: Promise<unknown>, code: number, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CliError, `a CliError, got ${String(e)}`);
    assert.equal(e.exitCode, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}
