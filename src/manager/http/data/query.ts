// The parameters of a data-plane request as xapi reads them: the query string and the cookies.
// Credentials (`session_id`, `task_id`, `subtask_of`) prefer the cookie (xapi's
// lookup_param_of_req); every other parameter prefers the query (`query @ cookie`). Pure.
import { XenApiError } from '../../../shared/errors.js';

export class DataQuery {
  readonly query: URLSearchParams;
  readonly cookies: Map<string, string>;

  constructor(url: string | undefined, cookieHeader: string | undefined) {
    const u = url ?? '/';
    const q = u.indexOf('?');
    const hash = u.indexOf('#', Math.max(q, 0));
    // URLSearchParams accepts any text (malformed escapes included) and never throws.
    this.query = new URLSearchParams(q < 0 ? '' : u.slice(q + 1, hash < 0 ? undefined : hash));
    this.cookies = parseCookies(cookieHeader);
  }

  /** A parameter: the query's first value, else the cookie's. */
  get(name: string): string | undefined {
    return this.query.get(name) ?? this.cookies.get(name);
  }

  has(name: string): boolean {
    return this.query.has(name) || this.cookies.has(name);
  }

  /** A credential-like parameter (session_id, task_id, subtask_of): the cookie wins. */
  credential(name: string): string | undefined {
    return this.cookies.get(name) ?? this.query.get(name) ?? undefined;
  }

  /** xapi's most common boolean: true only for the exact string `true`. */
  flag(name: string, dflt = false): boolean {
    const v = this.get(name);
    return v === undefined ? dflt : v === 'true';
  }

  /** OCaml's bool_of_string: `true`/`false` or INVALID_VALUE (e.g. /export's preserve_power_state). */
  strictBool(name: string, dflt: boolean): boolean {
    const v = this.get(name);
    if (v === undefined) return dflt;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw new XenApiError('INVALID_VALUE', [name, v]);
  }

  /** A comma-separated list (empty string: empty list). */
  list(name: string): string[] | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    return v === '' ? [] : v.split(',');
  }

  /** Query entries whose name starts with `prefix` (e.g. `vdi:` remappings), prefix removed. */
  prefixed(prefix: string): [string, string][] {
    const out: [string, string][] = [];
    for (const [k, v] of this.query) if (k.startsWith(prefix)) out.push([k.slice(prefix.length), v]);
    return out;
  }
}

/** `a=b; c=d` (values percent-decoded when they decode); the first occurrence of a name wins. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    if (!k || out.has(k)) continue;
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    try {
      v = decodeURIComponent(v);
    } catch {
      /* kept as sent */
    }
    out.set(k, v);
  }
  return out;
}
