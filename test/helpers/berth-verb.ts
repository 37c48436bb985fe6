// Runs one `berth` verb in-process against a real manager, without the command-line layer: for
// tests of a noun's verbs. The end-to-end tests spawn the CLI itself.
import { Api, type ApiObject } from '../../src/clients/berth/api.js';
import type { NounSpec, Output, Selection, VerbOutcome } from '../../src/clients/berth/spec.js';
import { XenApiClient } from '../../src/clients/sdk/client.js';

export async function connectApi(url: string, password: string): Promise<Api> {
  const client = new XenApiClient({ url, allowUnauthorized: true });
  await client.login('root', password, 'berth-test');
  return new Api(client);
}

export function captureOutput(): Output & { lines: string[]; progressSeen: number[] } {
  const lines: string[] = [];
  const progressSeen: number[] = [];
  return {
    isTTY: false,
    colour: false,
    lines,
    progressSeen,
    line: (text) => lines.push(text),
    progress: (_label, f) => progressSeen.push(f),
    progressDone: () => {},
  };
}

export async function runVerb(
  api: Api,
  noun: NounSpec,
  verbName: string,
  target: ApiObject | ApiObject[] | undefined,
  opts: Record<string, unknown> = {},
  args: string[] = [],
  selection: Selection = {},
): Promise<{ outcome: VerbOutcome; out: ReturnType<typeof captureOutput> }> {
  const verb = noun.verbs.find((v) => v.name === verbName || v.aliases?.includes(verbName));
  if (!verb) throw new Error(`no verb ${verbName} on ${noun.name}`);
  const out = captureOutput();
  const outcome = await verb.run({ api, out, noun, verb, selection, opts, args }, target);
  return { outcome, out };
}
