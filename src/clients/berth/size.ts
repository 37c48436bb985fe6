// Sizes as oVirtCmd's parse_size reads them: digits then an optional binary unit (K/k, M, G, T);
// `2G` → 2147483648. Anything else is rejected with the text the user gave.
import { CliError, EXIT_USAGE } from './errors.js';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Bytes in `text` (or in `outSuffix` units, rounded down, as oVirtCmd's out_suffix). */
export function parseSize(text: string | number, outSuffix = ''): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+)([TGMKk]?)$/.exec(text.trim());
  if (!m) throw new CliError(`invalid size '${text}' (digits then K, M, G or T)`, EXIT_USAGE);
  const out = UNITS[outSuffix];
  if (out === undefined) throw new CliError(`invalid size unit '${outSuffix}'`, EXIT_USAGE);
  return Math.floor((Number(m[1]) * UNITS[m[2]]) / out);
}
