// Test-only nouns for the core's tests, so they do not depend on the real nouns (written by other
// slices): `testvm` over the VM class (templates and dom0 left out) with verbs exercising each of
// the runner's print rules, and an in-process runner with captured streams.
import { Writable } from 'node:stream';
import { runCli } from '../../../src/clients/berth/runner.js';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import type { NounSpec } from '../../../src/clients/berth/spec.js';
import { listVerb } from '../../../src/clients/berth/verbs/list.js';
import { CliError } from '../../../src/clients/berth/errors.js';

export const TEST_VM: NounSpec = {
  name: 'testvm',
  aliases: ['tvm'],
  summary: 'virtual machines (a test noun)',
  xapiClass: 'VM',
  filter: (r) => r.is_a_template !== true && r.is_control_domain !== true,
  listColumns: ['uuid', 'name_label', 'power_state'],
  verbs: [
    listVerb(),
    {
      name: 'show',
      summary: 'the selected object',
      target: 'one',
      examples: ['berth testvm -n web01 show'],
      options: [
        { short: 'x', long: 'extra', kind: 'value', help: 'an extra value' },
        { long: 'size', kind: 'value', type: 'size', help: 'a size' },
        { short: 'f', long: 'force', kind: 'flag', help: 'a flag' },
      ],
      run: async (_ctx, target) => target as ApiObject,
    },
    { name: 'ok', summary: 'returns true', target: 'one', run: async () => true },
    { name: 'nothing', summary: 'returns nothing', target: 'none', run: async () => undefined },
    { name: 'fail', summary: 'returns false', target: 'none', run: async () => false },
    {
      name: 'echo',
      summary: 'prints its options and arguments',
      target: 'none',
      options: [{ short: 'o', long: 'opt', kind: 'value', repeat: true, help: 'repeatable' }],
      run: async (ctx) => JSON.stringify({ opts: ctx.opts, args: ctx.args, selection: ctx.selection }),
    },
    {
      name: 'lines',
      summary: 'yields lines',
      target: 'none',
      run: async () =>
        (async function* () {
          yield 'one';
          yield '';
          yield 'two';
        })(),
    },
    {
      name: 'status',
      summary: 'an explicit status',
      target: 'none',
      run: async () => ({ exitCode: 2, message: 'half done' }),
    },
    {
      name: 'xapierr',
      summary: 'a XenAPI error',
      target: 'none',
      run: async (ctx) => String(await ctx.api.call('VM.get_record', 'OpaqueRef:does-not-exist')),
    },
    {
      name: 'expire',
      summary: 'ends its own session, then calls',
      target: 'none',
      run: async (ctx) => {
        await ctx.api.call('session.logout');
        return String(await ctx.api.call('VM.get_all'));
      },
    },
    {
      name: 'progress',
      summary: 'reports progress',
      target: 'none',
      run: async (ctx) => {
        ctx.out.progress('copying', 0.5);
        ctx.out.progress('copying', 1);
        ctx.out.progressDone();
        return true;
      },
    },
    {
      name: 'hang',
      summary: 'says ready, then waits forever',
      target: 'none',
      run: async (ctx) => {
        ctx.out.line('ready');
        return new Promise<undefined>(() => setInterval(() => {}, 1000));
      },
    },
    {
      name: 'tpl',
      summary: 'takes a template',
      target: 'none',
      usesTemplate: true,
      options: [{ short: 'm', long: 'memory', kind: 'value', type: 'size', help: 'memory' }],
      run: async (ctx) => JSON.stringify(ctx.opts),
    },
    {
      name: 'clierr',
      summary: 'a CliError',
      target: 'none',
      run: async () => {
        throw new CliError('something went wrong', 251, 'with detail');
      },
    },
    {
      name: 'crash',
      summary: 'a plain Error',
      target: 'none',
      run: async () => {
        throw new Error('unexpected');
      },
    },
  ],
};

export const TEST_HOST: NounSpec = {
  name: 'testhost',
  summary: 'hosts (a test noun)',
  xapiClass: 'host',
  nameField: 'hostname',
  listColumns: ['uuid', 'hostname'],
  nounOptions: [{ short: 'f', long: 'from', kind: 'value', type: 'int', help: 'an extra noun option' }],
  verbs: [listVerb()],
};

export const TEST_NOUNS = [TEST_VM, TEST_HOST];

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

/** The runner in-process over the test nouns (or `nouns`); `tty` makes stdout and stderr terminals. */
export async function runInProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; tty?: boolean; nouns?: NounSpec[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture(opts.tty);
  const stderr = new Capture(opts.tty);
  const env = { HOME: '/nonexistent', BERTH_XAPI_SOCKET: '/nonexistent/xapi.sock', ...opts.env };
  const code = await runCli(args, opts.nouns ?? TEST_NOUNS, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
