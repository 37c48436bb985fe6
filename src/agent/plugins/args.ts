// Plugin arguments arrive as a flat string -> string map; these helpers parse them the way the
// upstream python plugins do (strtobool, comma lists, JSON) and fail with a clear PluginFailure.
import { PluginFailure } from './failure.js';

export type PluginArgs = Readonly<Record<string, string>>;

const TRUE = new Set(['y', 'yes', 't', 'true', 'on', '1']);
const FALSE = new Set(['n', 'no', 'f', 'false', 'off', '0']);

/** xcpngutils.strtobool: empty/absent is false, otherwise the usual truth words. */
export function strtobool(value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  const v = value.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new PluginFailure('-1', `invalid truth value ${pyQuote(value)}`);
}

const pyQuote = (s: string) => `'${s}'`;

/** An argument that must be present (upstream KeyError: the message is the quoted key). */
export function required(args: PluginArgs, key: string): string {
  if (!Object.hasOwn(args, key)) {
    throw new PluginFailure('-1', pyQuote(key), `missing required argument ${pyQuote(key)}`);
  }
  return args[key];
}

export function optional(args: PluginArgs, key: string): string | undefined {
  return Object.hasOwn(args, key) ? args[key] : undefined;
}

/** A boolean argument; absent means false. */
export function flag(args: PluginArgs, key: string): boolean {
  try {
    return strtobool(optional(args, key));
  } catch (e) {
    if (e instanceof PluginFailure) throw new PluginFailure(e.code, e.message, `argument ${pyQuote(key)}`);
    throw e;
  }
}

/** "a,b,c" -> ["a","b","c"], items trimmed; empty items are an error. */
export function commaList(value: string, key: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) {
    throw new PluginFailure('-1', `Empty item in comma-separated argument ${pyQuote(key)}`, value);
  }
  return items;
}

/** A JSON-encoded argument. */
export function jsonArg(args: PluginArgs, key: string): unknown {
  const raw = required(args, key);
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new PluginFailure('-1', `Argument ${pyQuote(key)} is not valid JSON`, (e as Error).message);
  }
}
