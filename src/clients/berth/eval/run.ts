// `berth eval [-v name value]* [-e env.yaml]* script.mjs [args…]`: runs a JavaScript module
// against a connected context (oVirtCmd's eval). The module's default export is called as
//   export default async function ({ context, variables, args, parseSize, NotFoundError,
//                                    eventWaiter, print }) { … }
// and a number it returns is the exit code. The session is logged out and the connection
// closed afterwards, whatever the script did.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Api } from '../api.js';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';
import { NOUNS } from '../nouns/index.js';
import { parseSize } from '../size.js';
import type { NounSpec, Output } from '../spec.js';
import { EvalContext, NotFoundError } from './context.js';
import { scriptVariables } from './environment.js';
import { eventWaiter, type ObjectFilter, type WaiterEvent, type WaiterOptions } from './event-waiter.js';

export interface EvalArgs {
  /** `-h`: print the usage, run nothing. */
  help?: boolean;
  variables: Record<string, string>;
  environments: string[];
  script: string;
  args: string[];
}

/** Splits eval's own options from the script and its arguments (options only before the script). */
export function parseEvalArgs(argv: readonly string[]): EvalArgs {
  const variables: Record<string, string> = {};
  const environments: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return { help: true, variables, environments, script: '', args: [] };
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-v' || a === '-V' || a === '--variable') {
      if (argv[i + 1] === undefined || argv[i + 2] === undefined)
        throw new CliError(`${a} option requires 2 arguments`, EXIT_USAGE);
      variables[argv[i + 1]] = argv[i + 2];
      i += 2;
    } else if (a === '-e' || a === '--environment') {
      if (argv[i + 1] === undefined) throw new CliError(`${a} option requires an argument`, EXIT_USAGE);
      environments.push(argv[++i]);
    } else if (a.startsWith('-') && a !== '-') {
      throw new CliError(`no such option: ${a}`, EXIT_USAGE);
    } else break;
  }
  const script = argv[i];
  if (script === undefined) throw new CliError('no script to evaluate', EXIT_USAGE);
  return { variables, environments, script, args: argv.slice(i + 1) };
}

/** What the script's default export receives. */
export interface ScriptScope {
  context: EvalContext;
  variables: Record<string, unknown>;
  args: string[];
  parseSize: typeof parseSize;
  NotFoundError: typeof NotFoundError;
  eventWaiter: <T>(
    context: EvalContext,
    filter: ObjectFilter,
    eventsOut: WaiterEvent[] | null,
    opts?: WaiterOptions,
    body?: () => T | Promise<T>,
  ) => ReturnType<typeof eventWaiter<T>>;
  /** A line on berth's output (console.log works too). */
  print: (text: unknown) => void;
}

async function loadScript(path: string): Promise<(scope: ScriptScope) => unknown> {
  const file = resolve(path);
  if (!existsSync(file)) throw new CliError(`script not found: ${path}`, EXIT_USAGE);
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw asScriptError(e, `cannot load script ${path}: `);
  }
  if (typeof mod.default !== 'function')
    throw new CliError(
      `script ${path} has no default export function (export default async function ({ context }) {…})`,
      EXIT_USAGE,
    );
  return mod.default as (scope: ScriptScope) => unknown;
}

/** A script's failure as berth reports it: its message, exit 251 (a CliError keeps its own). */
function asScriptError(e: unknown, prefix = ''): CliError {
  if (e instanceof CliError && !prefix) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const wrapped = new CliError(`${prefix}${err.message}`, EXIT_FAILED);
  wrapped.stack = err.stack; // --debug shows where the script failed, not where it was wrapped
  (wrapped as { cause?: unknown }).cause = err;
  return wrapped;
}

export const EVAL_USAGE = [
  'usage: berth [options] eval [-v|--variable NAME VALUE]* [-e|--environment FILE.yaml]* SCRIPT.mjs [ARGS...]',
  '',
  'Runs the default export of an ES module with a connected context:',
  '  export default async function ({ context, variables, args, parseSize, NotFoundError, eventWaiter, print }) {...}',
  '',
  'options:',
  '  -v, --variable NAME VALUE     a variable (repeatable; wins over environments)',
  '  -e, --environment FILE.yaml   variables from a YAML template (repeatable, in order)',
  '  -h, --help                    this help',
  '',
  'examples:',
  '  berth eval samples/berth/wait-start.mjs web01',
  '  berth eval -e vms.yaml -v sr "Local storage" samples/berth/create-vms.mjs',
];

export async function runEval(
  connect: () => Promise<Api>,
  out: Output,
  argv: string[],
  nouns: readonly NounSpec[] = NOUNS,
): Promise<number> {
  const a = parseEvalArgs(argv);
  if (a.help) {
    for (const l of EVAL_USAGE) out.line(l);
    return 0;
  }
  const variables = await scriptVariables(a.variables, a.environments);
  const main = await loadScript(a.script);
  const api = await connect();
  try {
    const context = new EvalContext(api, nouns, out);
    // Objects print as their label (`VM <uuid> <name>`), plain data as JSON.
    const print = (text: unknown) =>
      out.line(
        typeof text === 'string'
          ? text
          : text && typeof text === 'object' && !(Symbol.iterator in text) && 'ref' in text
            ? String(text)
            : typeof text === 'object' && text !== null
              ? JSON.stringify(text, null, 2)
              : String(text),
      );
    const result = await main({
      context,
      variables,
      args: a.args,
      parseSize,
      NotFoundError,
      eventWaiter: (c, filter, eventsOut, opts = {}, body) =>
        eventWaiter(c.api, filter, eventsOut, { print, ...opts }, body),
      print,
    });
    return typeof result === 'number' && Number.isInteger(result) && result >= 0 && result < 256 ? result : 0;
  } catch (e) {
    throw asScriptError(e);
  } finally {
    await api.client.logout().catch(() => undefined);
    api.client.close();
  }
}
