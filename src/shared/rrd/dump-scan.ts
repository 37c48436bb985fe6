// The fast reader of XML dumps: one linear pass over the exact layout dumpXml writes (every
// archive on disk and every dump pushed by a manager), ~10× faster than the SAX path. It accepts
// only that byte layout, with plain ASCII text between tags (no entity, no whitespace between
// elements, no comment): anything else makes it give up (`undefined`) and dump.ts reads the text
// again with saxes, whose checks and errors stay the only judge of odd or hostile input. Both
// paths hand the same `Doc` to the same field checks (dump.ts), so the result cannot differ.

/** Most values a dump may hold (xapi's host RRD of 100 data sources holds about 200,000). */
export const MAX_DUMP_VALUES = 5_000_000;

export interface ParsedDs {
  fields: Map<string, string>;
}

export interface ParsedRra {
  fields: Map<string, string>;
  cdps: Array<Map<string, string>>;
  rows: number;
  /** Values in document order (rows oldest first). */
  values: number[] | Float64Array;
  rowWidths: number[];
  /**
   * Fast path only: per value, where its text lies in the dump when that text is exactly what
   * formatFloat prints for it (start, end; start −1: not canonical). Lets the reader keep the
   * rows' `/rrd_updates` text without formatting them again (row-text.ts).
   */
  spans?: Int32Array;
}

export interface Doc {
  fields: Map<string, string>;
  ds: ParsedDs[];
  rras: ParsedRra[];
  /** Fast path only: the text `spans` point into. */
  text?: string;
}

const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)$/i;

/** OCaml's float_of_string for the forms dumps use (decimal, NaN, ±Infinity/inf); undefined: none. */
export function floatOfString(t: string): number | undefined {
  if (!FLOAT.test(t)) return undefined;
  const body = t.replace(/^[+-]/, '').toLowerCase();
  const neg = t.startsWith('-');
  if (body === 'nan') return Number.NaN;
  if (body === 'inf' || body === 'infinity') return neg ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return Number(t);
}

/** 10^0 … 10^22: exactly representable, so m / 10^k is correctly rounded for m < 2^53. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** Set by canonicalNumber: whether the last text read was in formatFloat's own fixed form. */
let canonical = false;

/** Whether the text canonicalNumber read last was formatFloat's own. */
export function wasCanonical(): boolean {
  return canonical;
}

/**
 * The number `text[a, b)` holds, computed without allocating when it is in formatFloat's fixed
 * form (C's `%.15g` of an exponent −4…14: at most 15 significant digits, no trailing zero after
 * the point, `0.0` for zero), which then sets `canonical`; `NaN`/`Infinity`/`-Infinity` also
 * count as canonical. Any other number is read by floatOfString (undefined if none).
 */
export function canonicalNumber(text: string, a: number, b: number): number | undefined {
  canonical = false;
  let i = a;
  const neg = text.charCodeAt(i) === 45; // '-'
  if (neg) i++;
  let c = text.charCodeAt(i);
  if (c >= 48 && c <= 57) {
    let m = 0;
    let intLen = 0;
    const intStart = i;
    while (i < b && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      i++;
    }
    intLen = i - intStart;
    const intZero = intLen === 1 && text.charCodeAt(intStart) === 48;
    const leadingZeroOk = intLen === 1 || text.charCodeAt(intStart) !== 48;
    if (i === b) {
      // An integer: "0" is not formatFloat's zero ("0.0").
      if (!intZero && leadingZeroOk && intLen <= 15) {
        canonical = true;
        return neg ? -m : m;
      }
      return slowNumber(text, a, b);
    }
    if (c !== 46 || !leadingZeroOk) return slowNumber(text, a, b); // '.'
    i++;
    const fracStart = i;
    let zeros = 0;
    let seenNonZero = false;
    while (i < b && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
      if (c === 48 && !seenNonZero) zeros++;
      else seenNonZero = true;
      m = m * 10 + (c - 48);
      i++;
    }
    const fracLen = i - fracStart;
    if (i !== b || fracLen === 0) return slowNumber(text, a, b);
    if (intZero && !seenNonZero) {
      // Zero: formatFloat prints exactly "0.0" (also for −0).
      if (!neg && fracLen === 1) {
        canonical = true;
        return 0;
      }
      return slowNumber(text, a, b);
    }
    const lastZero = text.charCodeAt(b - 1) === 48;
    const sig = intZero ? fracLen - zeros : intLen + fracLen;
    if (!lastZero && sig <= 15 && intLen <= 15 && (!intZero || zeros <= 3) && fracLen <= 22) {
      canonical = true;
      const x = m / POW10[fracLen];
      return neg ? -x : x;
    }
    return slowNumber(text, a, b);
  }
  const len = b - a;
  if (len === 3 && text.startsWith('NaN', a)) {
    canonical = true;
    return Number.NaN;
  }
  if (len === 8 && text.startsWith('Infinity', a)) {
    canonical = true;
    return Number.POSITIVE_INFINITY;
  }
  if (len === 9 && text.startsWith('-Infinity', a)) {
    canonical = true;
    return Number.NEGATIVE_INFINITY;
  }
  return slowNumber(text, a, b);
}

