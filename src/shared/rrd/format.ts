// Number formatting of every RRD output (xe-http-xva-rrd.md §6.2), as xapi's Rrd_utils.f_to_s:
// C's `%0.15g` for normal numbers, exactly `0.0` for zero, `NaN`, `Infinity`, `-Infinity`.

const PRECISION = 15;

/** A float as xapi prints it in dumps, `/rrd_updates` and JSON strings. */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (x === 0) return '0.0';
  return formatG(x);
}

/** C's `%.15g` of a finite non-zero number. */
function formatG(x: number): string {
  // toExponential rounds to PRECISION significant digits first; its exponent decides the style.
  const exp = x.toExponential(PRECISION - 1);
  const e = exp.indexOf('e');
  const exponent = Number(exp.slice(e + 1));
  if (exponent < -4 || exponent >= PRECISION) {
    const mantissa = stripZeros(exp.slice(0, e));
    const sign = exponent < 0 ? '-' : '+';
    const digits = String(Math.abs(exponent)).padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  return stripZeros(x.toFixed(PRECISION - 1 - exponent));
}

/** %g drops trailing zeros of the fraction, and the point when nothing is left after it. */
function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  let end = s.length;
  while (s.charCodeAt(end - 1) === 48) end--;
  if (s.charCodeAt(end - 1) === 46) end--;
  return s.slice(0, end);
}

/** An integer field (timestamps, counts): plain decimal of its truncation, as OCaml's `%Ld`/`%d`. */
export function formatInt(x: number): string {
  if (!Number.isFinite(x)) return '0';
  const t = Math.trunc(x);
  return t === 0 ? '0' : t.toFixed(0);
}

const XML_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' };

/** Character data as xapi's Xmlm writes it. */
export function xmlEscape(s: string): string {
  return /[<>&"]/.test(s) ? s.replace(/[<>&"]/g, (c) => XML_ESCAPES[c]) : s;
}
