// The variables of an eval script (oVirtCmd's namespace): `-v name value` pairs, then each `-e`
// YAML file, read as a template (template.ts: the same safe parser, `${name}` / `${name:default}`
// placeholders in string values, the same messages) with the variables known so far and merged
// over them, then the `-v` pairs again (the command line wins).
import { readFile } from 'node:fs/promises';
import { CliError, EXIT_USAGE } from '../errors.js';

type Vars = Record<string, unknown>;

/** Variables as placeholders insert them: strings as they are, other values as JSON. */
function asTexts(vars: Vars): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars))
    if (v !== undefined && v !== null) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

/** Reads one environment file: a YAML mapping (an empty file is no variables). */
export async function loadEnvironment(path: string, vars: Vars): Promise<Vars> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`environment file not found: ${path}`, EXIT_USAGE);
  }
  const { parseTemplate, substituteAll } = await import('../template.js');
  return substituteAll(await parseTemplate(text, path), asTexts(vars)) as Vars;
}

/** The script's variables: CLI pairs, environments merged in order, CLI pairs again. */
export async function scriptVariables(cli: Record<string, string>, environments: string[]): Promise<Vars> {
  let vars: Vars = { ...cli };
  for (const env of environments) vars = { ...vars, ...(await loadEnvironment(env, vars)) };
  return { ...vars, ...cli };
}
