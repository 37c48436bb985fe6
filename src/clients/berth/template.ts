// YAML templates of `berth` verbs (`-T file -V name value`, after oVirtCmd's): the file is read
// safely, `${name}` / `${name:default}` placeholders in its string values are replaced by the
// variables, and its top-level keys fill the verb options the command line left out (the command
// line wins). The `yaml` module is imported only when a template is actually given (start-up time).
import { readFile, stat } from 'node:fs/promises';
import type { LineCounter } from 'yaml';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './errors.js';

/** Templates are a page of settings; anything bigger is refused before parsing. */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;
/** Aliases a template may expand (yaml's default is the same; kept explicit as a security bound). */
const MAX_ALIAS_COUNT = 100;

/** `${name}` or `${name:default}`; a name is a word, dots and dashes allowed inside. */
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_.-]*)(?::([^}]*))?\}/g;

/** Sets a key as an own property, even `__proto__` (a plain assignment would change the prototype). */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Replaces every placeholder of one string; an unknown name without default fails (251). */
export function substitute(raw: string, variables: Record<string, string>): string {
  return raw.replace(PLACEHOLDER, (_whole, name: string, fallback: string | undefined) => {
    if (Object.hasOwn(variables, name)) return String(variables[name]);
    if (fallback !== undefined) return fallback;
    throw new CliError(`unknown variable '${name}' in template '${raw}'`, EXIT_FAILED);
  });
}

/** Substitutes in every string value, through lists and mappings; keys and non-strings are kept. */
export function substituteAll(value: unknown, variables: Record<string, string>): unknown {
  if (typeof value === 'string') return substitute(value, variables);
  if (Array.isArray(value)) return value.map((v) => substituteAll(v, variables));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, substituteAll(v, variables));
    return out;
  }
  return value;
}

/** `file:line:col: message` of a yaml error (positions from the offsets: yaml's own code frames,
 * `prettyErrors`, exhaust memory on a deeply nested line). */
function yamlErrorText(file: string, e: { message: string; pos: [number, number] }, lines: LineCounter) {
  const first = e.message.split('\n')[0];
  const { line, col } = lines.linePos(e.pos[0]);
  return `${file}:${line}:${col}: ${first}`;
}

/** Flow collections (`[`, `{`) nested deeper than this are refused before parsing. */
export const MAX_FLOW_DEPTH = 256;

/**
 * The offset where brackets (`[`, `{`) first nest deeper than `max` (yaml's parser takes seconds,
 * and its converter the whole stack, on a line of 100,000 `[`). Every bracket counts, quoted or
 * not, so no quoting can hide a deep nest; no real template holds hundreds of them open.
 */
export function tooDeep(text: string, max = MAX_FLOW_DEPTH): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return undefined;
}

/**
 * Parses a template's text: YAML 1.2 core schema only (no language-specific tags: an unknown tag
 * such as `!!js/function` is refused, never run), at most MAX_ALIAS_COUNT alias expansions, one
 * document whose top level is a mapping (an empty file is an empty mapping).
 */
export async function parseTemplate(text: string, file: string): Promise<Record<string, unknown>> {
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const line = text.slice(0, deep).split('\n').length;
    throw new CliError(
      `invalid YAML template ${file}:${line}: nested more than ${MAX_FLOW_DEPTH} levels deep`,
      EXIT_USAGE,
    );
  }
  const { LineCounter, parseAllDocuments } = await import('yaml');
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, {
    logLevel: 'silent',
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter: lines,
  });
  if (!Array.isArray(docs) || docs.length === 0) return {}; // empty file or comments only
  const doc = docs[0];
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    throw new CliError(`invalid YAML template ${yamlErrorText(file, problem, lines)}`, EXIT_USAGE);
  }
  if (docs.length > 1) {
    const line = docs[1].range ? lines.linePos(docs[1].range[0]).line : 0;
    throw new CliError(
      `invalid YAML template ${file}:${line}:1: one document expected, found ${docs.length}`,
      EXIT_USAGE,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    throw new CliError(`invalid YAML template ${file}: ${(e as Error).message}`, EXIT_USAGE);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(
      `invalid YAML template ${file}: the top level must be a mapping of option names to values`,
      EXIT_USAGE,
    );
  }
  return value as Record<string, unknown>;
}

async function readTemplate(file: string): Promise<string> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new CliError(`YAML template ${file} is not a file`, EXIT_USAGE);
    size = st.size;
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : `unreadable (${code ?? (e as Error).message})`;
    throw new CliError(`YAML template ${file} ${why}`, EXIT_USAGE);
  }
  if (size > MAX_TEMPLATE_BYTES) {
    throw new CliError(
      `YAML template ${file} is too large (${size} bytes, at most ${MAX_TEMPLATE_BYTES})`,
      EXIT_USAGE,
    );
  }
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `YAML template ${file} unreadable (${(e as NodeJS.ErrnoException).code ?? e})`,
      EXIT_USAGE,
    );
  }
}

/** An option the command line did not give (the seed drops None and empty lists too). */
function absent(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}

const canonical = (key: string) => key.replace(/-/g, '_');

/**
 * The template's top-level values merged under the options (CLI wins). A template key matches an
 * option whatever its `-`/`_` spelling: with `optionNames` (the verb's OptionSpec `long`s) the value
 * is stored under the declared name; without, under the template's spelling and the other one.
 */
export function mergeValues(
  opts: Record<string, unknown>,
  values: Record<string, unknown>,
  optionNames?: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...opts };
  const declared = new Map((optionNames ?? []).map((n) => [canonical(n), n]));
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined) continue;
    const spellings = new Set([key, canonical(key), key.replace(/_/g, '-')]);
    if ([...spellings].some((k) => Object.hasOwn(out, k) && !absent(out[k]))) continue;
    const name = declared.get(canonical(key));
    if (name !== undefined) setOwn(out, name, value);
    else if (optionNames !== undefined) setOwn(out, key, value);
    else for (const k of spellings) setOwn(out, k, value);
  }
  return out;
}

/**
 * The verb options after a `-T` template: loaded, substituted with `variables`, merged under
 * `opts`. No template → `opts` as given (variables without a template are an error, as the seed's).
 */
export async function mergeTemplate(
  opts: Record<string, unknown>,
  templatePath: string | undefined,
  variables: Record<string, string>,
  optionNames?: readonly string[],
): Promise<Record<string, unknown>> {
  if (templatePath === undefined) {
    if (Object.keys(variables ?? {}).length > 0) throw new CliError('YAML template not found', EXIT_FAILED);
    return { ...opts };
  }
  const values = await parseTemplate(await readTemplate(templatePath), templatePath);
  const substituted = substituteAll(values, variables ?? {}) as Record<string, unknown>;
  return mergeValues(opts, substituted, optionNames);
}