function slowNumber(text: string, a: number, b: number): number | undefined {
  canonical = false;
  return floatOfString(text.slice(a, b));
}

/** Thrown inside the scan when the text leaves the layout; never escapes scanDump. */
class Leave {}
const LEAVE = new Leave();

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const DS_LEAVES = ['name', 'type', 'minimal_heartbeat', 'min', 'max', 'last_ds', 'value', 'unknown_sec'];
const CDP_LEAVES = ['primary_value', 'secondary_value', 'value', 'unknown_datapoints'];

/** Reads dumpXml's exact layout into a Doc; undefined when the text is laid out any other way. */
export function scanDump(text: string, eagerPdpPerRow: number): Doc | undefined {
  let i = 0;
  const n = text.length;
  const lit = (s: string) => {
    if (!text.startsWith(s, i)) throw LEAVE;
    i += s.length;
  };
  /** Text up to the next '<': printable ASCII with no markup character. */
  const chars = (): number => {
    const a = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 60) return a; // '<'
      if (c < 0x20 || c > 0x7e || c === 38 || c === 62) throw LEAVE; // control, non-ASCII, & >
      i++;
    }
    throw LEAVE;
  };
  const leaf = (m: Map<string, string>, name: string) => {
    lit(`<${name}>`);
    const a = chars();
    m.set(name, text.slice(a, i));
    lit(`</${name}>`);
  };
  try {
    if (text.startsWith(DECLARATION)) {
      i = DECLARATION.length;
      if (text.charCodeAt(i) === 10) i++;
    }
    lit('<rrd>');
    const doc: Doc = { fields: new Map(), ds: [], rras: [], text };
    leaf(doc.fields, 'version');
    leaf(doc.fields, 'step');
    leaf(doc.fields, 'lastupdate');
    while (text.startsWith('<ds>', i)) {
      i += 4;
      const fields = new Map<string, string>();
      for (const k of DS_LEAVES) leaf(fields, k);
      if (text.startsWith('<last_updated>', i)) leaf(fields, 'last_updated');
      lit('</ds>');
      doc.ds.push({ fields });
    }
    let total = 0;
    while (text.startsWith('<rra>', i)) {
      i += 5;
      const rra: ParsedRra = { fields: new Map(), cdps: [], rows: 0, values: [], rowWidths: [] };
      doc.rras.push(rra);
      leaf(rra.fields, 'cf');
      leaf(rra.fields, 'pdp_per_row');
      lit('<params>');
      rra.fields.set('rrd/rra/params', '');
      leaf(rra.fields, 'xff');
      lit('</params>');
      rra.fields.set('rrd/rra/cdp_prep', '');
      rra.fields.set('rrd/rra/database', '');
      if (text.startsWith('<cdp_prep/><database/>', i)) {
        i += 22;
      } else {
        lit('<cdp_prep>');
        while (text.startsWith('<ds>', i)) {
          i += 4;
          const cdp = new Map<string, string>();
          for (const k of CDP_LEAVES) leaf(cdp, k);
          lit('</ds>');
          rra.cdps.push(cdp);
        }
        lit('</cdp_prep><database>');
        const ppr = rra.fields.get('pdp_per_row') as string;
        const eager = /^\d+$/.test(ppr) && Number(ppr) <= eagerPdpPerRow;
        // Typed arrays grown by doubling: no boxed numbers, no copy per value.
        let values = new Float64Array(4096);
        let spans = eager ? new Int32Array(8192) : undefined;
        let count = 0;
        while (text.startsWith('<row>', i)) {
          i += 5;
          let width = 0;
          // <v>
          while (
            text.charCodeAt(i) === 60 &&
            text.charCodeAt(i + 1) === 118 &&
            text.charCodeAt(i + 2) === 62
          ) {
            i += 3;
            const a = chars();
            const v = canonicalNumber(text, a, i);
            if (v === undefined) throw LEAVE; // saxes reports it
            if (++total > MAX_DUMP_VALUES) throw LEAVE;
            if (count === values.length) {
              const grown = new Float64Array(count * 2);
              grown.set(values);
              values = grown;
            }
            values[count] = v;
            if (spans) {
              if (2 * count === spans.length) {
                const grown = new Int32Array(spans.length * 2);
                grown.set(spans);
                spans = grown;
              }
              spans[2 * count] = canonical ? a : -1;
              spans[2 * count + 1] = i;
            }
            count++;
            lit('</v>');
            width++;
          }
          lit('</row>');
          rra.rows++;
          rra.rowWidths.push(width);
        }
        lit('</database>');
        rra.values = values.subarray(0, count);
        if (spans) rra.spans = spans.subarray(0, 2 * count);
      }
      lit('</rra>');
    }
    lit('</rrd>');
    while (i < n) {
      const c = text.charCodeAt(i++);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) throw LEAVE;
    }
    return doc;
  } catch (e) {
    if (e === LEAVE) return undefined;
    throw e;
  }
}
