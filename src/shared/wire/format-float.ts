// Float printing exactly as xapi's serialisers do: ocaml-rpc's XML-RPC writer uses C's
// printf("%.16g"); yojson (JSON-RPC) uses %.16g, falls back to %.17g when that does not
// round-trip, and appends ".0" to integral-looking output.

/** C's `%.<precision>g` (glibc: round-half-even on the exact binary value). */
export function formatG(x: number, precision: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const a = Math.abs(x);
  const [mant, expText] = a.toExponential(precision - 1).split('e');
  let exp = Number(expText);
  let digits = mant.replace('.', '');
  // JS breaks exact ties away from zero; C rounds them to even. Ties need the digit after the
  // last kept one to be 5, so only then look at (nearly) the exact expansion.
  const next = a.toExponential(precision);
  if (next[precision + 1] === '5') {
    const [exact, exactExp] = a.toExponential(99).split('e');
    const d = exact.replace('.', '');
    if (d[precision] === '5' && /^0*$/.test(d.slice(precision + 1)) && Number(d[precision - 1]) % 2 === 0) {
      digits = d.slice(0, precision);
      exp = Number(exactExp);
    }
  }
  if (exp < -4 || exp >= precision) {
    const rest = digits.slice(1).replace(/0+$/, '');
    const e = Math.abs(exp);
    return `${sign}${digits[0]}${rest ? `.${rest}` : ''}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  if (exp >= 0) {
    const frac = digits.slice(exp + 1).replace(/0+$/, '');
    return `${sign}${digits.slice(0, exp + 1)}${frac ? `.${frac}` : ''}`;
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits.replace(/0+$/, '')}`;
}

/** XML-RPC `<double>` text, as ocaml-rpc writes it. */
export function xmlDouble(x: number): string {
  return formatG(x, 16);
}

/** A JSON-RPC float, as yojson writes it (1 → "1.0", NaN → "NaN" like xapi, though not JSON). */
export function jsonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  let s = formatG(x, 16);
  if (Number(s) !== x) s = formatG(x, 17);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}
