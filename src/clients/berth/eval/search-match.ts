// The object filter of the event waiter and of context collections: the selection's search form
// (`name_label=web01 and power_state=running`), `and`-joined `field=value`, `field!=value` and
// `field~text` (contains) terms, values compared as text without regard to case (a set field
// matches if any member does); `name` and `id` stand for name_label and uuid where the record
// has no such field. A minimal matcher of its own, written alongside the core's select.ts (same
// basic grammar; select.ts also reports the position of a syntax error).
import { CliError, EXIT_USAGE } from '../errors.js';

export interface SearchTerm {
  field: string;
  value: string;
  op: '=' | '!=' | '~';
}

/** Parses `a=b and c!=d`; an empty expression is no condition. */
export function parseSearch(expr: string): SearchTerm[] {
  const text = expr.trim();
  if (text === '') return [];
  return text.split(/\s+and\s+/i).map((part) => {
    const m = /^([A-Za-z_][\w.-]*)\s*(!=|=|~)\s*(.*)$/.exec(part.trim());
    if (!m || m[3].trim() === '') throw new CliError(`malformed search expression '${expr}'`, EXIT_USAGE);
    return { field: m[1], value: unquote(m[3].trim()), op: m[2] as SearchTerm['op'] };
  });
}

function unquote(v: string): string {
  return /^(['"]).*\1$/.test(v) && v.length >= 2 ? v.slice(1, -1) : v;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const ALIASES: Record<string, string> = { name: 'name_label', id: 'uuid' };

/** Does a record satisfy every term? An absent field never equals anything. */
export function matchesSearch(record: Record<string, unknown>, terms: readonly SearchTerm[]): boolean {
  return terms.every((t) => {
    const field = t.field in record || !ALIASES[t.field] ? t.field : ALIASES[t.field];
    const v = record[field];
    const want = t.value.toLowerCase();
    const values = v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => text(x).toLowerCase());
    if (t.op === '~') return values.some((x) => x.includes(want));
    const equal = values.includes(want);
    return t.op === '!=' ? !equal : equal;
  });
}
