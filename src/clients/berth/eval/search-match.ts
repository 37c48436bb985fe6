// The object filter of the event waiter and of context collections: the selection's search form
// (`name_label=web01 and power_state=running`), `and`-joined `field=value` / `field!=value`
// terms, values compared as text without regard to case (a set field matches if any member
// does). A minimal matcher of its own so eval does not wait for the core's select.ts; the two
// accept the same basic form.
import { CliError, EXIT_USAGE } from '../errors.js';

export interface SearchTerm {
  field: string;
  value: string;
  negate: boolean;
}

/** Parses `a=b and c!=d`; an empty expression is no condition. */
export function parseSearch(expr: string): SearchTerm[] {
  const text = expr.trim();
  if (text === '') return [];
  return text.split(/\s+and\s+/i).map((part) => {
    const m = /^([A-Za-z_][\w.-]*)\s*(!=|=)\s*(.*)$/.exec(part.trim());
    if (!m) throw new CliError(`malformed search expression '${expr}'`, EXIT_USAGE);
    return { field: m[1], value: unquote(m[3].trim()), negate: m[2] === '!=' };
  });
}

function unquote(v: string): string {
  return /^(['"]).*\1$/.test(v) && v.length >= 2 ? v.slice(1, -1) : v;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Does a record satisfy every term? An absent field never equals anything. */
export function matchesSearch(record: Record<string, unknown>, terms: readonly SearchTerm[]): boolean {
  return terms.every((t) => {
    const v = record[t.field];
    const want = t.value.toLowerCase();
    const equal =
      v !== undefined &&
      (Array.isArray(v) ? v.some((x) => text(x).toLowerCase() === want) : text(v).toLowerCase() === want);
    return t.negate ? !equal : equal;
  });
}
