// How IML's messages render values: Python 2's `%s` and repr(), and json.dumps's separators.
// Kept so that validation messages match the original byte for byte.

/** Python's `str(v)` for the values attributes hold. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object' && typeof (v as { getLabel?: unknown }).getLabel === 'function') {
    return (v as { getLabel(): string }).getLabel();
  }
  return globalThis.String(v);
}

/** Python's `repr(v)`: strings single-quoted, other values as pyStr. */
export function pyRepr(v: unknown): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return pyStr(v);
}

/** Python's repr of a tuple: `('a', 'b')`, `('a',)`, `()`. */
export function pyTuple(values: readonly unknown[]): string {
  if (values.length === 1) return `(${pyRepr(values[0])},)`;
  return `(${values.map(pyRepr).join(', ')})`;
}

/** `json.dumps(v)` with Python's default separators (`", "` and `": "`). */
export function pyJsonDumps(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pyJsonDumps(x)}`)
      .join(', ')}}`;
  }
  return v === undefined ? 'null' : JSON.stringify(v);
}

/** Python's str.title() of one word: a letter after a non-letter is upper-cased, others lower. */
export function pyTitle(word: string): string {
  let out = '';
  let prevLetter = false;
  for (const ch of word) {
    const letter = ch.toLowerCase() !== ch.toUpperCase();
    out += letter ? (prevLetter ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    prevLetter = letter;
  }
  return out;
}
