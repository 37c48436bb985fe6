// Object selection by the noun options: `-i/--id` (uuid or OpaqueRef), `-n/--name` (the noun's
// name field) and `-s/--search EXPR`, a small search grammar:
//   expr  := term ( AND term )*            AND is the word `and`, any case
//   term  := field op value
//   op    := `=` (equal) | `!=` (not equal) | `~` (contains, case-insensitive)
//   value := a bare word (up to a space) | '…' | "…" (backslash escapes the next character)
// `name` and `id` stand for the noun's name field and `uuid`. Pure parser and evaluator, plus the
// resolution that applies them to the API's records with oVirtCmd's errors.
import type { Api, ApiObject } from './api.js';
import { CliError, EXIT_FAILED, EXIT_USAGE, notFoundError } from './errors.js';
import type { NounSpec, Selection } from './spec.js';

export type SearchOp = '=' | '!=' | '~';

export interface SearchTerm {
  field: string;
  op: SearchOp;
  value: string;
}

function malformed(expr: string, pos: number, reason: string): CliError {
  return new CliError(
    `malformed search expression at position ${pos + 1}: ${reason}`,
    EXIT_USAGE,
    `  ${expr}\n  ${' '.repeat(pos)}^`,
  );
}

/** Parses a search expression; a malformed one is a usage error pointing at the position. */
export function parseSearch(expr: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i])) i++;
  };
  skipSpace();
  if (i >= expr.length) throw malformed(expr, i, 'empty expression');
  for (;;) {
    skipSpace();
    const fieldStart = i;
    const field = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(expr.slice(i))?.[0];
    if (!field)
      throw malformed(expr, i, i >= expr.length ? 'a field name is missing' : 'a field name was expected');
    i += field.length;
    skipSpace();
    let op: SearchOp;
    if (expr.startsWith('!=', i)) op = '!=';
    else if (expr[i] === '=' || expr[i] === '~') op = expr[i] as SearchOp;
    else
      throw malformed(
        expr,
        i,
        i >= expr.length
          ? `'${field}' has no operator (=, != or ~)`
          : 'an operator (=, != or ~) was expected',
      );
    i += op.length;
    skipSpace();
    let value = '';
    const quote = expr[i];
    if (quote === "'" || quote === '"') {
      const open = i++;
      for (;;) {
        if (i >= expr.length) throw malformed(expr, open, 'unterminated quoted value');
        const c = expr[i++];
        if (c === quote) break;
        if (c === '\\' && i < expr.length) value += expr[i++];
        else value += c;
      }
      if (i < expr.length && !/\s/.test(expr[i]))
        throw malformed(expr, i, 'a space was expected after the quoted value');
    } else {
      const start = i;
      while (i < expr.length && !/\s/.test(expr[i])) i++;
      value = expr.slice(start, i);
      if (value === '') throw malformed(expr, start, `'${field}${op}' has no value`);
    }
    terms.push({ field: field || expr.slice(fieldStart, i), op, value });
    skipSpace();
    if (i >= expr.length) return terms;
    const word = /^\S+/.exec(expr.slice(i))?.[0] ?? '';
    if (word.toLowerCase() !== 'and') throw malformed(expr, i, `'and' was expected, not '${word}'`);
    i += word.length;
    if (i < expr.length && !/\s/.test(expr[i])) throw malformed(expr, i - word.length, `'and' was expected`);
    skipSpace();
    if (i >= expr.length) throw malformed(expr, i, "a term was expected after 'and'");
  }
}

/** A search that may be empty (an event or eval filter): no terms for nothing but spaces. */
export function parseOptionalSearch(expr: string | undefined): SearchTerm[] {
  return expr?.trim() ? parseSearch(expr) : [];
}

/** A value quoted for a search expression, whatever it holds (`'web 01'`, `'it\\'s'`). */
export function quoteSearchValue(v: string): string {
  return `'${v.replace(/[\\']/g, '\\$&')}'`;
}

/** The strings a field's value compares as: scalars as text, each element of a list or map. */
function valuesOf(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x) => String(x));
  if (typeof v === 'object') return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}=${x}`);
  return [String(v)];
}

function termMatches(record: Record<string, unknown>, t: SearchTerm, nameField: string): boolean {
  const field =
    t.field === 'name' && !('name' in record)
      ? nameField
      : t.field === 'id' && !('id' in record)
        ? 'uuid'
        : t.field;
  const values = valuesOf(record[field]);
  switch (t.op) {
    case '=':
      return values.includes(t.value);
    case '!=':
      return !values.includes(t.value);
    case '~': {
      const needle = t.value.toLowerCase();
      return values.some((v) => v.toLowerCase().includes(needle));
    }
  }
}

/** True when the record satisfies every term. */
export function matchesSearch(
  record: Record<string, unknown>,
  terms: SearchTerm[],
  nameField = 'name_label',
): boolean {
  return terms.every((t) => termMatches(record, t, nameField));
}

/** The selection as oVirtCmd's messages show it: `{'name': 'web01'}`. */
export function describeSelection(sel: Selection): string {
  const quote = (v: unknown) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const parts = (['id', 'name', 'search'] as const)
    .filter((k) => sel[k] !== undefined)
    .map((k) => `${quote(k)}: ${quote(sel[k])}`);
  return `{${parts.join(', ')}}`;
}

/** Filters records by the selection (all of -i, -n, -s that were given) and the noun's filter. */
export function filterRecords(objects: ApiObject[], noun: NounSpec, sel: Selection): ApiObject[] {
  const terms = sel.search !== undefined ? parseSearch(sel.search) : [];
  const nameField = noun.nameField ?? 'name_label';
  return objects.filter(
    (o) =>
      (!noun.filter || noun.filter(o.record)) &&
      (sel.id === undefined || o.ref === sel.id || o.record.uuid === sel.id) &&
      (sel.name === undefined || o.record[nameField] === sel.name) &&
      matchesSearch(o.record, terms, nameField),
  );
}

const MISSING = new Set(['HANDLE_INVALID', 'UUID_INVALID']);

async function candidates(api: Api, cls: string, sel: Selection): Promise<ApiObject[]> {
  if (sel.id === undefined) return api.allRecords(cls);
  try {
    return [sel.id.startsWith('OpaqueRef:') ? await api.byRef(cls, sel.id) : await api.byUuid(cls, sel.id)];
  } catch (e) {
    if (MISSING.has((e as { code?: string }).code ?? '')) return [];
    throw e;
  }
}

/**
 * The objects a verb applies to: `one` → exactly one (else "no object found" 252 / "Too many
 * objects" 251), `many` → every match (all when nothing is selected), `none` → nothing resolved.
 */
export async function resolveTarget(
  api: Api,
  noun: NounSpec,
  sel: Selection,
  target: 'one' | 'many' | 'none',
): Promise<ApiObject | ApiObject[] | undefined> {
  if (target === 'none' || !noun.xapiClass) return undefined;
  // Parse first: a malformed expression is reported before any call.
  if (sel.search !== undefined) parseSearch(sel.search);
  const found = filterRecords(await candidates(api, noun.xapiClass, sel), noun, sel);
  if (target === 'many') return found;
  if (found.length === 0)
    throw notFoundError(`no object found matching the search ${describeSelection(sel)}`);
  if (found.length > 1)
    throw new CliError(`Too many objects found matching the search ${describeSelection(sel)}`, EXIT_FAILED);
  return found[0];
}
