// A parsed XML-RPC value that keeps the XML type it arrived with, so decoders can apply xapi's
// type-directed leniency (an int64 parameter may come as <int> or as a bare string, …).

export type XmlValue =
  /** `<value>text</value>` or `<string>`. */
  | { t: 'string'; v: string }
  /** `<int>`, `<i4>`, `<i8>`: the decimal text, checked to be an int64. */
  | { t: 'int'; v: string }
  /** `<boolean>`: the raw text; xapi reads "1" as true and anything else as false. */
  | { t: 'bool'; v: string }
  /** `<double>`: the raw text, checked to be a float. */
  | { t: 'double'; v: string }
  | { t: 'datetime'; v: string }
  /** `<base64>`: the base64 text, not decoded. */
  | { t: 'base64'; v: string }
  | { t: 'array'; v: XmlValue[] }
  /** Member order kept; on duplicate names the first wins, as in xapi. */
  | { t: 'struct'; v: Map<string, XmlValue> }
  | { t: 'nil' };

/**
 * Renders a value the way ocaml-rpc's `Rpc.to_string` does (`S(text)`, `I(5)`, `[a;b]`,
 * `{k:v}`), which is what xapi puts in argument errors.
 */
export function showXmlValue(v: XmlValue): string {
  switch (v.t) {
    case 'string':
      return `S(${v.v})`;
    case 'int':
      return `I(${v.v})`;
    case 'bool':
      return `B(${v.v === '1'})`;
    case 'double':
      return `F(${v.v})`;
    case 'datetime':
      return `D(${v.v})`;
    case 'base64':
      return `B64(${v.v})`;
    case 'nil':
      return 'N';
    case 'array':
      return `[${v.v.map(showXmlValue).join(';')}]`;
    case 'struct':
      return `{${[...v.v].map(([k, x]) => `${k}:${showXmlValue(x)}`).join(';')}}`;
  }
}

/** The same rendering for a parsed JSON value. */
export function showJsonValue(v: unknown): string {
  if (v === null || v === undefined) return 'N';
  if (typeof v === 'string') return `S(${v})`;
  if (typeof v === 'boolean') return `B(${v})`;
  if (typeof v === 'number') return Number.isInteger(v) ? `I(${v})` : `F(${v})`;
  if (Array.isArray(v)) return `[${v.map(showJsonValue).join(';')}]`;
  if (typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}:${showJsonValue(x)}`)
      .join(';')}}`;
  return String(v);
}

/** Untyped conversion to JS (for responses and tests): ints and doubles become numbers. */
export function xmlValueToJs(v: XmlValue): unknown {
  switch (v.t) {
    case 'string':
    case 'datetime':
    case 'base64':
      return v.v;
    case 'int':
    case 'double':
      return Number(v.v);
    case 'bool':
      return v.v === '1';
    case 'nil':
      return null;
    case 'array':
      return v.v.map(xmlValueToJs);
    case 'struct': {
      const o: Record<string, unknown> = {};
      for (const [k, x] of v.v) setOwn(o, k, xmlValueToJs(x));
      return o;
    }
  }
}

/** Sets a key on a plain object even when it is "__proto__" (never touches the prototype). */
export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
