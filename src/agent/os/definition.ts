// OS definitions on disk (Ganeti's DiagnoseOS / _TryOSFromDisk): which directories of the OS
// search paths are OS definitions, their API versions, variants and parameters, and why one is
// not usable. Names are confined: one path component of letters, digits, `.`, `_`, `-`.
import { accessSync, constants, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type { OsDefinition } from '../../shared/host/os.js';

/** The API versions this agent speaks (Ganeti's 10, 15, 20). */
export const API_VERSIONS = [10, 15, 20] as const;
export const OS_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const VARIANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const PARAM_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export type OsScript = 'create' | 'import' | 'export' | 'rename' | 'verify';

const bad = (field: string, value: string, why: string) =>
  new XenApiError('INVALID_VALUE', [field, value, why]);

/** `name+variant` split; INVALID_VALUE for a name that is not one path component. */
export function splitOsName(full: string): { name: string; variant?: string } {
  if (typeof full !== 'string') throw bad('os', String(full), 'an OS name is a string');
  const plus = full.indexOf('+');
  const name = plus < 0 ? full : full.slice(0, plus);
  const variant = plus < 0 ? undefined : full.slice(plus + 1);
  if (!OS_NAME_RE.test(name) || name.includes('..'))
    throw bad('os', full, 'an OS name is letters, digits, ".", "_" and "-" (no "/" or "..")');
  if (variant !== undefined && !VARIANT_RE.test(variant))
    throw bad('os', full, 'a variant is letters, digits, ".", "_" and "-"');
  return { name, variant };
}

/** Lines of a list file, blank and `#` lines left out (pure). */
export function listLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** parameters.list: "name description" per line (pure); a bad name is an error. */
export function parseParameters(text: string): [string, string][] {
  return listLines(text).map((l) => {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    if (!PARAM_RE.test(m[1])) throw new Error(`bad parameter name '${m[1]}' in parameters.list`);
    return [m[1], m[2]];
  });
}

/** ganeti_api_version: integers one per line (pure). */
export function parseApiVersions(text: string): number[] {
  return listLines(text).map((l) => {
    if (!/^\d{1,4}$/.test(l)) throw new Error(`bad API version '${l}'`);
    return Number(l);
  });
}

const readText = (p: string) => readFileSync(p, 'utf8').slice(0, 64 * 1024);

/** Why `file` under `dir` cannot be run (Ganeti's messages), or undefined. */
function scriptProblem(dir: string, file: string): string | undefined {
  const p = join(dir, file);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(p);
  } catch {
    return `File '${file}' under path '${dir}' is missing`;
  }
  if (!st.isFile()) return `File '${file}' under path '${dir}' is not a regular file`;
  if (!(st.mode & 0o100)) return `File '${file}' under path '${dir}' is not executable`;
  // Nobody but its owner may change what root runs.
  if (st.mode & 0o022) return `File '${file}' under path '${dir}' is writable by group or others`;
  try {
    accessSync(p, constants.X_OK);
  } catch {
    return `File '${file}' under path '${dir}' is not executable`;
  }
  return undefined;
}

