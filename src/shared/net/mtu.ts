// MTU bounds and parsing (pure): the manager validates what clients give, the agent what it applies.

export const MIN_MTU = 68;
export const MAX_MTU = 65535;

/** Parses an MTU value; undefined if absent, throws on garbage. */
export function parseMtu(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(String(v)) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < MIN_MTU || n > MAX_MTU) throw new Error(`invalid MTU: ${String(v)}`);
  return n;
}
