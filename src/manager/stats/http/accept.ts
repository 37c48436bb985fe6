// xapi's choice between JSON and XML for RRD bodies (rrdd_http_handler.ml client_prefers_json,
// http-lib's Http.Accept): an `Accept` header that parses and ranks application/json above
// text/xml → JSON, text/xml above → XML; no header, a header that does not parse, one that
// accepts neither or ranks both the same (`*/*`) → JSON iff the query has a `json` key (any
// value, even `json=false`). Pure.

const JSON_TYPE = 'application/json';
const XML_TYPE = 'text/xml';

interface MediaRange {
  /** undefined: any (`*`). */
  type?: string;
  subtype?: string;
  /** Quality in thousandths (0..1000). */
  q: number;
}

/** One `type/subtype;params` element, or undefined when it does not parse (xapi: Parse_failure). */
function parseRange(text: string): MediaRange | undefined {
  const [range, ...params] = text.split(';').map((s) => s.trim());
  const slash = range.indexOf('/');
  if (slash <= 0 || slash === range.length - 1) return undefined;
  const type = range.slice(0, slash);
  const subtype = range.slice(slash + 1);
  if (type === '*' && subtype !== '*') return undefined;
  let q = 1000;
  for (const p of params) {
    if (!p.startsWith('q=')) continue;
    const m = /^(?:0(?:\.(\d{0,3}))?|1(?:\.0{0,3})?)$/.exec(p.slice(2));
    if (!m) return undefined;
    q = p.slice(2).startsWith('1') ? 1000 : Number((m[1] ?? '').padEnd(3, '0'));
  }
  return { type: type === '*' ? undefined : type, subtype: subtype === '*' ? undefined : subtype, q };
}

/** The Accept header's ranges, or undefined when any element does not parse. */
export function parseAccept(header: string): MediaRange[] | undefined {
  const out: MediaRange[] = [];
  for (const part of header.split(',')) {
    if (part.trim() === '') continue;
    const r = parseRange(part);
    if (!r) return undefined;
    out.push(r);
  }
  return out;
}

/** The quality the most specific matching range gives `mime` (undefined: none matches). */
function qualityOf(ranges: MediaRange[], mime: string): number | undefined {
  const [type, subtype] = mime.split('/');
  let best: { specificity: number; q: number } | undefined;
  for (const r of ranges) {
    if (r.type !== undefined && r.type !== type) continue;
    if (r.subtype !== undefined && r.subtype !== subtype) continue;
    const specificity = (r.type ? 1 : 0) + (r.subtype ? 1 : 0);
    if (!best || specificity > best.specificity) best = { specificity, q: r.q };
  }
  return best?.q;
}

/** true: JSON, false: XML, undefined: the header does not decide. */
export function acceptPrefersJson(header: string | undefined): boolean | undefined {
  if (header === undefined) return undefined;
  const ranges = parseAccept(header);
  if (!ranges) return undefined;
  const json = qualityOf(ranges, JSON_TYPE) ?? 0;
  const xml = qualityOf(ranges, XML_TYPE) ?? 0;
  // A tie (`*/*`, as curl and fetch send) does not decide: such clients keep getting what
  // the json key says (see docs/decisions.md).
  return json === xml ? undefined : json > xml;
}

/** xapi's client_prefers_json: the Accept header, else the presence of a `json` query key. */
export function prefersJson(accept: string | undefined, query: URLSearchParams): boolean {
  return acceptPrefersJson(accept) ?? query.has('json');
}

export function rrdContentType(json: boolean): string {
  return json ? JSON_TYPE : XML_TYPE;
}