/** Reads the OS definition in `dir` (named `name`): always an entry, `valid` false with why. */
export function readDefinition(name: string, dir: string): OsDefinition {
  const out: OsDefinition = {
    name,
    path: dir,
    valid: false,
    diagnose: '',
    variants: [],
    parameters: [],
    api_versions: [],
    trusted: true,
  };
  const fail = (why: string) => ({ ...out, diagnose: why });
  let declared: number[];
  try {
    declared = parseApiVersions(readText(join(dir, 'ganeti_api_version')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      return fail(`Required file 'ganeti_api_version' not found under path ${dir}`);
    return fail(
      `Error while reading the API version file at ${join(dir, 'ganeti_api_version')}: ${(e as Error).message}`,
    );
  }
  out.api_versions = declared.filter((v) => (API_VERSIONS as readonly number[]).includes(v));
  if (!out.api_versions.length) {
    out.api_versions = declared;
    return fail(
      `API version mismatch for path '${dir}': found [${declared.join(', ')}], want [${API_VERSIONS.join(', ')}].`,
    );
  }
  const api = Math.max(...out.api_versions);
  const hasUntrusted = !scriptProblem(dir, 'create_untrusted');
  out.trusted = !hasUntrusted;
  const required: string[] = ['import', 'export', 'rename', ...(api >= 20 ? ['verify'] : [])];
  if (scriptProblem(dir, 'create') && !hasUntrusted) {
    const why = scriptProblem(dir, 'create')!;
    return fail(
      why.includes('missing') ? `A create script (trusted or untrusted) under path '${dir}' must exist` : why,
    );
  }
  for (const f of required) {
    const why = scriptProblem(dir, f);
    if (why) return fail(why);
  }
  if (api >= 15) {
    try {
      out.variants = listLines(readText(join(dir, 'variants.list')));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        return fail(`Cannot read variants.list: ${(e as Error).message}`);
    }
    const badVariant = out.variants.find((v) => !VARIANT_RE.test(v));
    if (badVariant) return fail(`Bad variant '${badVariant}' in variants.list under path '${dir}'`);
  }
  if (api >= 20) {
    try {
      out.parameters = parseParameters(readText(join(dir, 'parameters.list')));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return fail(`File 'parameters.list' under path '${dir}' is missing`);
      return fail(`${(e as Error).message} under path '${dir}'`);
    }
  }
  return { ...out, valid: true };
}

/** Every directory under the search paths (first path wins a name), in name order. */
export function diagnose(searchPaths: readonly string[]): OsDefinition[] {
  const seen = new Map<string, OsDefinition>();
  for (const top of searchPaths) {
    let names: string[];
    try {
      names = readdirSync(top).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      if (seen.has(n) || !OS_NAME_RE.test(n)) continue;
      const dir = join(top, n);
      try {
        if (!statSync(dir).isDirectory()) continue;
      } catch {
        continue;
      }
      seen.set(n, readDefinition(n, dir));
    }
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The definition named `name` (no variant) in the search paths, or undefined. */
export function findDefinition(searchPaths: readonly string[], name: string): OsDefinition | undefined {
  for (const top of searchPaths) {
    const dir = join(top, name);
    try {
      // A directory entry of its own (a symlink to a directory is allowed, as in Ganeti).
      lstatSync(dir);
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    return readDefinition(name, dir);
  }
  return undefined;
}

/**
 * The valid OS `full` (`name+variant`) names, with its effective variant (the first when none is
 * given, Ganeti's default); INVALID_VALUE ['os', full, why] otherwise.
 */
export function resolveOs(
  searchPaths: readonly string[],
  full: string,
): { def: OsDefinition; variant: string | undefined; api: number } {
  const { name, variant } = splitOsName(full);
  const def = findDefinition(searchPaths, name);
  if (!def)
    throw bad('os', full, `no OS definition '${name}' in the OS search path (${searchPaths.join(', ')})`);
  if (!def.valid) throw bad('os', full, `invalid OS definition: ${def.diagnose}`);
  const api = Math.max(...def.api_versions);
  if (variant !== undefined && !def.variants.includes(variant))
    throw bad(
      'os',
      full,
      def.variants.length
        ? `unknown variant '${variant}' (variants: ${def.variants.join(', ')})`
        : `OS '${name}' has no variants`,
    );
  return { def, variant: variant ?? def.variants[0], api };
}

/** Refuses parameters not in the definition's parameters.list (Ganeti's _CheckOSPList). */
export function checkParams(def: OsDefinition, params: Record<string, string>): void {
  const known = new Set(def.parameters.map(([n]) => n));
  for (const [k, v] of Object.entries(params)) {
    if (!known.has(k))
      throw bad(
        'os parameter',
        k,
        `not a parameter of OS '${def.name}' (parameters: ${[...known].join(', ') || 'none'})`,
      );
    if (typeof v !== 'string' || v.includes('\0') || v.length > 4096)
      throw bad('os parameter', k, 'a value is a string without NUL, at most 4096 characters');
  }
}
