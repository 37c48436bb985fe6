// xapi's datetime form: YYYYMMDDTHH:MM:SSZ (UTC, no dashes).
export function toXapiTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}Z`;
}

export const nowXapi = () => toXapiTime(new Date());

export const EPOCH_XAPI = '19700101T00:00:00Z';

/** Parses xapi's form (also accepting dashes and fractional seconds) to epoch ms, or NaN. */
export function parseXapiTime(s: string): number {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return Number.NaN;
  const [, y, mo, d, h, mi, se, tz] = m;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${se}${tz && tz !== 'Z' ? tz : 'Z'}`;
  return Date.parse(iso);
}
