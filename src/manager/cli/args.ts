// Server-side parsing of the lines a thin client sends: the command name and its parameters,
// plus xapi's value syntaxes (booleans, sizes).
import { CliError } from './errors.js';

export type Params = [string, string][];

export interface CommandLine {
  cmd: string;
  params: Params;
}

/** Single-dash switches the server understands (everything else is a syntax error). */
const SWITCHES: Record<string, string> = {
  '-u': 'username',
  '-pw': 'password',
  '-s': 'server',
  '-h': 'server',
  '-p': 'port',
};

/** Tokenises the arguments after the command name (xapi's parse_params). */
export function parseParams(args: string[]): Params {
  const out: Params = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) out.push([a.slice(2), 'true']);
    else if (a.startsWith('-')) {
      const name = SWITCHES[a];
      if (!name || i + 1 >= args.length) throw CliError.syntax();
      out.push([name, args[++i]]);
    } else {
      const eq = a.indexOf('=');
      out.push(eq < 0 ? [a, ''] : [a.slice(0, eq), a.slice(eq + 1)]);
    }
  }
  return out;
}

/** The body of POST /cli: one argument per line (a trailing CR dropped). */
export function parseBody(body: string): { session?: string; args: string[] } {
  const lines = body.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[0]?.startsWith('session_id=')) return { session: lines[0].slice(11), args: lines.slice(1) };
  return { args: lines };
}

export function parseCommandLine(args: string[]): CommandLine {
  const [cmd, ...rest] = args;
  if (cmd === undefined || cmd === '' || cmd.includes('=')) throw CliError.syntax();
  return { cmd, params: parseParams(rest) };
}

export function getParam(params: Params, name: string): string | undefined {
  for (const [k, v] of params) if (k === name) return v;
  return undefined;
}

export function hasParam(params: Params, name: string): boolean {
  return params.some(([k]) => k === name);
}

export function requireParam(params: Params, name: string): string {
  const v = getParam(params, name);
  if (v === undefined) throw CliError.missing(name);
  return v;
}

/** `map-name:key=value` parameters, as [key, value] pairs. */
export function mapParams(params: Params, map: string): [string, string][] {
  const prefix = `${map}:`;
  return params.filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]);
}

const TRUE = ['true', 't', 'yes', 'y', '1'];
const FALSE = ['false', 'f', 'no', 'n', '0'];

export function parseBool(name: string, v: string): boolean {
  const l = v.toLowerCase();
  if (TRUE.includes(l)) return true;
  if (FALSE.includes(l)) return false;
  throw new CliError(
    `Failed to parse parameter '${name}': Expected 'true','t','yes','y','1','false','f','no','n','0' got ${v}`,
  );
}

export function boolParam(params: Params, name: string, dflt = false): boolean {
  const v = getParam(params, name);
  return v === undefined ? dflt : parseBool(name, v);
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  bytes: 1,
  k: 2 ** 10,
  kb: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mb: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gb: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tb: 2 ** 40,
  tib: 2 ** 40,
};

/** Sizes: an integer with an optional binary unit (`10GiB`, `512 m`). */
export function parseSize(name: string, v: string): number {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = m && UNITS[m[2].toLowerCase()];
  if (!m || unit === undefined || unit === null)
    throw new CliError(`Failed to parse parameter '${name}': expecting a size, got ${v}`);
  const n = Number(m![1]) * unit;
  if (!Number.isSafeInteger(n))
    throw new CliError(`Failed to parse parameter '${name}': size too large: ${v}`);
  return n;
}
