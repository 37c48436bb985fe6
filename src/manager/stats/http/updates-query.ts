// The query of `GET /rrd_updates` as xapi reads it (rrdd_proxy.ml get_rrd_updates_forwarder,
// rrdd_http_handler.ml get_rrd_updates_handler). Only the query string counts (not cookies):
//   start     required (absent → 400); an OCaml Int64.of_string that fails → 500
//   interval  seconds; absent or not an integer → 0
//   cf        AVERAGE | MIN | MAX | LAST exactly; anything else → every CF
//   host      the exact string `true` adds the host's RRD
//   vm_uuid   repeatable; absent → every VM running here; any value is taken as a uuid, so one
//             that is not a (lower-case) uuid names nothing: left out here, before the agent
//   sr_uuid   repeatable; absent → no SR
// A negative interval is 0 (xapi: every archive has at least that many PDPs per row).
// Pure.
import type { ConsolidationFn, RrdUpdatesQuery } from '../../../shared/host/stats.js';
import { prefersJson } from './accept.js';

/** What xapi's uuids look like: any other value names no VM or SR (the agent refuses it). */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isUuid = (s: string) => UUID_RE.test(s);

const CFS: readonly string[] = ['AVERAGE', 'MIN', 'MAX', 'LAST'];
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** OCaml's Int64.of_string for decimal text (sign, digits, `_` separators); undefined on failure. */
export function parseInt64(text: string): number | undefined {
  if (!/^[-+]?[0-9][0-9_]*$/.test(text)) return undefined;
  const n = BigInt(text.replace(/_/g, '').replace(/^\+/, ''));
  if (n > INT64_MAX || n < INT64_MIN) return undefined;
  return Number(n);
}

export type UpdatesQueryResult =
  | { ok: true; query: Omit<RrdUpdatesQuery, 'hostUuid'> }
  | { ok: false; status: 400 | 500; reason: string };

export function parseUpdatesQuery(query: URLSearchParams, accept: string | undefined): UpdatesQueryResult {
  const startText = query.get('start');
  if (startText === null)
    return { ok: false, status: 400, reason: "get_rrd_updates: missing the 'start' parameter" };
  const start = parseInt64(startText);
  if (start === undefined) return { ok: false, status: 500, reason: `start: not an integer: ${startText}` };
  const intervalText = query.get('interval');
  const interval = Math.max(0, (intervalText === null ? undefined : parseInt64(intervalText)) ?? 0);
  const cfText = query.get('cf');
  const cf = cfText !== null && CFS.includes(cfText) ? (cfText as ConsolidationFn) : undefined;
  const asked = query.getAll('vm_uuid');
  const vmUuids = asked.filter(isUuid);
  return {
    ok: true,
    query: {
      start,
      interval,
      ...(cf ? { cf } : {}),
      host: query.get('host') === 'true',
      ...(asked.length > 0 ? { vmUuids } : {}),
      srUuids: query.getAll('sr_uuid').filter(isUuid),
      json: prefersJson(accept, query),
    },
  };
}
