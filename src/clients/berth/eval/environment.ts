// The variables of an eval script (oVirtCmd's namespace): `-v name value` pairs, then each `-e`
// YAML file, read as a template with the variables known so far (`${name}`, `${name:default}` in
// string values, keys untouched) and merged over them, then the `-v` pairs again (the command
// line wins). The substitution follows the template rules (messages as template.ts words them);
// eval keeps its own small copy as the slices were written in parallel.
import { readFile } from 'node:fs/promises';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';

type Vars = Record<string, unknown>;

const PLACEHOLDER = /\$\{([A-Za-z_][\w.-]*)(?::([^}]*))?\}/g;

function asText(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/** Substitutes placeholders in every string of `value` (recursively; other scalars kept). */
export function substitute(value: unknown, vars: Vars): unknown {
  if (typeof value === 'string')
    return value.replace(PLACEHOLDER, (_m, name: string, dflt: string | undefined) => {
      if (vars[name] !== undefined && vars[name] !== null) return asText(vars[name]);
      if (dflt !== undefined) return dflt;
      // The templates' message and code (template.ts), so -T and -e fail alike.
      throw new CliError(`unknown variable '${name}' in template '${value}'`, EXIT_FAILED);
    });
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

/** Reads one environment file: a YAML mapping (an empty file is no variables). */
export async function loadEnvironment(path: string, vars: Vars): Promise<Vars> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`environment file not found: ${path}`, EXIT_USAGE);
  }
  const { LineCounter, parseDocument } = await import('yaml');
  const lines = new LineCounter();
  const parsed = parseDocument(text, { prettyErrors: false, lineCounter: lines, uniqueKeys: true });
  const problem = parsed.errors[0];
  if (problem) {
    const { line, col } = lines.linePos(problem.pos[0]);
    throw new CliError(
      `invalid YAML template ${path}:${line}:${col}: ${problem.message.split('\n')[0]}`,
      EXIT_USAGE,
    );
  }
  const doc: unknown = parsed.toJS();
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new CliError(`environment file ${path} is not a mapping of names to values`, EXIT_USAGE);
  return substitute(doc, vars) as Vars;
}

/** The script's variables: CLI pairs, environments merged in order, CLI pairs again. */
export async function scriptVariables(cli: Record<string, string>, environments: string[]): Promise<Vars> {
  let vars: Vars = { ...cli };
  for (const env of environments) vars = { ...vars, ...(await loadEnvironment(env, vars)) };
  return { ...vars, ...cli };
}
