// Number formatting of every RRD output (xe-http-xva-rrd.md §6.2), as xapi's Rrd_utils.f_to_s:
// C's `%0.15g` for normal numbers, exactly `0.0` for zero, `NaN`, `Infinity`, `-Infinity`.

const PRECISION = 15;

/** A float as xapi prints it in dumps, `/rrd_updates` and JSON strings. */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === 0) return '0.0';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  // JS rounds an exact tie (…5 at the 16th digit, nothing after) away from zero, C to even.
  if (isTie(x)) return formatG(nudgeToEven(x));
  // Fast path: toPrecision rounds as printf does and is fixed-point for exponents −6…14, which
  // %g prints fixed too from −4 on ("0.0000…" means −5 or −6: exponent style in C).
  const p = x.toPrecision(PRECISION);
  if (!p.includes('e') && !p.startsWith(x < 0 ? '-0.0000' : '0.0000')) return stripZeros(p);
  return formatG(x);
}

/** C's `%.15g` of a finite non-zero number that is no exact tie. */
function formatG(x: number): string {
  const p = x.toPrecision(PRECISION);
  if (!p.includes('e') && !p.startsWith(x < 0 ? '-0.0000' : '0.0000')) return stripZeros(p);
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

/** 10^0 … 10^329 (log10 of a double lies in −324…308). */
const POW10 = Array.from({ length: 330 }, (_, i) => 10 ** i);

/**
 * Whether x lies exactly halfway between two 15-significant-digit decimals. Cheap filter first:
 * x·2·10^(14−e) must be an odd integer (exact for true ties: it is below 2^53); the rare
 * candidates are confirmed on x's exact decimal expansion. (log10 may be off by one right at a
 * power of ten, where the 16th digit is 0 or 9: no tie.)
 */
function isTie(x: number): boolean {
  const a = x < 0 ? -x : x;
  const k = 14 - Math.floor(Math.log10(a));
  const scaled = k >= 0 ? a * 2 * POW10[k] : (a * 2) / POW10[-k];
  return scaled < 2 ** 53 && scaled % 2 === 1 && exactTie(a);
}

/** x's exact decimal digits: the 16th significant digit is 5 and none follows. */
function exactTie(a: number): boolean {
  const digits = a.toExponential(60).split('e')[0].replace('.', '');
  return digits[15] === '5' && /^0*$/.test(digits.slice(16));
}

/** The neighbour of a tie on the side C's round-half-even goes (exact decimal rounding of a tie). */
function nudgeToEven(x: number): number {
  const a = Math.abs(x);
  const digits = a.toExponential(60).split('e')[0].replace('.', '');
  const down = Number(digits[14]) % 2 === 0;
  // Rounding toward zero when the 15th digit is even, away when odd: step one ulp that way.
  const target = down ? nextDown(a) : nextUp(a);
  return x < 0 ? -target : target;
}

function nextUp(a: number): number {
  const b = new Float64Array([a]);
  const u = new BigUint64Array(b.buffer);
  u[0] += 1n;
  return b[0];
}

function nextDown(a: number): number {
  const b = new Float64Array([a]);
  const u = new BigUint64Array(b.buffer);
  u[0] -= 1n;
  return b[0];
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
